"""The ``[celery]`` config section.

In ``config.toml``::

    [celery]
    broker_url = "redis://127.0.0.1:6379/0"  # the Redis broker every submitter and worker uses
    heartbeat_s = 5                          # a running task's heartbeat, seconds
    stale_after_s = 30                       # no heartbeat this long: its worker is gone
    visibility_timeout_s = 3600              # seconds before Redis hands an unacked message out again
    cancel_check_s = 1                       # how often a worker reads its running tasks' status

``AZ_CELERY__BROKER_URL=redis://...`` and friends override the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from az_os.config import parse_section
from az_os.types import Record
from msgspec import Meta

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

SECTION = "celery"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"


class CelerySettings(Record, kw_only=True):
    """The validated ``[celery]`` section (see the module docstring)."""

    #: Redis URL of the broker (empty: the default)
    broker_url: str = DEFAULT_BROKER_URL
    #: seconds between a running task's heartbeats
    heartbeat_s: Annotated[float, Meta(gt=0)] = 5.0
    #: seconds without a heartbeat after which a running task's worker counts as gone
    stale_after_s: Annotated[float, Meta(gt=0)] = 30.0
    #: seconds before the broker hands an unacknowledged message to another worker
    visibility_timeout_s: Annotated[float, Meta(gt=0)] = 3600.0
    #: seconds between a worker's reads of its running tasks' stored status
    #: (how soon 'az task cancel' stops one)
    cancel_check_s: Annotated[float, Meta(gt=0)] = 1.0


def load_settings(config: AzConfig) -> CelerySettings:
    """``[celery]`` of ``config``; ConfigError naming the key when invalid."""
    return parse_section(CelerySettings, SECTION, config.section(SECTION), str(config.path))
