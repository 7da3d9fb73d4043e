"""Hosted providers' error paths, mocked at the HTTP layer with respx.

Each test builds the model the way the plugin registers it and answers the
provider's real URL with the status a provider sends: 401, 429 with
Retry-After, 500, a timeout. Delays come from ``[litellm]`` settings so the
tests stay fast; ``last_retry_delays`` records what was actually waited.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date

import httpx
import pytest
import respx
from az_litellm.model import INVALID_ARGUMENTS_KEY, LiteLLMModel
from az_litellm.registry import catalogue_models
from az_litellm.settings import LiteLLMSettings
from az_os.errors import (
    AuthenticationError,
    ContextWindowExceededError,
    InvalidRequestError,
    NetworkError,
    ProviderDownError,
    RateLimitError,
)
from az_os.types import Message, ModelRequest, ToolCall, ToolSpec
from azlitellm_support import openai_ok

ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
REQUEST = ModelRequest(messages=[Message(role="user", content="Say hi")], max_tokens=16)


#: The catalogue as of this day: these tests are about error handling, not
#: about which models are still offered today (deprecated ones leave it).
CATALOGUE_DAY = date(2026, 6, 1)


def model(mid: str, **settings: float) -> LiteLLMModel:
    s = LiteLLMSettings(**{"retries": 3, "retry_base_s": 0.01, **settings})
    for m, _ in catalogue_models(s, on=CATALOGUE_DAY):
        if m.info.id == mid:
            return m
    raise AssertionError(f"{mid} not in catalogue")


@pytest.fixture
def keys(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test")


def anthropic_ok(text: str = "hi", cache_read: int = 0) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 12,
                "output_tokens": 3,
                "cache_read_input_tokens": cache_read,
            },
        },
    )


def error(
    status: int, message: str, headers: dict | None = None, kind: str = "error"
) -> httpx.Response:
    return httpx.Response(
        status,
        headers=headers or {},
        json={"error": {"message": message, "type": kind, "code": None}},
    )


@respx.mock
def test_401_is_an_authentication_error_and_never_retried(keys):
    route = respx.post(ANTHROPIC_URL).mock(
        return_value=error(401, "invalid x-api-key", kind="authentication_error")
    )
    m = model("anthropic/claude-sonnet-4-6")
    with pytest.raises(AuthenticationError, match="ANTHROPIC_API_KEY") as info:
        m.complete(REQUEST)
    assert route.call_count == 1
    assert m.last_retry_delays == []
    assert "\n" not in str(info.value)
    assert route.calls[0].request.headers["x-api-key"] == "sk-ant-test"


@respx.mock
def test_429_honours_retry_after_then_succeeds(keys):
    route = respx.post(ANTHROPIC_URL).mock(
        side_effect=[
            error(429, "rate limited", {"retry-after": "1"}, kind="rate_limit_error"),
            anthropic_ok("hello", cache_read=4),
        ]
    )
    m = model("anthropic/claude-sonnet-4-6")
    resp = m.complete(REQUEST)
    assert route.call_count == 2
    assert m.last_retry_delays == [1.0]  # the provider's Retry-After, not the 0.01 s schedule
    assert resp.message.content == "hello"
    # Anthropic reports cache reads apart; prompt tokens include them.
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.cached_tokens) == (
        16,
        3,
        4,
    )
    import litellm

    expected = litellm.cost_per_token(
        model="anthropic/claude-sonnet-4-6",
        prompt_tokens=16,
        completion_tokens=3,
        cache_read_input_tokens=4,
    )
    assert resp.usage.cost_usd == pytest.approx(sum(expected))


@respx.mock
def test_429_without_retry_after_backs_off_and_gives_up(keys):
    route = respx.post(OPENAI_URL).mock(
        return_value=error(429, "slow down", kind="rate_limit_exceeded")
    )
    m = model("openai/gpt-4.1", retries=2)
    with pytest.raises(RateLimitError, match="gave up after 3 attempts") as info:
        m.complete(REQUEST)
    assert route.call_count == 3
    assert m.last_retry_delays == [0.01, 0.02]
    assert info.value.retryable


@respx.mock
def test_500_is_provider_down_retried_with_doubling_capped_delays(keys):
    route = respx.post(OPENAI_URL).mock(
        return_value=error(500, "internal error", kind="server_error")
    )
    m = model("openai/gpt-4.1", retries=4, retry_cap_s=0.03)
    with pytest.raises(ProviderDownError):
        m.complete(REQUEST)
    assert route.call_count == 5
    assert m.last_retry_delays == [0.01, 0.02, 0.03, 0.03]


@respx.mock
def test_500_then_success_async(keys):
    route = respx.post(OPENAI_URL).mock(
        side_effect=[
            error(503, "overloaded", kind="server_error"),
            openai_ok({"role": "assistant", "content": "ok"}),
        ]
    )
    m = model("openai/gpt-4.1")
    resp = asyncio.run(m.acomplete(REQUEST))
    assert resp.message.content == "ok"
    assert route.call_count == 2
    assert m.last_retry_delays == [0.01]


@respx.mock
def test_timeout_is_a_network_error_retried(keys):
    route = respx.post(OPENAI_URL).mock(side_effect=httpx.ReadTimeout("read timed out"))
    m = model("openai/gpt-4.1", retries=2)
    with pytest.raises(NetworkError, match="timed out"):
        m.complete(REQUEST)
    assert route.call_count == 3
    assert m.last_retry_delays == [0.01, 0.02]


@respx.mock
def test_context_window_exceeded_is_typed_and_not_retried(keys):
    body = {
        "error": {
            "message": (
                "This model's maximum context length is 1047576 tokens. "
                "However, your messages resulted in 2000000 tokens."
            ),
            "type": "invalid_request_error",
            "code": "context_length_exceeded",
        }
    }
    route = respx.post(OPENAI_URL).mock(return_value=httpx.Response(400, json=body))
    m = model("openai/gpt-4.1")
    with pytest.raises(ContextWindowExceededError):
        m.complete(REQUEST)
    assert route.call_count == 1


@respx.mock
def test_bad_request_is_invalid_request_not_retried(keys):
    route = respx.post(OPENAI_URL).mock(
        return_value=error(400, "temperature must be <= 2", kind="invalid_request_error")
    )
    m = model("openai/gpt-4.1")
    with pytest.raises(InvalidRequestError):
        m.complete(REQUEST)
    assert route.call_count == 1


def test_missing_key_fails_before_any_request():
    m = model("openai/gpt-4.1")
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(OPENAI_URL)
        with pytest.raises(AuthenticationError, match="OPENAI_API_KEY is not set"):
            m.complete(REQUEST)
        assert route.call_count == 0


@respx.mock
def test_tool_calls_and_cached_usage_cost_as_litellm_prices_them(keys):
    import litellm

    message = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "fs_read", "arguments": '{"path": "a.txt"}'},
            },
            {
                "id": "call_b",
                "type": "function",
                "function": {"name": "fs_read", "arguments": '{"path": '},
            },
        ],
    }
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "total_tokens": 1050,
        "prompt_tokens_details": {"cached_tokens": 400},
    }
    respx.post(OPENAI_URL).mock(return_value=openai_ok(message, usage))
    m = model("openai/gpt-4.1")
    tool = ToolSpec(
        name="fs_read",
        description="read",
        input_schema={"type": "object", "properties": {"path": {"type": "string"}}},
    )
    resp = m.complete(REQUEST.replace(tools=[tool]))
    good, bad = resp.message.tool_calls
    assert (good.id, good.name, good.arguments) == ("call_a", "fs_read", {"path": "a.txt"})
    assert bad.arguments == {INVALID_ARGUMENTS_KEY: '{"path": '}
    assert resp.usage.cached_tokens == 400
    prompt_cost, completion_cost = litellm.cost_per_token(
        model="openai/gpt-4.1",
        prompt_tokens=1000,
        completion_tokens=50,
        cache_read_input_tokens=400,
    )
    assert resp.usage.cost_usd == pytest.approx(prompt_cost + completion_cost)
    entry = litellm.model_cost["gpt-4.1"]
    expected = (
        600 * entry["input_cost_per_token"]
        + 400 * entry["cache_read_input_token_cost"]
        + 50 * entry["output_cost_per_token"]
    )
    assert resp.usage.cost_usd == pytest.approx(expected)
    sent = json.loads(respx.calls.last.request.content)
    assert sent["tools"][0]["function"]["name"] == "fs_read"


@respx.mock
def test_openai_429_retry_after_ms_is_honoured_async(keys):
    route = respx.post(OPENAI_URL).mock(
        side_effect=[
            error(429, "slow down", {"retry-after-ms": "50"}, kind="rate_limit_exceeded"),
            openai_ok({"role": "assistant", "content": "done"}),
        ]
    )
    m = model("openai/gpt-4.1")
    resp = asyncio.run(m.acomplete(REQUEST))
    assert resp.message.content == "done"
    assert route.call_count == 2
    assert m.last_retry_delays == [0.05]


@respx.mock
def test_each_retry_is_logged_with_its_reason_and_delay(keys, caplog):
    respx.post(OPENAI_URL).mock(
        side_effect=[
            error(502, "bad gateway", kind="server_error"),
            openai_ok({"role": "assistant", "content": "ok"}),
        ]
    )
    m = model("openai/gpt-4.1")
    with caplog.at_level("WARNING", logger="az.litellm"):
        m.complete(REQUEST)
    (record,) = [r for r in caplog.records if r.name == "az.litellm"]
    text = record.getMessage()
    assert "openai/gpt-4.1" in text and "HTTP 502" in text
    assert "retry 1 of 3 in 0.01 s" in text


@respx.mock
def test_a_tool_round_trip_reaches_anthropic_as_tool_use_and_tool_result(keys):
    from az_os.types import ToolCall

    route = respx.post(ANTHROPIC_URL).mock(return_value=anthropic_ok("It is 14:05 in Paris."))
    call = ToolCall(id="toolu_01", name="time_now", arguments={"city": "Paris"})
    tool = ToolSpec(
        name="time_now",
        description="The current time in a city",
        input_schema={"type": "object", "properties": {"city": {"type": "string"}}},
    )
    request = ModelRequest(
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="What time is it in Paris?"),
            Message(role="assistant", content=None, tool_calls=[call]),
            Message(
                role="tool", tool_call_id="toolu_01", name="time_now", content='{"time": "14:05"}'
            ),
        ],
        tools=[tool],
        max_tokens=64,
    )
    resp = model("anthropic/claude-sonnet-4-6").complete(request)
    assert resp.message.content == "It is 14:05 in Paris."
    sent = json.loads(route.calls.last.request.content)
    system = sent["system"]
    assert (system if isinstance(system, str) else system[0]["text"]) == "Be brief."
    blocks = [
        b
        for m in sent["messages"]
        for b in (m["content"] if isinstance(m["content"], list) else [])
    ]
    use = next(b for b in blocks if b["type"] == "tool_use")
    result = next(b for b in blocks if b["type"] == "tool_result")
    assert (use["id"], use["name"], use["input"]) == ("toolu_01", "time_now", {"city": "Paris"})
    assert result["tool_use_id"] == "toolu_01"
    assert sent["tools"][0]["name"] == "time_now"
    assert sent["max_tokens"] == 64


def _marks(body: dict) -> list[str]:
    """Where a request body to Anthropic carries cache_control marks."""
    out = []
    system = body.get("system")
    if isinstance(system, list) and any("cache_control" in b for b in system):
        out.append("system")
    for i, m in enumerate(body["messages"]):
        blocks = m["content"] if isinstance(m["content"], list) else []
        if "cache_control" in m or any("cache_control" in b for b in blocks):
            out.append(f"messages[{i}]")
    return out


CONVERSATION = ModelRequest(
    messages=[
        Message(role="system", content="You are az. " * 200),
        Message(role="user", content="How many files are here?"),
    ],
    max_tokens=64,
)


@respx.mock
def test_claude_prompts_are_marked_for_the_prompt_cache_and_priced_with_it(keys):
    usage = {
        "input_tokens": 30,
        "output_tokens": 3,
        "cache_creation_input_tokens": 1200,
        "cache_read_input_tokens": 800,
    }
    route = respx.post(ANTHROPIC_URL).mock(
        return_value=httpx.Response(200, json={**anthropic_ok().json(), "usage": usage})
    )
    resp = model("anthropic/claude-sonnet-4-6").complete(CONVERSATION)
    body = json.loads(route.calls.last.request.content)
    # the system prompt and the newest message: the next turn reads both back
    assert _marks(body) == ["system", f"messages[{len(body['messages']) - 1}]"]
    assert (resp.usage.prompt_tokens, resp.usage.cached_tokens) == (2030, 800)
    assert resp.usage.cache_write_tokens == 1200
    import litellm

    expected = litellm.cost_per_token(
        model="anthropic/claude-sonnet-4-6",
        prompt_tokens=2030,
        completion_tokens=3,
        cache_creation_input_tokens=1200,
        cache_read_input_tokens=800,
    )
    assert resp.usage.cost_usd == pytest.approx(sum(expected))
    # dearer than the plain input price for the written part, far cheaper for the read part
    plain = litellm.cost_per_token(
        model="anthropic/claude-sonnet-4-6", prompt_tokens=2030, completion_tokens=3
    )
    assert resp.usage.cost_usd != pytest.approx(sum(plain))


@respx.mock
def test_prompt_caching_can_be_switched_off(keys):
    route = respx.post(ANTHROPIC_URL).mock(return_value=anthropic_ok())
    m = model("anthropic/claude-sonnet-4-6")
    m.settings = m.settings.replace(prompt_caching=False)
    m.complete(CONVERSATION)
    assert _marks(json.loads(route.calls.last.request.content)) == []


@respx.mock
def test_other_providers_get_no_cache_marks(keys):
    route = respx.post(OPENAI_URL).mock(
        return_value=openai_ok({"role": "assistant", "content": "3"})
    )
    model("openai/gpt-4.1").complete(CONVERSATION)
    body = json.loads(route.calls.last.request.content)
    assert "cache_control" not in json.dumps(body)
    assert "enable_prompt_caching" not in body


GEMINI_URL = (
    "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
)


def gemini_429(quota_id: str, retry_delay: str = "47s") -> httpx.Response:
    """The body the Gemini API sends when a free-tier quota is spent (the
    shape of google.rpc.QuotaFailure + RetryInfo, as users report it)."""
    return httpx.Response(
        429,
        json={
            "error": {
                "code": 429,
                "message": "You exceeded your current quota, please check your plan and "
                "billing details.\n* Quota exceeded for metric: generativelanguage.googleapis.com/"
                "generate_content_free_tier_requests, limit: 250, model: gemini-2.5-flash\n"
                f"Please retry in {retry_delay}.",
                "status": "RESOURCE_EXHAUSTED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [
                            {
                                "quotaMetric": "generativelanguage.googleapis.com/"
                                "generate_content_free_tier_requests",
                                "quotaId": quota_id,
                                "quotaDimensions": {
                                    "location": "global",
                                    "model": "gemini-2.5-flash",
                                },
                                "quotaValue": "250",
                            }
                        ],
                    },
                    {
                        "@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": retry_delay,
                    },
                ],
            }
        },
    )


@respx.mock
def test_a_spent_daily_gemini_quota_fails_fast_with_the_wait_until_the_reset(monkeypatch):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime.now(ZoneInfo("America/Los_Angeles"))
    to_midnight = 86400 - (now.hour * 3600 + now.minute * 60 + now.second)
    if to_midnight < 120:
        pytest.skip("the quota resets within the retry cap right now")
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test")
    route = respx.post(url__startswith=GEMINI_URL).mock(
        return_value=gemini_429("GenerateRequestsPerDayPerProjectPerModel-FreeTier")
    )
    m = model("gemini/gemini-2.5-flash", retries=4, retry_cap_s=60.0)
    with pytest.raises(RateLimitError, match="daily quota used up") as info:
        m.complete(REQUEST)
    assert route.call_count == 1  # no retry: waiting would take hours
    assert m.last_retry_delays == []
    # Gemini says "retry in 47s", but the daily quota only comes back at
    # midnight Pacific time: the error carries the real wait.
    assert info.value.retry_after == pytest.approx(max(to_midnight, 47), abs=5)
    assert "not retried" in str(info.value)


@respx.mock
def test_a_per_minute_gemini_quota_is_retried_after_the_delay_it_names(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "gm-test")
    route = respx.post(url__startswith=GEMINI_URL).mock(
        return_value=gemini_429("GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "0.05s")
    )
    m = model("gemini/gemini-2.5-flash", retries=1)
    with pytest.raises(RateLimitError, match="gave up after 2 attempts") as info:
        m.complete(REQUEST)
    assert route.call_count == 2
    assert m.last_retry_delays == [0.05]
    assert info.value.retry_after == 0.05


@respx.mock
def test_retry_after_longer_than_the_cap_fails_fast_async(keys):
    route = respx.post(ANTHROPIC_URL).mock(
        return_value=error(429, "quota", {"retry-after": "3600"}, kind="rate_limit_error")
    )
    m = model("anthropic/claude-sonnet-4-6", retries=4, retry_cap_s=60.0)
    with pytest.raises(RateLimitError, match="not retried") as info:
        asyncio.run(m.acomplete(REQUEST))
    assert route.call_count == 1
    assert info.value.retry_after == 3600.0


def test_daily_quota_resets_at_the_providers_midnight():
    from datetime import UTC, datetime

    from az_litellm.model import daily_quota_reset_seconds

    noon_pst = datetime(2025, 11, 21, 20, 0, tzinfo=UTC)  # 12:00 in Los Angeles (UTC-8)
    gemini = Exception('"quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"')
    openrouter = Exception("Rate limit exceeded: free-models-per-day. Add 10 credits")
    per_minute = Exception('"quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"')
    assert daily_quota_reset_seconds(gemini, "gemini/gemini-2.5-flash", noon_pst) == 12 * 3600
    assert daily_quota_reset_seconds(openrouter, "openrouter/x:free", noon_pst) == 4 * 3600
    assert daily_quota_reset_seconds(per_minute, "gemini/gemini-2.5-flash", noon_pst) is None


@respx.mock
def test_a_500_that_blames_the_request_is_not_retried(keys):
    # llama.cpp's server when its chat template cannot render a message
    route = respx.post(OPENAI_URL).mock(
        return_value=error(500, "'dict object' has no attribute 'content'", kind="server_error")
    )
    m = model("openai/gpt-4.1", retries=4)
    with pytest.raises(InvalidRequestError, match="could not process this request"):
        m.complete(REQUEST)
    assert route.call_count == 1
    assert m.last_retry_delays == []


@respx.mock
def test_an_assistant_tool_call_message_is_sent_with_empty_text(keys):
    route = respx.post(OPENAI_URL).mock(
        return_value=openai_ok({"role": "assistant", "content": "ok"})
    )
    call = ToolCall(name="time_now", arguments={"city": "Paris"}, id="call_1")
    request = ModelRequest(
        messages=[
            Message(role="user", content="Time in Paris?"),
            Message(role="assistant", content=None, tool_calls=[call]),
            Message(role="tool", content="14:05", tool_call_id="call_1", name="time_now"),
        ],
        max_tokens=16,
    )
    model("openai/gpt-4.1").complete(request)
    sent = json.loads(route.calls[0].request.content)["messages"][1]
    assert sent["role"] == "assistant" and sent["content"] == ""
    assert sent["tool_calls"][0]["function"]["name"] == "time_now"
