"""A real Secret Service for the tests: gnome-keyring-daemon inside dbus-run-session.

Each test that asks for ``secret_service`` gets its own D-Bus session and its
own keyring daemon (unlocked with a test password, data under the test's tmp
dir), so nothing touches the machine's real keyring and runs do not collide.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

TEST_PASSWORD = "az-test-keyring-password"
MISSING = [b for b in ("dbus-run-session", "gnome-keyring-daemon") if shutil.which(b) is None]


@pytest.fixture
def secret_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Start the daemon; set (and yield) the environment that reaches it."""
    if MISSING:
        pytest.skip(
            f"needs {', '.join(MISSING)} (Debian: apt-get install dbus gnome-keyring libsecret-1-0)"
        )
    home = tmp_path / "kr-home"
    runtime = tmp_path / "kr-run"
    home.mkdir()
    runtime.mkdir(mode=0o700)
    addr_file = tmp_path / "bus-address"
    env = dict(os.environ)
    env.update(
        {
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_RUNTIME_DIR": str(runtime),
        }
    )
    script = (
        f'echo "$DBUS_SESSION_BUS_ADDRESS" > "{addr_file}"; '
        f"printf '%s' '{TEST_PASSWORD}' | exec gnome-keyring-daemon --unlock "
        "--components=secrets --foreground"
    )
    proc = subprocess.Popen(
        ["dbus-run-session", "--", "sh", "-c", script],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (
            addr_file.exists() and addr_file.read_text().strip()
        ):
            if proc.poll() is not None:
                pytest.fail(f"dbus-run-session exited: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.05)
        address = addr_file.read_text().strip()
        out = {
            "DBUS_SESSION_BUS_ADDRESS": address,
            "XDG_RUNTIME_DIR": str(runtime),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
        }
        for k, v in out.items():
            monkeypatch.setenv(k, v)
        _wait_for_service()
        yield out
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for_service() -> None:
    """Until the daemon answers on the bus (it registers a moment after starting)."""
    from keyring.backends.SecretService import Keyring

    deadline = time.monotonic() + 20
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            kr = Keyring()
            kr.get_password("az-probe", "probe")
            return
        except Exception as exc:  # noqa: BLE001 - not up yet
            last = exc
            time.sleep(0.1)
    pytest.fail(f"the Secret Service did not come up: {last}")


@pytest.fixture
def headless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No D-Bus session and an empty HOME: what a server without a keyring daemon looks like."""
    home = tmp_path / "headless-home"
    home.mkdir()
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "no-runtime"))
    monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)
    return home
