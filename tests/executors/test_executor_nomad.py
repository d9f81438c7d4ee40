"""NomadExecutor in this process against the emulator, on mock-driver runner jobs."""

from __future__ import annotations

import base64
import json
import time
from urllib.parse import quote

import pytest
from executor_inproc_testlib import BOUND, drive, end_event, ti_like, workload

from airflow_provider_nomad.nomad import snappy
from airflow_provider_nomad.nomad.dispatch_input import MAX_PAYLOAD_BYTES


def _children(nomad, runner: str = "runner-ok") -> list[dict]:
    stubs = nomad.get("/v1/jobs", params={"prefix": f"{runner}/dispatch-", "meta": "true"}).json()
    return sorted(stubs, key=lambda s: s["CreateIndex"])


def _job(nomad, job_id: str) -> dict:
    return nomad.get(f"/v1/job/{quote(job_id, safe='')}").json()


def _dispatches(runners) -> int:
    return runners.control.request_counts().get("POST /v1/job/:job_id/dispatch", 0)


def test_a_try_runs_as_one_child_whose_payload_is_the_workload(make_executor, nomad):
    executor = make_executor()
    work = workload(executor_config={"nomad": {"meta": {"desk": "rates"}}})
    executor.queue_workload(work, session=None)

    state, info = end_event(executor, work.ti.key)

    assert state == "success"
    [child] = _children(nomad)
    assert info == child["ID"]
    job = _job(nomad, child["ID"])
    assert job["Meta"] == {
        "desk": "rates",
        "airflow_dag_id": "d",
        "airflow_task_id": "t",
        "airflow_run_id": "manual__2026-01-01",
        "airflow_try_number": "1",
        "airflow_map_index": "-1",
    }
    assert snappy.decompress(base64.b64decode(job["Payload"])).decode() == work.model_dump_json()
    # The token travels in the payload only.
    assert work.token in snappy.decompress(base64.b64decode(job["Payload"])).decode()
    assert work.token not in json.dumps(job["Meta"]) + job["ID"]
    assert work.ti.key not in executor.running


def test_a_try_dispatched_again_gets_the_child_the_first_dispatch_created(
    make_executor, nomad, runners
):
    """A restarted scheduler (or a retried request) never runs a try twice."""
    work = workload(executor_config={"nomad": {"runner_job_id": "runner-long"}})
    first = make_executor()
    first.queue_workload(work, session=None)
    child_id = drive(first, lambda: first._children.get(work.ti.key), "the dispatch")[1]
    first.end()

    second = make_executor()
    second.queue_workload(work, session=None)
    again = drive(second, lambda: second._children.get(work.ti.key), "the second dispatch")[1]

    assert again == child_id
    assert [c["ID"] for c in _children(nomad, "runner-long")] == [child_id]
    assert _dispatches(runners) == 2


def test_the_next_try_is_a_new_child(make_executor, nomad):
    executor = make_executor()
    for try_number in (1, 2):
        work = workload(try_number=try_number)
        executor.queue_workload(work, session=None)
        assert end_event(executor, work.ti.key)[0] == "success"
    tries = [c["Meta"]["airflow_try_number"] for c in _children(nomad)]
    assert tries == ["1", "2"]


def test_a_try_that_runs_again_runs_in_a_child_of_its_own(make_executor, nomad, runners):
    """A resumed deferral or a rescheduled poke runs the same try again: a new child."""
    executor = make_executor()
    work = workload()
    first = second = None
    for _ in range(2):
        executor.queue_workload(work, session=None)
        state, child_id = end_event(executor, work.ti.key)
        assert state == "success"
        first, second = second, child_id
    assert first != second
    assert [c["ID"] for c in _children(nomad)] == [first, second]
    assert [c["Meta"]["airflow_try_number"] for c in _children(nomad)] == ["1", "1"]
    assert _dispatches(runners) == 2


def test_the_end_of_a_tries_earlier_run_does_not_end_its_new_run(make_executor, nomad):
    """The earlier run's child may end after the try was queued again (it is still tearing
    down when a short deferral resumes): the try goes on in its new child."""
    executor = make_executor()
    work = workload(executor_config={"nomad": {"runner_job_id": "runner-long"}})
    executor.queue_workload(work, session=None)
    _, earlier = drive(executor, lambda: executor._children.get(work.ti.key), "the first run")
    drive(executor, lambda: _job(nomad, earlier)["Status"] == "running", "the first run to run")

    executor.queue_workload(work, session=None)
    _, later = drive(
        executor,
        lambda: (c := executor._children.get(work.ti.key)) and c[1] != earlier and c,
        "the second run's dispatch",
    )
    executor.get_event_buffer()
    nomad.delete(f"/v1/job/{quote(earlier, safe='')}")
    drive(executor, lambda: _job(nomad, earlier)["Status"] == "dead", "the first run's end")
    watch = executor._watches["runner-long"]
    jobs_index = int(nomad.get("/v1/jobs").headers["X-Nomad-Index"])
    drive(executor, lambda: watch.index >= jobs_index, "the watch to see the first run's end")

    assert executor.get_event_buffer() == {}
    assert work.ti.key in executor.running
    assert watch.watching() == [later]
    # The try ends with its new child.
    nomad.delete(f"/v1/job/{quote(later, safe='')}")
    state, reason = end_event(executor, work.ti.key)
    assert state == "failed" and later in reason, reason


def test_one_blocking_query_watches_all_running_children(make_executor, nomad, runners):
    executor = make_executor()
    works = [
        workload(task_id=f"t{i}", executor_config={"nomad": {"runner_job_id": "runner-long"}})
        for i in range(20)
    ]
    for work in works:
        executor.queue_workload(work, session=None)
    drive(executor, lambda: len(executor._children) == 20, "20 children")
    watch = executor._watches["runner-long"]
    drive(
        executor,
        lambda: all(_job(nomad, c)["Status"] == "running" for _, c in executor._children.values()),
        "every child to run",
    )
    # Once the watch has seen the last change, 100 heartbeats (a scheduler's ~2 minutes)
    # cost at most the one blocking query it sends next, whatever the number of tasks.
    jobs_index = int(nomad.get("/v1/jobs").headers["X-Nomad-Index"])
    drive(executor, lambda: watch.index >= jobs_index, "the watch to see every change")
    runners.control.reset_counts()
    for _ in range(100):
        executor.heartbeat()
    counts = runners.control.request_counts()
    assert set(counts) <= {"GET /v1/jobs"} and counts.get("GET /v1/jobs", 0) <= 1, counts
    assert watch.watching() == sorted(c for _, c in executor._children.values())


def _until(condition, what: str):
    """``condition()``'s first truthy value, without heartbeats; bounded against hangs."""
    deadline = time.monotonic() + BOUND
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {BOUND:g} s")
        time.sleep(0.05)
    return value


def test_a_child_that_ends_before_the_watch_tracks_it_is_reported_at_once(
    make_executor, nomad, monkeypatch
):
    """The child's changes wake the watch's query before the next heartbeat hands the child to
    the watch: the watch must look again shortly, not after its whole wait (300 s here)."""
    monkeypatch.setenv("AIRFLOW__NOMAD_EXECUTOR__WATCH_WAIT_SECONDS", "300")
    executor = make_executor()
    long = {"nomad": {"runner_job_id": "runner-long"}}
    running = workload(task_id="running", executor_config=long)
    executor.queue_workload(running, session=None)
    _, running_id = drive(executor, lambda: executor._children.get(running.ti.key), "dispatch")
    watch = executor._watches["runner-long"]
    jobs_index = int(nomad.get("/v1/jobs").headers["X-Nomad-Index"])
    drive(executor, lambda: watch.index >= jobs_index, "the watch to park")

    quick = workload(task_id="quick", executor_config=long)
    executor.queue_workload(quick, session=None)
    executor.heartbeat()  # sends the dispatch; no heartbeat applies it until the child ended
    quick_id = _until(
        lambda: next(
            (c["ID"] for c in _children(nomad, "runner-long") if c["ID"] != running_id), None
        ),
        "the second child",
    )
    nomad.delete(f"/v1/job/{quote(quick_id, safe='')}")
    _until(lambda: _job(nomad, quick_id)["Status"] == "dead", "the second child's end")
    jobs_index = int(nomad.get("/v1/jobs").headers["X-Nomad-Index"])
    _until(lambda: watch.index >= jobs_index, "the watch to answer past that end")

    state, reason = end_event(executor, quick.ti.key)
    assert state == "failed" and quick_id in reason and "stopped" in reason, reason
    assert watch.watching() == [running_id]


def test_an_unplaceable_child_fails_its_try_with_the_reason_and_is_stopped(make_executor, nomad):
    executor = make_executor()
    work = workload(executor_config={"nomad": {"runner_job_id": "runner-docker"}})
    executor.queue_workload(work, session=None)

    state, reason = end_event(executor, work.ti.key)

    assert state == "failed"
    assert "placement_failed" in reason and "could not be placed" in reason, reason
    assert "docker" in reason, reason
    [child] = _children(nomad, "runner-docker")
    assert _job(nomad, child["ID"])["Stop"] is True


def test_a_child_failing_before_the_task_process_starts_fails_the_try(make_executor):
    executor = make_executor()
    work = workload(executor_config={"nomad": {"runner_job_id": "runner-start-error"}})
    executor.queue_workload(work, session=None)

    state, reason = end_event(executor, work.ti.key)

    assert state == "failed"
    assert "image pull failed: no such image" in reason, reason


def test_a_lost_child_fails_its_try(make_executor, nomad, runners):
    executor = make_executor()
    work = workload(executor_config={"nomad": {"runner_job_id": "runner-long"}})
    executor.queue_workload(work, session=None)
    _, child_id = drive(executor, lambda: executor._children.get(work.ti.key), "the dispatch")
    allocs = drive(
        executor,
        lambda: [
            a
            for a in nomad.get(f"/v1/job/{quote(child_id, safe='')}/allocations").json()
            if a["ClientStatus"] == "running"
        ],
        "the child to run",
    )
    runners.control.node_down(allocs[0]["NodeID"])

    state, reason = end_event(executor, work.ti.key)

    assert state == "failed"
    assert "lost" in reason, reason


def test_revoke_stops_that_child_only(make_executor, nomad):
    executor = make_executor()
    works = [
        workload(task_id=name, executor_config={"nomad": {"runner_job_id": "runner-long"}})
        for name in ("revoked", "kept")
    ]
    for work in works:
        executor.queue_workload(work, session=None)
    drive(executor, lambda: len(executor._children) == 2, "both dispatches")
    revoked, kept = (executor._children[w.ti.key][1] for w in works)
    executor.get_event_buffer()

    executor.revoke_task(ti=ti_like(works[0]))

    assert _job(nomad, revoked)["Stop"] is True
    assert _job(nomad, kept)["Stop"] is False
    assert works[0].ti.key not in executor.running
    assert works[1].ti.key in executor.running
    executor.heartbeat()
    assert executor.get_event_buffer() == {}


def test_end_leaves_children_running_and_the_next_executor_adopts_them(make_executor, nomad):
    work = workload(executor_config={"nomad": {"runner_job_id": "runner-long"}})
    orphan = workload(task_id="never-dispatched")
    first = make_executor()
    first.queue_workload(work, session=None)
    _, child_id = drive(first, lambda: first._children.get(work.ti.key), "the dispatch")
    first.end()
    assert _job(nomad, child_id)["Stop"] is False

    second = make_executor()
    not_adopted = second.try_adopt_task_instances([ti_like(work, child_id), ti_like(orphan)])

    assert [t.key for t in not_adopted] == [orphan.ti.key]
    assert second._children[work.ti.key] == ("runner-long", child_id)
    # It follows the adopted child to its end: stop it from outside.
    nomad.delete(f"/v1/job/{quote(child_id, safe='')}")
    state, reason = end_event(second, work.ti.key)
    assert state == "failed" and "stopped" in reason, reason


def test_a_workload_over_the_payload_limit_fails_before_any_dispatch(make_executor, runners):
    executor = make_executor()
    work = workload(dag_rel_path="dags/" + "d" * MAX_PAYLOAD_BYTES + ".py")
    executor.queue_workload(work, session=None)

    state, reason = end_event(executor, work.ti.key)

    assert state == "failed"
    assert "over Nomad's dispatch payload limit of 16384 bytes" in reason
    assert work.token not in reason
    assert _dispatches(runners) == 0


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"nomad": {"runner": "x"}}, "unknown keys ['runner']"),
        ({"nomad": {"meta": {"airflow_try_number": "9"}}}, "reserved"),
        ({"nomad": {"meta": {"batch": 5}}}, "must be strings"),
        ({"nomad": {"meta": {"not_allowed": "x"}}}, "not allowed by the job"),
        ({"nomad": {"runner_job_id": "no-such-runner"}}, "does not exist"),
    ],
)
def test_bad_executor_config_fails_the_try_and_dispatches_nothing(
    make_executor, runners, config, message
):
    executor = make_executor()
    work = workload(executor_config=config)
    executor.queue_workload(work, session=None)

    state, reason = end_event(executor, work.ti.key)

    assert state == "failed"
    assert message in reason, reason
    assert _dispatches(runners) == 0


def test_running_try_log_is_read_from_its_allocation(make_executor, nomad):
    executor = make_executor()
    work = workload(executor_config={"nomad": {"runner_job_id": "runner-long"}})
    executor.queue_workload(work, session=None)
    _, child_id = drive(executor, lambda: executor._children.get(work.ti.key), "the dispatch")

    sources, lines = drive(
        executor,
        lambda: (got := executor.get_task_log(ti_like(work), 1))[1] and got,
        "the log",
    )

    assert lines == ["long"]
    assert child_id in sources[0]
    assert executor.get_task_log(ti_like(work), 2) == ([], [])
