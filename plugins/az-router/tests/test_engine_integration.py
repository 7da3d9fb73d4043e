"""The router inside the kernel's real engine, on a real SQLite database."""

from __future__ import annotations

import asyncio

import pytest
from az_os.types import Task, TaskStatus
from conftest import ModelsPlugin, priced
from test_routing import needs_sqlite


@needs_sqlite
def test_engine_escalates_past_a_failing_model_and_the_log_says_why(az_home):
    pytest.importorskip("az_os.engine")
    from az_os.drivers import get_storage
    from az_os.engine import ExecutionEngine
    from az_os.plugins import get_host

    cheap = priced("deepseek/deepseek-chat", 0.28, 0.42, fail=True)
    mid = priced("anthropic/claude-haiku-4-5", 1.0, 5.0)
    premium = priced("anthropic/claude-sonnet-4-5", 3.0, 15.0)
    get_host().register(ModelsPlugin([cheap, mid, premium]), name="test-models")

    task = Task(description="fix the failing test in tests/test_io.py", approval="auto")
    done = asyncio.run(ExecutionEngine().execute(task))

    assert done.status == TaskStatus.COMPLETED, done.error
    assert done.result == "answer from anthropic/claude-haiku-4-5"
    assert cheap.calls == 1 and mid.calls == 1 and premium.calls == 0
    assert done.model == "anthropic/claude-haiku-4-5"
    logs = [r.message for r in get_storage().list_logs(task_id=done.id)]
    escalation = [m for m in logs if m.startswith("router: escalated")]
    assert escalation, logs
    assert "deepseek/deepseek-chat" in escalation[0] and "503" in escalation[0]
