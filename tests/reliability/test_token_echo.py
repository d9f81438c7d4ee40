"""An answer that is not Nomad's and echoes the token never puts the token in a message.

A proxy's debug page or a service that echoes the request's headers (a misrouted address)
can answer 200 with the ``X-Nomad-Token`` it received. The hooks name such an answer with a
piece of its body, and that message reaches places Airflow does not mask: a trigger's event
(stored in the metadata database) and the answer of a connection test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from canned_server_testlib import CannedServer, serve, use_connection

from airflow_provider_nomad.exceptions import NomadApiError
from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
from airflow_provider_nomad.triggers.nomad import NomadJobTrigger

TOKEN = "7c1e9a2b-3333-4000-8000-not-a-real-token"
JOB = "/v1/job/settle"
FIRST_READS = ("/v1/job/settle/allocations", "/v1/job/settle/evaluations")

ECHOES = {
    # Not JSON: the body is shown as it came.
    "text": f"GET /v1/job/settle HTTP/1.1\r\nX-Nomad-Token: {TOKEN}\r\n".encode(),
    # JSON, but not the job Nomad would send.
    "json": {"headers": {"X-Nomad-Token": [TOKEN]}},
    # The token straddles the 200 characters shown: a cut must not leave a piece of it.
    "cut": ("x" * 180 + TOKEN).encode(),
}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[CannedServer]:
    with serve() as canned:
        use_connection(monkeypatch, "nomad_default", "nomad", canned.address, password=TOKEN)
        yield canned


def _assert_no_token(message: str) -> None:
    assert TOKEN[:8] not in message, message
    assert "<redacted>" in message or "expected JSON" in message, message


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
def test_the_sync_hook_s_error(server, echo):
    server.answer(JOB, echo)
    with pytest.raises(NomadApiError) as raised:
        NomadHook().get_job("settle")
    _assert_no_token(str(raised.value))
    assert server.requests(JOB)  # the answer was read, not refused before


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
async def test_the_async_hook_s_error(server, echo):
    server.answer(JOB, echo)
    async with NomadAsyncHook() as hook:
        with pytest.raises(NomadApiError) as raised:
            await hook.get_job("settle")
    _assert_no_token(str(raised.value))


def test_the_connection_test_s_answer(server):
    server.answer("/v1/jobs", ECHOES["text"])
    ok, message = NomadHook().test_connection()
    assert not ok
    _assert_no_token(message)


async def test_the_trigger_s_event(server):
    for path in FIRST_READS:
        server.answer(path, ECHOES["text"])
    trigger = NomadJobTrigger(job_id="settle", stream_logs=False, shared_watch=False)
    event = await anext(trigger.run())
    assert "expected JSON" in event.payload["error"], event.payload
    assert TOKEN[:8] not in json.dumps(event.payload)
