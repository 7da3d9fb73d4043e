"""az-router: cost-aware routing for az (rules, tiers, cascade, learned scores).

The routing logic lives in :mod:`az_router.engine` (``RoutingEngine``);
:mod:`az_router.plugin` wires it into az's ``az_route`` hook and adds
``az route``.
"""

__version__ = "0.1.0"
