"""``/v1/event/stream``: newline-delimited batches, topics and keys, namespaces, replay from an
index, heartbeats, ACLs, as Nomad's event endpoint serves them."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from emulator_testlib import batch_job, mock_task, unique

from airflow_provider_nomad.testing import Emulator

HEARTBEAT_S = 0.2  # injected: Nomad's is 30 s
WAIT_S = 30.0  # generous bound against hangs, never a pacing sleep


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(event_heartbeat=HEARTBEAT_S) as emu:
        yield emu


@pytest.fixture(scope="module")
def acl_emulator() -> Iterator[Emulator]:
    with Emulator(acl=True, event_heartbeat=HEARTBEAT_S) as emu:
        yield emu


class EventStream:
    """Reads one event stream in a thread; each line parsed, in order, on a queue."""

    def __init__(self, addr: str, token: str | None = None, **params: Any) -> None:
        headers = {"X-Nomad-Token": token} if token else {}
        self.client = httpx.Client(base_url=addr, headers=headers, timeout=None)
        self.lines: queue.Queue[Any] = queue.Queue()
        self.response: httpx.Response | None = None
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(params,), daemon=True)
        self._thread.start()
        assert self._opened.wait(WAIT_S), "the stream did not open"

    def _read(self, params: dict[str, Any]) -> None:
        try:
            with self.client.stream("GET", "/v1/event/stream", params=params) as response:
                self.response = response
                self._opened.set()
                for line in response.iter_lines():
                    if line:
                        self.lines.put(json.loads(line))
        except httpx.HTTPError as exc:  # closed by the test
            self.lines.put(exc)
        finally:
            self._opened.set()

    def next(self) -> Any:
        return self.lines.get(timeout=WAIT_S)

    def until(self, done: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Every line up to and including the first batch for which ``done`` holds."""
        seen = []
        deadline = time.monotonic() + WAIT_S
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert not isinstance(line, Exception), line
            seen.append(line)
            if line and done(line):
                return seen

    def close(self) -> None:
        self.client.close()


def events_of(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for batch in lines if batch for event in batch["Events"]]


@pytest.fixture
def api(emulator: Emulator) -> Iterator[httpx.Client]:
    emulator.control.reset()
    with httpx.Client(base_url=emulator.nomad_addr, timeout=60) as client:
        yield client


def register_mock_job(api: httpx.Client, job_id: str, **extra: Any) -> dict[str, Any]:
    body = batch_job(job_id, [mock_task("t", run_for="10ms")], **extra)
    response = api.post("/v1/jobs", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_stream_opens_with_a_heartbeat_then_beats_at_the_interval(emulator, api):
    stream = EventStream(emulator.nomad_addr, topic="Job:nothing-happens-to-this-job")
    try:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"] == "application/json"
        assert stream.response.headers["cache-control"] == "no-cache"
        started = time.monotonic()
        assert [stream.next(), stream.next(), stream.next()] == [{}, {}, {}]
        # the first one at once, then one per interval: two intervals at least
        assert time.monotonic() - started >= 2 * HEARTBEAT_S * 0.9
    finally:
        stream.close()


def test_job_topic_with_a_key_gets_that_jobs_events_only(emulator, api):
    job_id, other = unique("watched"), unique("other")
    stream = EventStream(emulator.nomad_addr, topic=f"Job:{job_id}")
    try:
        register_mock_job(api, other)
        reply = register_mock_job(api, job_id)
        lines = stream.until(
            lambda b: any(e["Payload"]["Job"]["Status"] == "dead" for e in b["Events"])
        )
    finally:
        stream.close()
    events = events_of(lines)
    assert {e["Key"] for e in events} == {job_id}
    assert {e["Topic"] for e in events} == {"Job"}
    first = events[0]
    assert first["Type"] == "JobRegistered"
    assert first["Index"] == reply["JobModifyIndex"]
    assert first["Namespace"] == "default"
    assert first["FilterKeys"] is None
    assert first["Payload"]["Job"]["ID"] == job_id
    assert "ConsulToken" not in first["Payload"]["Job"]
    # the job's status changed with its allocation: that write is an AllocationUpdated
    assert events[-1]["Type"] == "AllocationUpdated"
    for batch in filter(None, lines):
        assert all(e["Index"] == batch["Index"] for e in batch["Events"])
    assert [b["Index"] for b in filter(None, lines)] == sorted(
        b["Index"] for b in filter(None, lines)
    )


def test_allocation_and_evaluation_topics_keyed_by_job_id_match_filter_keys(emulator, api):
    job_id = unique("allocs")
    stream = EventStream(
        emulator.nomad_addr, topic=[f"Allocation:{job_id}", f"Evaluation:{job_id}"]
    )
    try:
        register_mock_job(api, unique("noise"))
        reply = register_mock_job(api, job_id)
        lines = stream.until(
            lambda b: any(
                e["Topic"] == "Allocation"
                and e["Payload"]["Allocation"]["ClientStatus"] == "complete"
                for e in b["Events"]
            )
        )
    finally:
        stream.close()
    events = events_of(lines)
    assert {e["Topic"] for e in events} == {"Allocation", "Evaluation"}
    assert all(job_id in e["FilterKeys"] for e in events)
    evals = [e for e in events if e["Topic"] == "Evaluation"]
    assert evals[0]["Key"] == reply["EvalID"]
    assert evals[0]["Type"] == "JobRegistered"  # written with the job, named after that write
    assert evals[0]["Payload"]["Evaluation"]["JobID"] == job_id
    allocs = [e for e in events if e["Topic"] == "Allocation"]
    assert allocs[0]["Type"] == "PlanResult"
    assert allocs[-1]["Type"] == "AllocationUpdated"
    alloc = allocs[-1]["Payload"]["Allocation"]
    assert alloc["ID"] == allocs[-1]["Key"]
    assert "Job" not in alloc  # stripped from allocation events
    assert alloc["TaskStates"]["t"]["State"] == "dead"


def test_index_replays_buffered_batches_from_that_index(emulator, api):
    job_id = unique("replay")
    reply = register_mock_job(api, job_id)
    api.get(f"/v1/job/{job_id}", params={"index": reply["JobModifyIndex"], "wait": "30s"})
    live = api.get(f"/v1/job/{job_id}").json()
    stream = EventStream(emulator.nomad_addr, topic=f"Job:{job_id}", index=reply["Index"])
    try:
        lines = stream.until(lambda b: any(e["Index"] == live["ModifyIndex"] for e in b["Events"]))
    finally:
        stream.close()
    batches = [b for b in lines if b]
    assert lines[0] == {}
    assert batches[0]["Index"] == reply["Index"]  # starts at the first batch >= index
    assert batches[0]["Events"][0]["Type"] == "JobRegistered"


def test_index_zero_replays_the_buffer_and_a_later_index_only_what_follows(emulator, api):
    first, second = unique("first"), unique("second")
    register_mock_job(api, first)
    reply = register_mock_job(api, second)
    stream = EventStream(emulator.nomad_addr, topic="Job", index=0)
    later = EventStream(emulator.nomad_addr, topic="Job", index=reply["Index"])
    try:
        everything = events_of(stream.until(lambda b: any(e["Key"] == second for e in b["Events"])))
        from_later = events_of(later.until(lambda b: any(e["Key"] == second for e in b["Events"])))
    finally:
        stream.close()
        later.close()
    assert first in {e["Key"] for e in everything}
    assert first not in {e["Key"] for e in from_later}


def test_namespaces_filter_events_and_star_streams_them_all(emulator, api):
    emulator.control.create_namespace("risk")
    job_id = unique("elsewhere")
    default = EventStream(emulator.nomad_addr, topic="Job")
    everywhere = EventStream(emulator.nomad_addr, topic="Job", namespace="*")
    try:
        register_mock_job(api, job_id, namespace="risk")
        marker = unique("marker")
        register_mock_job(api, marker)
        in_default = events_of(
            default.until(lambda b: any(e["Key"] == marker for e in b["Events"]))
        )
        in_all = events_of(everywhere.until(lambda b: any(e["Key"] == marker for e in b["Events"])))
    finally:
        default.close()
        everywhere.close()
    assert job_id not in {e["Key"] for e in in_default}
    assert {"risk", "default"} <= {e["Namespace"] for e in in_all}


def test_node_events_have_no_namespace_and_pass_any_namespace(emulator, api):
    node = api.get("/v1/nodes").json()[0]
    stream = EventStream(emulator.nomad_addr, topic="Node", namespace="risk")
    try:
        response = api.post(
            f"/v1/node/{node['ID']}/eligibility",
            json={"NodeID": node["ID"], "Eligibility": "ineligible"},
        )
        assert response.status_code == 200, response.text
        events = events_of(stream.until(lambda b: b["Events"][0]["Type"] == "NodeEligibility"))
    finally:
        stream.close()
    # index 0 replays what the buffer holds: the node's registration comes first
    assert [e["Type"] for e in events] == ["NodeRegistration", "NodeEligibility"]
    event = events[-1]
    assert (event["Topic"], event["Key"]) == ("Node", node["ID"])
    assert event["Namespace"] == ""
    assert event["Payload"]["Node"]["SchedulingEligibility"] == "ineligible"
    assert "SecretID" not in event["Payload"]["Node"]


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"index": "x"}, 'Unable to parse index: strconv.Atoi: parsing "x": invalid syntax'),
        (
            {"topic": "Job:a:b"},
            "Invalid topic query: error parsing topics: "
            "Invalid key value pair for topic, topic: Job:a:b",
        ),
    ],
)
def test_bad_requests_answer_400_before_streaming(api, params, text):
    response = api.get("/v1/event/stream", params=params)
    assert (response.status_code, response.text) == (400, text)


def test_cut_breaks_open_streams_mid_body_and_later_ones_are_served(emulator, api):
    stream = EventStream(emulator.nomad_addr, topic="Job")
    try:
        assert stream.next() == {}
        emulator.control.cut_event_streams()
        line = stream.next()
        while line == {}:  # a heartbeat may come first
            line = stream.next()
        # No end of the chunked body: a broken connection, not a stream Nomad ended.
        assert isinstance(line, httpx.RemoteProtocolError), line
    finally:
        stream.close()
    later = EventStream(emulator.nomad_addr, topic="Job")
    try:
        register_mock_job(api, unique("after-cut"))
        assert events_of(later.until(lambda b: bool(b.get("Events"))))[0]["Topic"] == "Job"
    finally:
        later.close()


def test_only_get_is_allowed(api):
    response = api.post("/v1/event/stream")
    assert (response.status_code, response.text) == (405, "Invalid method")


def test_acl_every_topic_needs_its_capability(acl_emulator):
    control = acl_emulator.control
    control.reset()
    reader = control.create_token(namespaces=["default"], capabilities=["read-job"])
    addr = acl_emulator.nomad_addr
    with httpx.Client(base_url=addr, timeout=60) as client:
        for token, params in [
            ("", {"topic": "Job"}),
            ("not-a-token", {"topic": "Job"}),
            (reader, {"topic": "Node"}),
            (reader, {}),  # no topic means "*": management only
            (reader, {"topic": "Job", "namespace": "*"}),  # a namespace it cannot read
        ]:
            if params.get("namespace") == "*":
                control.create_namespace("private")
            headers = {"X-Nomad-Token": token} if token else {}
            response = client.get("/v1/event/stream", params=params, headers=headers)
            assert (response.status_code, response.text) == (403, "Permission denied"), params
    stream = EventStream(addr, token=reader, topic="Job")
    try:
        assert stream.response.status_code == 200
        assert stream.next() == {}
    finally:
        stream.close()
    manager = EventStream(addr, token=acl_emulator.token)
    try:
        assert manager.response.status_code == 200
    finally:
        manager.close()
