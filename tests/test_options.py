"""az_os.options: the --approve and --priority checks az task run, resume and submit share."""

from __future__ import annotations

import pytest
from az_os import options
from az_os.errors import ConfigError
from az_os.types import TaskPriority


def test_approval_modes():
    assert [options.approval(m) for m in ("ask", "auto", "read-only")] == [
        "ask",
        "auto",
        "read-only",
    ]
    with pytest.raises(ConfigError) as err:
        options.approval("yes")
    assert str(err.value) == "--approve must be ask, auto or read-only, got 'yes'"
    assert err.value.exit_code == 2


def test_approval_limited_to_some_modes():
    assert options.approval("auto", ("auto", "read-only"), where=" on a worker") == "auto"
    with pytest.raises(ConfigError) as err:
        options.approval("ask", ("auto", "read-only"), where=" on a worker")
    assert str(err.value) == "--approve must be auto or read-only on a worker, got 'ask'"


def test_priority_any_case():
    assert options.priority("URGENT") is TaskPriority.URGENT
    with pytest.raises(ConfigError) as err:
        options.priority("asap")
    assert str(err.value) == "--priority must be low, medium, high or urgent, got 'asap'"
