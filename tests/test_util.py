"""az_os.util: the helpers plugins share."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from az_os import util
from az_os.types import TaskPriority

WORKER = """
import sys
from az_os.util import update_json
path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(n):
    with update_json(path) as data:
        data[f"{name}-{i}"] = i
"""


def test_update_json_from_many_processes_loses_no_update(tmp_path: Path) -> None:
    path = tmp_path / "state" / "shared.json"
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(path), f"p{k}", "25"]) for k in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert len(json.loads(path.read_text())) == 100
    assert not list(path.parent.glob("*.tmp"))


def test_read_and_write_json(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.json"
    assert util.read_json(path) == {} and util.read_json(path, default=[]) == []
    util.write_json(path, {"b": 1, "a": [1, 2]}, indent=2)
    assert util.read_json(path) == {"a": [1, 2], "b": 1}
    path.write_text("{not json")
    assert util.read_json(path) == {}
    with pytest.raises(TypeError):
        util.write_json(path, {"x": object()})
    assert path.read_text() == "{not json"  # a failed write leaves the old file
    assert not list(path.parent.glob("*.tmp"))


def test_update_json_writes_only_on_change_and_not_after_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    with util.update_json(path) as data:
        data["n"] = 1
    stamp = path.stat().st_mtime_ns
    time.sleep(0.01)
    with util.update_json(path) as data:
        assert data == {"n": 1}
    assert path.stat().st_mtime_ns == stamp
    with pytest.raises(RuntimeError), util.update_json(path) as data:
        data["n"] = 2
        raise RuntimeError("stop")
    assert util.read_json(path) == {"n": 1}


def test_process_alive() -> None:
    import os

    assert util.process_alive(os.getpid())
    assert not util.process_alive(None) and not util.process_alive(0) and not util.process_alive(-1)
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not util.process_alive(proc.pid)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert util.process_alive(child.pid)
        # a process started after the time given cannot be the one that was recorded
        assert not util.process_alive(child.pid, started_before=time.time() - 60)
        assert util.process_alive(child.pid, started_before=time.time())
    finally:
        child.kill()
        child.wait()


def test_text_helpers() -> None:
    assert util.one_line("a\n  b\tc", 10) == "a b c"
    assert util.one_line("x" * 20, 10) == "x" * 9 + "…"
    assert util.one_line({"k": [1, 2]}) == '{"k": [1, 2]}'
    assert util.one_line(None) == ""
    assert util.error_line(ValueError("bad\nworse")) == "ValueError: bad; worse"
    assert util.clip_bytes("héllo", 2) == ("h", 5)  # never half a character
    assert util.clip_bytes("abc", 10) == ("abc", 0)


@pytest.mark.parametrize(
    ("amount", "kwargs", "text"),
    [
        (0, {}, "$0.00"),
        (0.6, {}, "$0.60"),
        (0.0125, {}, "$0.0125"),
        (0.000123, {}, "$0.000123"),
        (1234.5, {}, "$1,234.50"),
        (0.002, {"min_decimals": 4}, "$0.0020"),
        (0, {"min_decimals": 4}, "$0.0000"),
    ],
)
def test_format_usd(amount, kwargs, text) -> None:
    assert util.format_usd(amount, **kwargs) == text


def test_priorities_follow_task_priority() -> None:
    assert util.PRIORITIES == tuple(p.value for p in TaskPriority)
    assert sorted(["urgent", "low", TaskPriority.HIGH], key=util.priority_rank) == [
        "low",
        TaskPriority.HIGH,
        "urgent",
    ]
    with pytest.raises(ValueError, match="expected one of low, medium, high, urgent"):
        util.priority_rank("asap")


def test_config_cache_rebuilds_on_file_and_az_variable_changes(az_home, monkeypatch) -> None:
    from az_os.config import set_value

    builds = []
    cache = util.ConfigCache(lambda cfg: builds.append(cfg.agent.max_turns) or len(builds))
    assert cache.get() == 1 and cache.get() == 1
    monkeypatch.setenv("AZ_AGENT__MAX_TURNS", "9")
    assert cache.get() == 2 and builds[-1] == 9
    monkeypatch.setenv("AZ_UNRELATED_FLAG", "1")  # any AZ_* variable may matter to a plugin
    assert cache.get() == 3
    monkeypatch.delenv("AZ_AGENT__MAX_TURNS")
    set_value("agent.max_turns", 4)
    assert cache.get() == 4 and builds[-1] == 4
    cache.set(99)
    assert cache.get() == 99
