"""A :class:`~az_os.models.Model` over LiteLLM: one class for every hosted provider.

What a call does:

* builds OpenAI-style arguments (messages, ``tools``, ``tool_choice``,
  ``max_tokens``, ``temperature``, ``stop``) plus the API key (environment
  variable, else the ``az_get_secret`` hook) and ``api_base`` for custom
  servers, and calls ``litellm.completion`` / ``litellm.acompletion``
  (``litellm`` is imported only here, on the first call);
* maps LiteLLM's exceptions to az's typed errors (:func:`map_error`);
* retries the retryable ones (rate limit, network, provider down) with
  tenacity, waiting :func:`az_os.models.retry_delays` (1 s, 2 s, 4 s ...
  capped at 60 s, from ``[litellm]`` ``retry_base_s``/``retry_cap_s``) or the
  provider's ``Retry-After`` when it sent one (capped at ``retry_cap_s``), at
  most ``[litellm] retries`` times. LiteLLM's and the OpenAI SDK's own retries
  are switched off (``max_retries=0``) so the count is ours alone;
* fails fast on a spent quota: a 429 whose wait (``Retry-After``, or the time
  until a daily quota resets, :func:`daily_quota_reset_seconds`) is longer
  than ``retry_cap_s`` is raised at once as a :class:`RateLimitError` carrying
  that wait in ``retry_after``, so the engine escalates to another model
  instead of sleeping, and a router can avoid the model until then;
* returns usage: prompt, completion and cached prompt tokens (from the
  provider's answer) and ``cost_usd`` = ``litellm.completion_cost`` of the
  response (the bundled price map), or - when ``[[models.custom]]`` gives
  prices, or LiteLLM does not know the model -
  :meth:`~az_os.types.ModelInfo.cost` with the model's own prices.

Tool calls come back as :class:`~az_os.types.ToolCall` objects with decoded
JSON arguments. When a model produces arguments that are not a JSON object,
the call is still returned, with ``arguments == {"_invalid_arguments": <raw
text>}`` (:data:`INVALID_ARGUMENTS_KEY`), so the engine's argument validation
reports the problem to the model on the next turn instead of failing the
whole model call.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as dt_time
from email.utils import parsedate_to_datetime
from typing import Any

from az_os.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    InvalidRequestError,
    ModelError,
    NetworkError,
    ProviderDownError,
    RateLimitError,
)
from az_os.models import Model, retry_delays
from az_os.types import (
    Message,
    ModelInfo,
    ModelRequest,
    ModelResponse,
    StreamDelta,
    ToolCall,
    Usage,
)
from az_os.util import one_line

from az_litellm.settings import LiteLLMSettings

log = logging.getLogger("az.litellm")

#: Key of :attr:`ToolCall.arguments` holding a tool call's raw argument text
#: when it is not a JSON object.
INVALID_ARGUMENTS_KEY = "_invalid_arguments"

#: Sent as the API key to custom ``api_base`` servers that need none, so the
#: OpenAI SDK does not refuse to start and, above all, never sends the user's
#: real ``OPENAI_API_KEY`` to a third-party server.
NO_KEY = "no-key-needed"


def import_litellm() -> Any:
    """Import litellm with the bundled price map (never the network) and quiet."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    if hasattr(litellm, "telemetry"):
        litellm.telemetry = False
    return litellm


# -- errors ------------------------------------------------------------------
def _short(exc: BaseException, limit: int = 300) -> str:
    """One line of an exception's text without LiteLLM's boilerplate
    ("litellm.X: X: ...", "Handle with `litellm.X`")."""

    text = " ".join(str(exc).split())
    text = re.sub(r"\s*Handle with `litellm\.\w+`\.?", "", text)
    text = re.sub(r"\blitellm\.(\w+: )", r"\1", text)
    text = re.sub(r"^(\w+: )\1+", r"\1", text)
    return one_line(text.strip() or type(exc).__name__, limit)


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        value = headers.get(name)
    except Exception:  # noqa: BLE001 - any mapping-like object
        return None
    return str(value) if value is not None else None


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the provider asked to wait: ``retry-after-ms``, or ``Retry-After``
    as seconds or an HTTP date. ``None`` when it did not say."""
    sources = [getattr(getattr(exc, "response", None), "headers", None)]
    sources.append(getattr(exc, "litellm_response_headers", None))
    for headers in sources:
        ms = _header(headers, "retry-after-ms")
        if ms:
            try:
                return max(float(ms) / 1000.0, 0.0)
            except ValueError:
                pass
        raw = _header(headers, "retry-after")
        if raw:
            try:
                return max(float(raw), 0.0)
            except ValueError:
                try:
                    when = parsedate_to_datetime(raw)
                except (TypeError, ValueError):
                    continue
                return max(when.timestamp() - time.time(), 0.0)
    return None


#: A 429 that names a per-day quota: Gemini's ``quotaId``
#: ("GenerateRequestsPerDayPerProjectPerModel-FreeTier") and OpenRouter's
#: free-model limit ("Rate limit exceeded: free-models-per-day").
_DAILY_QUOTA = re.compile(r"PerDay|per[-_ ]day", re.IGNORECASE)
#: google.rpc.RetryInfo in a Gemini error body: ``"retryDelay": "47s"``.
_RETRY_DELAY = re.compile(r'"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"')

#: Where each provider's daily quota resets (IANA zone). Gemini API: "Requests
#: per day (RPD) quotas reset at midnight Pacific time"
#: (https://ai.google.dev/gemini-api/docs/rate-limits). OpenRouter's
#: free-model daily counter "resets at UTC midnight" (FreeModelDailyRequests,
#: https://openrouter.ai/docs/client-sdks/python/components/freemodeldailyrequests);
#: UTC is also the default.
QUOTA_RESET_ZONE: dict[str, str] = {"gemini": "America/Los_Angeles"}


def daily_quota_reset_seconds(
    exc: BaseException, model_id: str, now: datetime | None = None
) -> float | None:
    """Seconds until the daily quota named in a 429 resets, or ``None`` when
    the error does not name a per-day quota.

    The reset is the next midnight in the provider's zone
    (:data:`QUOTA_RESET_ZONE`, default UTC); ``now`` is an aware datetime
    (default: the current time).
    """
    if not _DAILY_QUOTA.search(str(exc)):
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    provider = model_id.split("/", 1)[0] if "/" in model_id else ""
    try:
        zone: tzinfo = ZoneInfo(QUOTA_RESET_ZONE.get(provider, "UTC"))
    except ZoneInfoNotFoundError:  # no tz database: UTC is off by hours at most
        zone = UTC
    local = (now or datetime.now(UTC)).astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), dt_time(0), tzinfo=zone)
    return max((midnight - local).total_seconds(), 0.0)


def _retry_delay_in_body(exc: BaseException) -> float | None:
    """Gemini's ``RetryInfo.retryDelay`` (seconds) from the error text, if any."""
    m = _RETRY_DELAY.search(str(exc))
    return float(m.group(1)) if m else None


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes/contexts, outermost first (cycles cut)."""
    out: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in out and len(out) < 20:
        out.append(node)
        node = node.__cause__ or node.__context__
    return out


def _duration(seconds: float) -> str:
    """``"5 h 03 min"`` / ``"42 s"``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = int(seconds // 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"


#: Error bodies that blame the request, not the server's health: Jinja chat
#: template failures (llama.cpp's server, vLLM) and request validation errors.
#: Such a 5xx is not retried.
_REQUEST_FAULT = re.compile(
    r"has no attribute|TemplateError|UndefinedError|jinja|chat template|"
    r"validation error|invalid request|malformed|could not parse|unprocessable",
    re.IGNORECASE,
)


def map_error(exc: BaseException, model_id: str, key_hint: str | None = None) -> ModelError:
    """Turn a LiteLLM/httpx exception into az's typed :class:`ModelError`.

    ====================================================  ==============================
    LiteLLM exception (HTTP status)                        az error
    ====================================================  ==============================
    ContextWindowExceededError                             ContextWindowExceededError
    AuthenticationError (401), PermissionDeniedError (403) AuthenticationError
    RateLimitError (429)                                   RateLimitError (+ retry_after:
                                                           Retry-After, Gemini's retryDelay,
                                                           or the daily quota's reset)
    Timeout, APIConnectionError, httpx transport errors    NetworkError
    InternalServerError, ServiceUnavailable, BadGateway    ProviderDownError
    (5xx)
    a 5xx whose body blames the request (chat template     InvalidRequestError (not retried)
    failure, validation error)
    BadRequest (400), NotFound (404), Unprocessable (422)  InvalidRequestError
    ====================================================  ==============================
    """
    if isinstance(exc, ModelError):
        return exc
    litellm = import_litellm()
    import httpx

    msg = _short(exc)
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = None
    where = f"{model_id}: "
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ContextWindowExceededError(
            f"{where}prompt too long for the context window: {msg}", model=model_id
        )
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError) or status in (
        401,
        403,
    ):
        hint = f"; check {key_hint}" if key_hint else ""
        return AuthenticationError(
            f"{where}the provider rejected the API key (HTTP {status or 401}){hint}: {msg}",
            model=model_id,
        )
    if isinstance(exc, litellm.RateLimitError) or status == 429:
        after = retry_after_seconds(exc)
        if after is None:
            after = _retry_delay_in_body(exc)
        reset = daily_quota_reset_seconds(exc, model_id)
        if reset is not None:
            # Gemini answers a spent daily quota with a short retryDelay; the
            # quota comes back only at the reset.
            after = max(after or 0.0, reset)
            said = f" (daily quota used up; resets in {_duration(reset)}, Retry-After {after:g} s)"
        else:
            said = f" (Retry-After {after:g} s)" if after is not None else ""
        return RateLimitError(
            f"{where}rate limited by the provider (HTTP 429){said}: {msg}",
            model=model_id,
            retry_after=after,
        )
    # LiteLLM wraps some transport failures as 500s (an OpenAI-SDK connection
    # error becomes InternalServerError); the cause chain tells the truth.
    chain = _chain(exc)
    if any(isinstance(e, litellm.Timeout | httpx.TimeoutException | TimeoutError) for e in chain):
        return NetworkError(f"{where}request timed out: {msg}", model=model_id)
    if any(isinstance(e, httpx.TransportError | ConnectionError) for e in chain):
        return NetworkError(f"{where}cannot reach the provider: {msg}", model=model_id)
    if _REQUEST_FAULT.search(msg):
        # A server that fails on the request itself (a chat template that
        # cannot render it, a validation error) answers the same every time:
        # retrying only wastes the wait.
        return InvalidRequestError(
            f"{where}the server could not process this request (HTTP {status or 500}): {msg}",
            model=model_id,
        )
    if isinstance(
        exc,
        litellm.InternalServerError | litellm.ServiceUnavailableError | litellm.BadGatewayError,
    ) or (status is not None and status >= 500):
        return ProviderDownError(
            f"{where}provider error (HTTP {status or 500}): {msg}", model=model_id
        )
    if isinstance(exc, litellm.APIConnectionError | httpx.TransportError | ConnectionError):
        return NetworkError(f"{where}cannot reach the provider: {msg}", model=model_id)
    if isinstance(
        exc, litellm.BadRequestError | litellm.NotFoundError | litellm.UnprocessableEntityError
    ) or (status is not None and 400 <= status < 500):
        return InvalidRequestError(
            f"{where}request rejected (HTTP {status or 400}): {msg}", model=model_id
        )
    return ModelError(f"{where}{type(exc).__name__}: {msg}", model=model_id)


# -- tool calls and usage ----------------------------------------------------
def to_tool_call(raw: Any) -> ToolCall:
    """An OpenAI-format tool call (object or dict) as a :class:`ToolCall`.

    ``function.arguments`` is decoded from JSON; empty means ``{}``; text that
    is not a JSON object is kept under :data:`INVALID_ARGUMENTS_KEY`.
    """

    def get(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

    fn = get(raw, "function") or {}
    name = get(fn, "name") or ""
    args_raw = get(fn, "arguments")
    if isinstance(args_raw, dict):
        args: dict[str, Any] = args_raw
    elif args_raw is None or str(args_raw).strip() == "":
        args = {}
    else:
        try:
            parsed = json.loads(args_raw)
        except ValueError:
            parsed = None
        args = parsed if isinstance(parsed, dict) else {INVALID_ARGUMENTS_KEY: str(args_raw)}
    call_id = get(raw, "id")
    return (
        ToolCall(id=call_id, name=name, arguments=args)
        if call_id
        else ToolCall(name=name, arguments=args)
    )


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def cache_write_tokens(usage: Any) -> int:
    """Prompt tokens written to the provider's cache (Anthropic's
    ``cache_creation_input_tokens``), 0 when not reported."""
    if usage is None:
        return 0
    value = (
        usage.get("cache_creation_input_tokens")
        if isinstance(usage, dict)
        else getattr(usage, "cache_creation_input_tokens", None)
    )
    return _int(value)


def usage_tokens(usage: Any) -> tuple[int, int, int]:
    """(prompt, completion, cached prompt) tokens of a LiteLLM usage object.

    Cached tokens are OpenAI's ``prompt_tokens_details.cached_tokens`` or
    Anthropic's ``cache_read_input_tokens``."""
    if usage is None:
        return 0, 0, 0

    def get(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

    prompt = _int(get(usage, "prompt_tokens"))
    completion = _int(get(usage, "completion_tokens"))
    details = get(usage, "prompt_tokens_details")
    cached = _int(get(details, "cached_tokens")) if details is not None else 0
    cached = cached or _int(get(usage, "cache_read_input_tokens"))
    return prompt, completion, min(cached, prompt) if prompt else cached


#: Where each catalogue provider's API answers (for :meth:`LiteLLMModel.probe`).
PROVIDER_BASES: dict[str, str] = {
    "anthropic": "https://api.anthropic.com",
    "openai": "https://api.openai.com/v1",
    "gemini": "https://generativelanguage.googleapis.com",
    "deepseek": "https://api.deepseek.com",
    "mistral": "https://api.mistral.ai",
    "openrouter": "https://openrouter.ai/api/v1",
}


# -- Ollama reachability -----------------------------------------------------
_ollama_cache: dict[str, tuple[float, set[str] | None, str]] = {}
_ollama_lock = threading.Lock()


def _port_open(api_base: str, timeout_s: float) -> None:
    """Connect to ``api_base``'s host and port and hang up; raises OSError
    (``ConnectionRefusedError``...) when nothing listens there."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(api_base)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout_s):
        pass


def ollama_models(
    api_base: str, ttl_s: float = 30.0, timeout_s: float = 0.5
) -> tuple[set[str] | None, str]:
    """Names of the models an Ollama server has pulled (``GET /api/tags``),
    or ``(None, why)`` when it does not answer within ``timeout_s`` seconds.
    Cached per server for ``ttl_s`` seconds."""
    now = time.monotonic()
    with _ollama_lock:
        hit = _ollama_cache.get(api_base)
        if hit and now - hit[0] < ttl_s:
            return hit[1], hit[2]
    names: set[str] | None
    try:
        _port_open(api_base, timeout_s)  # no server: a refused connect, without urllib's import
        import urllib.request

        with urllib.request.urlopen(f"{api_base}/api/tags", timeout=timeout_s) as resp:  # noqa: S310
            data = json.loads(resp.read().decode("utf-8"))
        names = set()
        for m in data.get("models", []):
            for key in ("name", "model"):
                if m.get(key):
                    names.add(m[key])
                    names.add(m[key].removesuffix(":latest"))
        why = ""
    except (OSError, ValueError) as exc:  # urllib's URLError is an OSError
        reason = getattr(exc, "reason", None) or exc
        names, why = None, _short(reason if isinstance(reason, BaseException) else exc, 120)
    with _ollama_lock:
        _ollama_cache[api_base] = (now, names, why)
    return names, why


# -- the model ---------------------------------------------------------------
class LiteLLMModel(Model):
    """A hosted (or self-hosted) model called through LiteLLM.

    Args:
        info: what the router sees (id, prices in USD per token, context window).
        settings: the ``[litellm]`` section (retries, delays in s, timeout in s).
        call_model: the model string given to LiteLLM (default ``info.id``;
            Ollama ids are called as ``ollama_chat/<name>``).
        api_base: server URL for OpenAI-compatible and self-hosted models.
        key_names: environment variables holding the API key, tried in order
            (each also through the ``az_get_secret`` hook).
        key_required: whether a missing key makes the model unusable.
        send_placeholder_key: send :data:`NO_KEY` when no key is found
            (custom ``api_base`` servers without authentication).
        cost_model: the name LiteLLM prices the response under; ``None``
            uses ``info``'s own prices (config overrides, unknown models).
        ollama_name: for Ollama models, the model name to look for in the
            server's pulled models (``usable()`` checks the server).
    """

    def __init__(
        self,
        info: ModelInfo,
        settings: LiteLLMSettings,
        *,
        call_model: str | None = None,
        api_base: str | None = None,
        key_names: tuple[str, ...] = (),
        key_required: bool = True,
        send_placeholder_key: bool = False,
        cost_model: str | None = None,
        ollama_name: str | None = None,
    ) -> None:
        self.info = info
        self.settings = settings
        self.call_model = call_model or info.id
        self.api_base = api_base
        self.key_names = key_names
        self.key_required = key_required
        self.send_placeholder_key = send_placeholder_key
        self.cost_model = cost_model
        self.ollama_name = ollama_name
        #: Seconds waited before each retry of the most recent call (in call
        #: order; with concurrent calls, whichever started last).
        self.last_retry_delays: list[float] = []

    # -- keys ------------------------------------------------------------
    def api_key(self) -> str | None:
        """The API key: the first of :attr:`key_names` set in the environment
        or known to the ``az_get_secret`` hook; ``None`` if none is."""
        for name in self.key_names:
            if os.environ.get(name):
                return os.environ[name]
        if not self.key_names:
            return None
        from az_os.plugins import get_host

        host = get_host()
        for name in self.key_names:
            value = host.get_secret(name)
            if value:
                return value
        return None

    def _missing_key_message(self) -> str:
        name = self.key_names[0]
        return f"{name} is not set (export it, or store it with az-keyring)"

    def usable(self) -> tuple[bool, str]:
        """``(True, "")`` when a call can be made now; else ``(False, one line
        naming the variable to set or the server to start)``."""
        if self.key_names and self.key_required and self.api_key() is None:
            return False, self._missing_key_message()
        if self.ollama_name is not None and self.api_base:
            names, why = ollama_models(self.api_base)
            if names is None:
                return (
                    False,
                    f"no Ollama server at {self.api_base} ({why}): start it with 'ollama serve'",
                )
            if self.ollama_name not in names:
                return False, f"not pulled into Ollama: run 'ollama pull {self.ollama_name}'"
        return True, ""

    def probe(self, timeout_s: float = 2.0) -> tuple[bool, str] | None:
        """Whether the provider's server answers: one unauthenticated HTTP GET
        of its base URL (``api_base``, else :data:`PROVIDER_BASES`), which
        costs nothing; any HTTP status counts as reachable. ``None`` for a
        provider whose address is not known here."""
        base = self.api_base or PROVIDER_BASES.get(self.info.provider)
        if not base:
            return None
        import urllib.error
        import urllib.request

        start = time.perf_counter()
        try:
            with urllib.request.urlopen(base, timeout=timeout_s) as resp:  # noqa: S310
                status = resp.status
        except urllib.error.HTTPError as exc:  # 401/404 ...: the server answered
            status = exc.code
        except (OSError, ValueError) as exc:  # URLError, timeouts, refused connections
            reason = getattr(exc, "reason", None) or exc
            why = _short(reason if isinstance(reason, BaseException) else exc, 120)
            return False, f"{base} unreachable: {why}"
        ms = (time.perf_counter() - start) * 1000
        return True, f"{base} answered HTTP {status} in {ms:.0f} ms"

    # -- arguments ---------------------------------------------------------
    def _kwargs(self, request: ModelRequest, stream: bool = False) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": self.call_model,
            "messages": self._messages(request),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "timeout": self.settings.timeout_s,
            "max_retries": 0,
            "num_retries": 0,
            "drop_params": True,
        }
        if request.stop:
            kw["stop"] = list(request.stop)
        if self.settings.prompt_caching:
            # LiteLLM adds Anthropic cache_control marks (system prompt and
            # newest message) for Claude models only and stands down for others
            kw["enable_prompt_caching"] = True
        if request.tools:
            kw["tools"] = [t.to_openai() for t in request.tools]
            choice: Any = request.tool_choice
            if choice == "required" and len(request.tools) == 1:
                # The same meaning, in the form every OpenAI-compatible server
                # understands (llama.cpp's server only knows auto/none/named).
                choice = {"type": "function", "function": {"name": request.tools[0].name}}
            kw["tool_choice"] = choice
            # Our tools are plain functions, never LiteLLM-proxy MCP tools; without
            # this LiteLLM imports its MCP gateway, which needs the optional `mcp`
            # package, on every call that offers tools.
            kw["_skip_mcp_handler"] = True
        if self.api_base:
            kw["api_base"] = self.api_base
        key = self.api_key()
        if key:
            kw["api_key"] = key
        elif self.key_names and self.key_required:
            raise AuthenticationError(
                f"{self.info.id}: {self._missing_key_message()}", model=self.info.id
            )
        elif self.send_placeholder_key:
            kw["api_key"] = NO_KEY
        if stream:
            kw["stream"] = True
            kw["stream_options"] = {"include_usage": True}
        return kw

    def _messages(self, request: ModelRequest) -> list[dict[str, Any]]:
        """The request's messages in OpenAI form. An assistant message that
        carries only tool calls gets ``content: ""`` on OpenAI-compatible
        servers: LiteLLM drops a ``None`` content on the way, and llama.cpp's
        server then fails its chat template with HTTP 500 (``'dict object' has
        no attribute 'content'``), while an explicit ``null`` is refused with
        422; an empty string is what every such server accepts."""
        out = [m.to_openai() for m in request.messages]
        if self.api_base or self.call_model.startswith("openai/"):
            for m in out:
                if m["role"] == "assistant" and m.get("tool_calls") and m["content"] is None:
                    m["content"] = ""
        return out

    # -- retries -------------------------------------------------------------
    def _retry_args(self, waited: list[float]) -> dict[str, Any]:
        """tenacity arguments for one call; each delay slept is appended to
        ``waited`` (seconds), which then becomes :attr:`last_retry_delays`."""
        import tenacity

        s = self.settings
        schedule = retry_delays(max(s.retries, 1), s.retry_base_s, s.retry_cap_s)
        self.last_retry_delays = waited

        def wait(state: Any) -> float:
            exc = state.outcome.exception() if state.outcome else None
            delay = schedule[min(state.attempt_number, len(schedule)) - 1]
            if isinstance(exc, RateLimitError) and exc.retry_after is not None:
                delay = min(exc.retry_after, s.retry_cap_s)
            return delay

        def before_sleep(state: Any) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            waited.append(delay)
            log.warning("%s; retry %d of %d in %.2f s", exc, state.attempt_number, s.retries, delay)

        return {
            "retry": tenacity.retry_if_exception(lambda e: self._retryable(e)),
            "stop": tenacity.stop_after_attempt(s.retries + 1),
            "wait": wait,
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def _quota_spent(self, exc: BaseException) -> bool:
        """A 429 whose wait is longer than ``retry_cap_s`` (a spent quota)."""
        return (
            isinstance(exc, RateLimitError)
            and exc.retry_after is not None
            and exc.retry_after > self.settings.retry_cap_s
        )

    def _retryable(self, exc: BaseException) -> bool:
        """Whether tenacity tries again: retryable errors, except a spent quota."""
        return isinstance(exc, ModelError) and exc.retryable and not self._quota_spent(exc)

    def _gave_up(self, exc: ModelError, waited: list[float]) -> ModelError:
        n = len(waited)
        if self._quota_spent(exc):
            exc.args = (
                f"{exc} (not retried: the wait is longer than the retry cap of "
                f"{self.settings.retry_cap_s:g} s)",
            )
        elif exc.retryable and n:
            exc.args = (f"{exc} (gave up after {n + 1} attempts)",)
        return exc

    def _key_hint(self) -> str | None:
        return self.key_names[0] if self.key_names else None

    def _call(self, fn: Callable[..., Any], kw: dict[str, Any]) -> Any:
        import tenacity

        def attempt() -> Any:
            try:
                return fn(**kw)
            except Exception as exc:  # noqa: BLE001 - every failure becomes a typed error
                raise map_error(exc, self.info.id, self._key_hint()) from exc

        waited: list[float] = []
        try:
            return tenacity.Retrying(**self._retry_args(waited))(attempt)
        except ModelError as exc:
            raise self._gave_up(exc, waited) from exc.__cause__

    # -- the contract ----------------------------------------------------------
    def count_tokens(self, request: ModelRequest) -> int:
        """Prompt tokens with LiteLLM's ``token_counter`` (the provider's
        tokenizer where LiteLLM has it, tool schemas included); the kernel's
        characters / 4 when LiteLLM cannot count for this model. Never
        below the kernel's estimate (budgets must not undercount)."""
        estimate = super().count_tokens(request)
        try:
            litellm = import_litellm()
            counted = litellm.token_counter(
                model=self.info.id,
                messages=[m.to_openai() for m in request.messages],
                tools=[t.to_openai() for t in request.tools] or None,
            )
        except Exception as exc:  # noqa: BLE001 - keep the estimate
            log.debug("litellm.token_counter failed for %s: %s", self.info.id, exc)
            return estimate
        return max(int(counted), estimate)

    def complete(self, request: ModelRequest) -> ModelResponse:
        """One chat completion (see the module docstring for errors and retries)."""
        litellm = import_litellm()
        kw = self._kwargs(request)
        start = time.perf_counter()
        resp = self._call(litellm.completion, kw)
        return self._response(resp, start)

    async def acomplete(self, request: ModelRequest) -> ModelResponse:
        """Async :meth:`complete` through ``litellm.acompletion`` (no worker thread)."""
        import tenacity

        litellm = import_litellm()
        kw = self._kwargs(request)
        start = time.perf_counter()

        async def attempt() -> Any:
            try:
                return await litellm.acompletion(**kw)
            except Exception as exc:  # noqa: BLE001
                raise map_error(exc, self.info.id, self._key_hint()) from exc

        waited: list[float] = []
        try:
            resp: Any = await tenacity.AsyncRetrying(**self._retry_args(waited))(attempt)
        except ModelError as exc:
            raise self._gave_up(exc, waited) from exc.__cause__
        return self._response(resp, start)

    def stream(self, request: ModelRequest) -> Iterator[StreamDelta]:
        """Yield text as it arrives; the last delta carries the tool calls,
        usage (tokens, USD) and finish reason.

        Opening the stream is retried like :meth:`complete`; an error after
        text was yielded is raised (typed) without a retry, since the text
        cannot be taken back.
        """
        litellm = import_litellm()
        kw = self._kwargs(request, stream=True)
        start = time.perf_counter()
        stream = self._call(litellm.completion, kw)
        chunks: list[Any] = []
        try:
            for chunk in stream:
                chunks.append(chunk)
                choices = getattr(chunk, "choices", None) or []
                if not choices:
                    continue
                delta = getattr(choices[0], "delta", None)
                text = getattr(delta, "content", None) if delta is not None else None
                if text:
                    yield StreamDelta(text=text)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise map_error(exc, self.info.id, self._key_hint()) from exc
        built = litellm.stream_chunk_builder(chunks, messages=kw["messages"]) if chunks else None
        if built is None:
            yield StreamDelta(usage=Usage(), finish_reason=None)
            return
        resp = self._response(built, start)
        yield StreamDelta(
            tool_calls=resp.message.tool_calls, usage=resp.usage, finish_reason=resp.finish_reason
        )

    # -- results -------------------------------------------------------------
    def _response(self, resp: Any, start: float) -> ModelResponse:
        choices = getattr(resp, "choices", None) or []
        if not choices:
            raise ProviderDownError(
                f"{self.info.id}: the provider returned no choices", model=self.info.id
            )
        choice = choices[0]
        msg = getattr(choice, "message", None)
        content = getattr(msg, "content", None) if msg is not None else None
        calls = [to_tool_call(tc) for tc in (getattr(msg, "tool_calls", None) or [])]
        usage = self._usage(resp)
        return ModelResponse(
            model=self.info.id,
            message=Message(role="assistant", content=content, tool_calls=calls),
            usage=usage,
            finish_reason=getattr(choice, "finish_reason", None),
            duration_ms=(time.perf_counter() - start) * 1000.0,
        )

    def _usage(self, resp: Any) -> Usage:
        prompt, completion, cached = usage_tokens(getattr(resp, "usage", None))
        written = cache_write_tokens(getattr(resp, "usage", None))
        cost = None
        if self.cost_model is not None:
            litellm = import_litellm()
            try:
                cost = float(
                    litellm.completion_cost(completion_response=resp, model=self.cost_model)
                )
            except Exception as exc:  # noqa: BLE001 - fall back to our own prices
                log.debug("litellm could not price %s: %s", self.cost_model, exc)
        if cost is None:
            cost = self.info.cost(prompt, completion, cached, written)
        return Usage(
            prompt_tokens=prompt,
            completion_tokens=completion,
            cached_tokens=cached,
            cache_write_tokens=written,
            cost_usd=cost,
        )
