"""The ``[git]`` config section.

In ``config.toml``::

    [git]
    auto = true                  # checkpoint before each turn's first write, and at the end
    max_file_bytes = 10000000    # files larger than this (bytes) are left out of checkpoints
    required = false             # true: a failed automatic checkpoint refuses the write
    diff_lines = 200             # lines of diff shown when a restore finds outside changes

``AZ_GIT__MAX_FILE_BYTES=50000000`` and friends override the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from az_os.config import parse_section
from az_os.types import Record
from msgspec import Meta

if TYPE_CHECKING:  # pragma: no cover
    from az_os.config import AzConfig

SECTION = "git"


class GitSettings(Record, kw_only=True):
    """The validated ``[git]`` section (see the module docstring)."""

    #: automatic checkpoints on writing turns and at the end of a task
    auto: bool = True
    #: bytes; larger files are left out of checkpoints and listed (10 MB)
    max_file_bytes: Annotated[int, Meta(ge=0)] = 10_000_000
    #: a failed automatic checkpoint refuses the writing tool call
    required: bool = False
    #: lines of diff shown when a restore stops on outside changes
    diff_lines: Annotated[int, Meta(ge=0)] = 200


def load_settings(config: AzConfig) -> GitSettings:
    """``[git]`` of ``config``; ConfigError naming the key when invalid."""
    return parse_section(GitSettings, SECTION, config.section(SECTION), str(config.path))
