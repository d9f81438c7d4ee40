"""Contract: blocking queries (``index``/``wait``), their headers and their errors."""

from __future__ import annotations

import threading
import time

import pytest
from emulator_testlib import batch_job, sh_task, unique

pytestmark = pytest.mark.real_nomad


def template(api) -> str:
    job_id = unique("blk")
    body = batch_job(job_id, [sh_task("t", "true")], parameterized={"Payload": "optional"})
    api.register(body)
    return job_id


def test_every_read_carries_the_query_meta_headers(api):
    job_id = template(api)
    for path in (
        "/v1/jobs",
        f"/v1/job/{job_id}",
        f"/v1/job/{job_id}/allocations",
        f"/v1/job/{job_id}/evaluations",
        f"/v1/job/{job_id}/summary",
        "/v1/allocations",
    ):
        response = api.get(path)
        assert response.status_code == 200, path
        assert int(response.headers["X-Nomad-Index"]) > 0, path
        assert response.headers["X-Nomad-KnownLeader"] == "true", path
        assert response.headers["X-Nomad-LastContact"] == "0", path


def test_a_blocking_read_holds_for_its_wait_when_nothing_changes(api):
    job_id = template(api)
    index = api.get(f"/v1/job/{job_id}").headers["X-Nomad-Index"]
    started = time.monotonic()
    response = api.get(f"/v1/job/{job_id}", params={"index": index, "wait": "400ms"})
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.headers["X-Nomad-Index"] == index
    # The server adds up to wait/16 of jitter.
    assert 0.4 <= elapsed < 0.4 * (1 + 1 / 16) + 0.5


def test_a_blocking_read_returns_promptly_after_a_change(api):
    job_id = template(api)
    index = int(api.get(f"/v1/job/{job_id}").headers["X-Nomad-Index"])
    result: dict = {}

    def blocked_read() -> None:
        started = time.monotonic()
        result["response"] = api.get(
            f"/v1/job/{job_id}", params={"index": str(index), "wait": "20s"}
        )
        result["elapsed"] = time.monotonic() - started

    reader = threading.Thread(target=blocked_read)
    reader.start()
    # Change the job from here; the reader must wake up on it, not on its 20 s wait.
    body = batch_job(
        job_id, [sh_task("t", "true")], parameterized={"Payload": "optional"}, meta={"v": "2"}
    )
    changed = api.register(body)
    reader.join(timeout=15)
    assert not reader.is_alive()
    response = result["response"]
    assert int(response.headers["X-Nomad-Index"]) == changed["JobModifyIndex"] > index
    assert response.json()["Meta"] == {"v": "2"}
    assert result["elapsed"] < 10


def test_an_index_from_the_future_waits_then_answers_the_current_state(api):
    job_id = template(api)
    current = int(api.get(f"/v1/job/{job_id}").headers["X-Nomad-Index"])
    started = time.monotonic()
    response = api.get(f"/v1/job/{job_id}", params={"index": str(current + 10**9), "wait": "300ms"})
    assert time.monotonic() - started >= 0.3
    assert int(response.headers["X-Nomad-Index"]) == current


def test_index_zero_never_blocks(api):
    started = time.monotonic()
    response = api.get("/v1/jobs", params={"index": "0", "wait": "10s"})
    assert response.status_code == 200 and time.monotonic() - started < 5


@pytest.mark.parametrize("wait", ["abc", "5", "10x", "-"])
def test_bad_wait_is_400(api, wait):
    response = api.get("/v1/jobs", params={"index": "1", "wait": wait})
    assert (response.status_code, response.text) == (400, "Invalid wait time")


@pytest.mark.parametrize("index", ["abc", "-1", "1.5", "+3"])
def test_bad_index_is_400(api, index):
    response = api.get("/v1/jobs", params={"index": index})
    assert (response.status_code, response.text) == (400, "Invalid index")


def test_bad_stale_and_per_page_are_400(api):
    response = api.get("/v1/jobs", params={"stale": "maybe"})
    assert (response.status_code, response.text) == (
        400,
        "Expect `true` or `false` for `stale` query string parameter",
    )
    response = api.get("/v1/jobs", params={"per_page": "lots"})
    assert response.text == "Expect a number for `per_page` query string parameter"


def test_allocation_list_blocks_until_the_jobs_allocations_change(api):
    job_id = unique("allocwait")
    api.register(batch_job(job_id, [sh_task("t", "sleep 1")]))
    allocs = api.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")
    index = api.get(f"/v1/job/{job_id}/allocations").headers["X-Nomad-Index"]
    started = time.monotonic()
    response = api.get(f"/v1/job/{job_id}/allocations", params={"index": index, "wait": "30s"})
    assert time.monotonic() - started < 20
    assert int(response.headers["X-Nomad-Index"]) > int(index)
    assert response.json()[0]["ID"] == allocs[0]["ID"]
