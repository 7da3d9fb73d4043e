"""The registered models: catalogue prices, defaults, keys, custom models, speed."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from az_litellm import catalog
from az_litellm.model import LiteLLMModel, ollama_models
from az_litellm.registry import catalogue_models
from az_litellm.settings import LiteLLMSettings
from az_os.errors import ConfigError
from az_os.plugins import get_host
from azlitellm_support import write_config

PROVIDERS = {"anthropic", "openai", "gemini", "deepseek", "mistral", "ollama"}


def litellm_models(monkeypatch: pytest.MonkeyPatch) -> dict[str, LiteLLMModel]:
    monkeypatch.setenv("AZ_LOAD_PLUGINS", "litellm")
    return dict(get_host().models())  # type: ignore[arg-type]


def test_catalogue_prices_and_windows_equal_litellm_model_cost(monkeypatch):
    import litellm

    models = litellm_models(monkeypatch)
    assert {m.info.provider for m in models.values()} == PROVIDERS
    assert "litellm" in next(iter(models.values())).info.price_source
    for mid, model in models.items():
        info = model.info
        entry = litellm.model_cost.get(mid) or litellm.model_cost[mid.split("/", 1)[1]]
        assert info.input_cost_per_token == entry["input_cost_per_token"], mid
        assert info.output_cost_per_token == entry["output_cost_per_token"], mid
        assert info.context_window == entry.get("max_input_tokens", entry.get("max_tokens")), mid
        assert info.supports_tools == bool(entry.get("supports_function_calling")), mid
        assert info.cache_read_cost_per_token == entry.get("cache_read_input_token_cost"), mid


def test_one_recommended_model_per_provider(monkeypatch):
    models = litellm_models(monkeypatch)
    for provider in PROVIDERS:
        preferred = [
            m
            for m in models.values()
            if m.info.provider == provider and m.info.default_priority > 0
        ]
        assert len(preferred) == 1, provider


def test_deprecated_models_are_left_out():
    settings = LiteLLMSettings()
    long_ago = {m.info.id for m, _ in catalogue_models(settings, on=date(2000, 1, 1))}
    far_future = {m.info.id for m, _ in catalogue_models(settings, on=date(2999, 1, 1))}
    dated = {mid for mid in long_ago if catalog.lookup(mid).get("deprecation_date")}
    assert dated, "the bundled map has deprecation dates for some catalogue models"
    assert far_future == long_ago - dated


def test_only_anthropic_key_makes_the_recommended_claude_the_default(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    models = litellm_models(monkeypatch)
    default = get_host().default_model()
    assert default.info.provider == "anthropic"
    assert default.info.default_priority > 0
    assert get_host().find_model("sonnet").info.provider == "anthropic"
    assert not models["openai/gpt-4.1"].usable()[0]


def test_missing_key_names_the_variable_in_one_line(monkeypatch):
    models = litellm_models(monkeypatch)
    for provider, var in [
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("openai", "OPENAI_API_KEY"),
        ("gemini", "GEMINI_API_KEY"),
        ("mistral", "MISTRAL_API_KEY"),
    ]:
        # any model of the provider: which ones the catalogue keeps depends on
        # today's date (deprecated models leave it)
        mid = next(m for m, model in models.items() if model.info.provider == provider)
        ok, why = models[mid].usable()
        assert not ok
        assert var in why and "\n" not in why and "az-keyring" in why


def test_key_from_the_secrets_hook(monkeypatch):
    from az_os import hookimpl

    class Secrets:
        @hookimpl
        def az_get_secret(self, name):
            return "sk-from-keyring" if name == "DEEPSEEK_API_KEY" else None

    models = litellm_models(monkeypatch)
    get_host().register(Secrets(), name="test-secrets")
    model = get_host().find_model("deepseek/deepseek-v4-flash")
    assert model.usable() == (True, "")
    assert model.api_key() == "sk-from-keyring"
    assert not models["openai/gpt-4.1"].usable()[0]


def test_custom_models_from_config(az_home: Path, monkeypatch):
    write_config(
        az_home,
        """
[[models.custom]]
id = "openai/qwen-local"
alias = "qwen"
api_base = "http://127.0.0.1:9/v1"
input_cost_per_token = 1e-6
output_cost_per_token = 2e-6
context_window = 32768

[[models.custom]]
id = "groq/llama-3.3-70b-versatile"
api_key_env = "MY_GROQ_KEY"

[[models.custom]]
id = "anthropic/claude-sonnet-4-6"
input_cost_per_token = 1e-9
""",
    )
    litellm_models(monkeypatch)
    host = get_host()
    qwen = host.find_model("qwen")
    assert qwen.info.id == "openai/qwen-local"
    assert qwen.info.price_source == "config"
    assert qwen.info.context_window == 32768
    assert qwen.info.supports_tools
    assert qwen.usable() == (True, "")
    assert qwen.info.cost(1000, 500) == pytest.approx(1000 * 1e-6 + 500 * 2e-6)

    groq = host.find_model("groq/llama-3.3-70b-versatile")
    ok, why = groq.usable()
    assert not ok and "MY_GROQ_KEY" in why
    monkeypatch.setenv("MY_GROQ_KEY", "gsk-test")
    assert groq.usable() == (True, "")

    # A custom entry with a catalogue id overrides the catalogue's prices.
    sonnet = host.find_model("anthropic/claude-sonnet-4-6")
    assert sonnet.info.input_cost_per_token == 1e-9
    assert sonnet.info.price_source == "config"


def test_custom_api_base_never_receives_another_providers_key(monkeypatch):
    from az_litellm.model import NO_KEY
    from az_litellm.registry import custom_model
    from az_os.config import CustomModel
    from az_os.types import Message, ModelRequest

    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-openai-key")
    model = custom_model(
        CustomModel(id="openai/local", api_base="http://127.0.0.1:9/v1"), LiteLLMSettings()
    )
    kwargs = model._kwargs(ModelRequest(messages=[Message(role="user", content="hi")]))
    assert kwargs["api_key"] == NO_KEY


def test_invalid_litellm_section_is_a_config_error(az_home: Path, monkeypatch):
    from az_litellm.registry import build_models
    from az_os.config import load_config

    write_config(az_home, "[litellm]\nretries = -1\n")
    with pytest.raises(ConfigError, match="retries"):
        build_models(load_config())


class _FakeOllama(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        body = json.dumps(
            {"models": [{"name": "llama3.1:latest", "model": "llama3.1:latest"}]}
        ).encode()
        self.send_response(200 if self.path == "/api/tags" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_ollama_models_are_usable_only_when_the_server_has_them(monkeypatch):
    from az_os.testservers import free_port

    port = free_port()
    monkeypatch.setenv("OLLAMA_API_BASE", f"http://127.0.0.1:{port}")
    models = litellm_models(monkeypatch)
    ok, why = models["ollama/llama3.1"].usable()
    assert not ok and "ollama serve" in why

    server = HTTPServer(("127.0.0.1", port), _FakeOllama)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        from az_litellm import model as model_mod

        model_mod._ollama_cache.clear()
        assert models["ollama/llama3.1"].usable() == (True, "")
        ok, why = models["ollama/llama3"].usable()
        assert not ok and "ollama pull llama3" in why
        assert ollama_models(f"http://127.0.0.1:{port}")[0] >= {"llama3.1", "llama3.1:latest"}
    finally:
        server.shutdown()
        server.server_close()


def test_listing_models_does_not_import_litellm(az_home: Path):
    code = (
        "import sys; from az_os.plugins import get_host; "
        "ms = get_host().models(); "
        "assert any(m.startswith('anthropic/') for m in ms), list(ms); "
        "assert 'litellm' not in sys.modules; print(len(ms))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip()) > 20


def test_plugin_module_imports_fast_and_light():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import az_litellm.plugin"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert not {"litellm", "tenacity", "httpx", "openai"} & imported


def test_catalogue_entries_are_cached_and_rebuilt_when_the_price_map_changes(tmp_path: Path):
    """The catalogue's price-map entries come from a small cache file; a corrupt
    cache or a changed price map (another LiteLLM) gives the entries of the map."""
    source, fresh = catalog.catalogue_entries(tmp_path)
    cache = tmp_path / catalog.CACHE_FILE
    assert cache.exists() and fresh and source == catalog.price_source()
    assert fresh["anthropic/claude-sonnet-4-5"] == catalog.lookup("anthropic/claude-sonnet-4-5")

    data = json.loads(cache.read_text())
    data["entries"]["anthropic/claude-sonnet-4-5"]["input_cost_per_token"] = 1.0
    cache.write_text(json.dumps(data))
    assert (
        catalog.catalogue_entries(tmp_path)[1]["anthropic/claude-sonnet-4-5"][
            "input_cost_per_token"
        ]
        == 1.0
    )  # same key: the cache is what is read

    data["key"] = "another price map"
    cache.write_text(json.dumps(data))
    assert catalog.catalogue_entries(tmp_path)[1] == fresh
    cache.write_text("{not json")
    assert catalog.catalogue_entries(tmp_path)[1] == fresh
    assert json.loads(cache.read_text())["entries"] == fresh


def test_count_tokens_uses_litellms_counter_and_never_undercounts(monkeypatch):
    """Model.count_tokens is the one contract az-cost counts with: a LiteLLM
    model counts with litellm.token_counter (tools included), never below
    the kernel's characters / 4."""
    import litellm
    from az_os.models import Model
    from az_os.types import Message, ModelRequest, ToolSpec

    model = next(m for mid, m in litellm_models(monkeypatch).items() if mid.startswith("openai/"))
    text = "Count the tokens of this sentence, please. " * 50
    tool = ToolSpec(name="fs.read", description="Read a file.", input_schema={"type": "object"})
    request = ModelRequest(messages=[Message(role="user", content=text)], tools=[tool])
    counted = litellm.token_counter(
        model=model.info.id,
        messages=[m.to_openai() for m in request.messages],
        tools=[tool.to_openai()],
    )
    assert model.count_tokens(request) == max(counted, Model.count_tokens(model, request))
    assert model.count_tokens(request) > 0
