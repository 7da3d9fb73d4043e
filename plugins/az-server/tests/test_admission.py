"""Tasks start after the requests being answered, never much later."""

from __future__ import annotations

import asyncio
import time

from az_server.manager import ADMIT_WAIT_S, QUIET_S, TaskManager
from az_server.settings import ServerSettings


def test_a_task_waits_for_requests_in_flight_but_not_forever() -> None:
    async def scenario() -> tuple[float, float, float]:
        m = TaskManager(engine=None, settings=ServerSettings())  # type: ignore[arg-type]
        t = time.monotonic()
        await m._admission()  # nothing in flight: at once
        idle = time.monotonic() - t
        m.request_started()
        t = time.monotonic()
        await m._admission()  # a request that never ends: bounded wait
        stuck = time.monotonic() - t
        m.request_done()

        async def answer_soon() -> None:
            await asyncio.sleep(0.05)
            m.request_done()

        m.request_started()
        asyncio.get_running_loop().create_task(answer_soon())
        t = time.monotonic()
        await m._admission()  # starts once answered and quiet for QUIET_S
        answered = time.monotonic() - t
        m._writer.shutdown()
        return idle, stuck, answered

    idle, stuck, answered = asyncio.run(scenario())
    assert idle < 0.05
    assert ADMIT_WAIT_S * 0.9 <= stuck < ADMIT_WAIT_S + 1.0
    # no sooner than the answer plus the quiet period, and not by the time limit
    assert 0.05 + QUIET_S * 0.9 <= answered < ADMIT_WAIT_S * 0.8
