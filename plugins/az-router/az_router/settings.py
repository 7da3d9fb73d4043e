"""The keys of the ``[router]`` config section (declared in ``az.config``).

:meth:`az_router.engine.RoutingEngine.from_config` reads and checks the
values (rules, tiers, quality, history and cooldown settings) and names
the bad key or rule; this record says which keys exist, so a misspelt one
is an error that suggests the right one.
"""

from __future__ import annotations

from typing import Any

from az_os.types import Record


class RouterSettings(Record, kw_only=True):
    """``[router]``: every key is optional; ``None`` means the router's default."""

    #: rule tables, checked by az_router.rules
    rules: list[dict[str, Any]] | None = None
    #: ``cheap_max``/``mid_max``: tier bands in USD per 1M tokens
    tiers: dict[str, Any] | None = None
    #: tier or model id -> quality in [0, 1]
    quality: dict[str, Any] | None = None
    #: prompt tokens from which a task counts as long
    long_tokens: int | None = None
    min_success_rate: float | None = None
    min_samples: int | None = None
    #: learn from finished tasks (default true)
    history: bool | None = None
    history_limit: int | None = None
    #: seconds
    history_ttl_s: float | None = None
    prior_strength: float | None = None
    #: model id -> {complexity class: success rate in [0, 1]}
    priors: dict[str, Any] | None = None
    #: remember rate-limited models (default true)
    cooldowns: bool | None = None
