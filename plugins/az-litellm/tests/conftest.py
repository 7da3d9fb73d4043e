"""Shared fixtures: a private AZ_HOME per test, no provider keys from the
environment, and one real llama.cpp OpenAI-compatible server per session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from az_litellm import catalog  # noqa: E402
from az_os.testservers import free_port  # noqa: E402
from azlitellm_support import smollm2_gguf  # noqa: E402

KEY_VARS = sorted({name for names in catalog.PROVIDER_KEYS.values() for name in names})


@pytest.fixture(autouse=True)
def az_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Every test gets an empty az home and no provider keys; respx can see
    LiteLLM's async HTTP calls (httpx transport instead of aiohttp)."""
    import az_os.drivers
    import az_os.plugins

    home = tmp_path / "az-home"
    home.mkdir()
    monkeypatch.setenv("AZ_HOME", str(home))
    monkeypatch.setenv("DISABLE_AIOHTTP_TRANSPORT", "True")
    for name in [*KEY_VARS, "OLLAMA_API_BASE"]:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("AZ_") and name != "AZ_HOME":
            monkeypatch.delenv(name)
    az_os.plugins.reset_host()
    az_os.drivers.close_all()
    yield home
    az_os.plugins.reset_host()
    az_os.drivers.close_all()


#: Runs ``python -m llama_cpp.server`` with llama.cpp's extra CPU weight
#: buffers off on a CPU that advertises AMX: under a hypervisor that
#: advertises AMX without enabling it, the AMX kernels die with SIGILL at the
#: first matrix product (az-local does the same for its own models).
SERVER_BOOT = """
import runpy, sys
import llama_cpp.llama as m
try:
    with open("/proc/cpuinfo") as f:
        amx = " amx_tile" in f.read()
except OSError:
    amx = False
default = m.llama_cpp.llama_model_default_params
if amx and hasattr(default(), "use_extra_bufts"):
    def params():
        p = default()
        p.use_extra_bufts = False
        return p
    m.llama_cpp.llama_model_default_params = params
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a free loopback port,
    serving SmolLM2-135M with the chatml-function-calling format (tools).
    Yields its ``api_base`` (``http://127.0.0.1:<port>/v1``)."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [
        sys.executable, "-c", SERVER_BOOT,
        "--model", str(smollm2_gguf()),
        "--host", "127.0.0.1", "--port", str(port),
        "--chat_format", "chatml-function-calling",
        "--n_ctx", "2048", "--seed", "7", "--verbose", "False",
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("llama_cpp.server did not start within 120 s") from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
