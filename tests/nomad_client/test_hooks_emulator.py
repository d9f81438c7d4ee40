"""Both hooks against the Nomad emulator over real HTTP on loopback.

Dispatch (meta, payload, ID template, idempotency), reads, blocking queries, log streaming,
stop/purge, namespaces, ACLs, and the retry policy under injected faults.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from nomad_testlib import HANG_BOUND

from airflow_provider_nomad.exceptions import (
    NomadApiError,
    NomadConnectionError,
    NomadDispatchValidationError,
    NomadNotFoundError,
    NomadPermissionError,
    NomadTransientError,
    NomadUnreachableError,
)
from airflow_provider_nomad.hooks.nomad import NomadAsyncHook, NomadHook
from airflow_provider_nomad.nomad.follow import MAX_BLOCKING_WAIT
from airflow_provider_nomad.nomad.logs import LogFrame
from airflow_provider_nomad.retry import RetryPolicy

FAST = RetryPolicy(max_attempts=4, max_delay=20, initial_wait=0.01, max_wait=0.05)
PARENT = "settle"
DISPATCH_ROUTE = "POST /v1/job/:job_id/dispatch"
STDOUT = "settling 2026-05-04\nrows=42\ndone\n"


def parameterized_job(
    job_id: str = PARENT,
    *,
    run_for: str = "50ms",
    exit_code: int = 0,
    stdout: str = STDOUT,
    payload: str = "optional",
    namespace: str | None = None,
    config: dict | None = None,
) -> dict:
    job = {
        "ID": job_id,
        "Name": job_id,
        "Type": "batch",
        "Datacenters": ["dc1"],
        "ParameterizedJob": {
            "Payload": payload,
            "MetaRequired": ["business_date"],
            "MetaOptional": ["dry_run"],
        },
        "TaskGroups": [
            {
                "Name": "batch",
                "Count": 1,
                "Tasks": [
                    {
                        "Name": "batch",
                        "Driver": "mock_driver",
                        "Config": {
                            "run_for": run_for,
                            "exit_code": exit_code,
                            "stdout_string": stdout,
                            **(config or {}),
                        },
                        "Resources": {"CPU": 100, "MemoryMB": 64},
                    }
                ],
            }
        ],
    }
    if namespace:
        job["Namespace"] = namespace
    return job


def use_emulator(monkeypatch, emulator, *, token: str | None = None, **extra) -> None:
    conn = {"conn_type": "nomad", "host": emulator.nomad_addr, "extra": extra}
    if token:
        conn["password"] = token
    monkeypatch.setenv("AIRFLOW_CONN_NOMAD_DEFAULT", json.dumps(conn))


@pytest.fixture
def hook(monkeypatch, nomad_emulator):
    use_emulator(monkeypatch, nomad_emulator)
    hook = NomadHook(retry_policy=FAST)
    yield hook
    hook.close()


@pytest.fixture
async def ahook(monkeypatch, nomad_emulator):
    use_emulator(monkeypatch, nomad_emulator)
    async with NomadAsyncHook(retry_policy=FAST) as hook:
        yield hook


def dispatch(hook: NomadHook, token: str | None = "af-k1-try1", **kwargs) -> dict:
    return hook.dispatch_job(
        PARENT,
        meta=kwargs.pop("meta", {"business_date": "2026-05-04"}),
        payload=kwargs.pop("payload", None),
        id_prefix_template=kwargs.pop("id_prefix_template", "af-k1"),
        idempotency_token=token,
    )


async def wait_until_dead(ahook: NomadAsyncHook, job_id: str) -> list[dict]:
    """Follow the job's allocations with blocking queries until all are terminal."""
    index = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        allocs, index = await ahook.get_job_allocations(job_id, index=index, wait=5)
        if allocs and all(a["ClientStatus"] in ("complete", "failed", "lost") for a in allocs):
            return allocs
    raise AssertionError(f"{job_id} did not finish")


# -- sync hook: the dispatch flow --


def test_register_get_and_dispatch(hook, nomad_emulator):
    registered = hook.register_job(parameterized_job())
    assert "EvalID" in registered or "JobModifyIndex" in registered
    parent = hook.get_job(PARENT)
    assert parent["ParameterizedJob"]["MetaRequired"] == ["business_date"]

    result = dispatch(hook, payload=b'{"accounts":[1,2]}', meta={"business_date": "2026-05-04"})
    child_id = result["DispatchedJobID"]
    assert child_id.startswith(f"{PARENT}/dispatch-af-k1-")
    assert result["EvalID"]

    child = hook.get_job(child_id)  # an ID with "/" travels as one escaped path segment
    assert child["ParentID"] == PARENT
    assert child["Dispatched"] is True
    assert child["Meta"]["business_date"] == "2026-05-04"
    assert [j["ID"] for j in hook.list_jobs(f"{PARENT}/dispatch-af-k1")] == [child_id]
    assert hook.get_evaluation(result["EvalID"])["ID"] == result["EvalID"]
    assert any(e["ID"] == result["EvalID"] for e in hook.get_job_evaluations(child_id))


def test_idempotent_dispatch_returns_the_same_child(hook):
    hook.register_job(parameterized_job())
    first = dispatch(hook, token="af-k1-try1")
    again = dispatch(hook, token="af-k1-try1")
    assert again["DispatchedJobID"] == first["DispatchedJobID"]
    assert again["EvalID"] == ""
    other = dispatch(hook, token="af-k1-try2")
    assert other["DispatchedJobID"] != first["DispatchedJobID"]
    assert len(hook.list_jobs(f"{PARENT}/dispatch-af-k1")) == 2


def test_dispatch_validation_error_is_typed_and_not_retried(hook, nomad_emulator):
    hook.register_job(parameterized_job())
    nomad_emulator.control.reset_counts()
    with pytest.raises(NomadDispatchValidationError) as info:
        dispatch(hook, meta={"business_date": "d", "unknown": "x"})
    assert info.value.status == 500
    assert "unpermitted metadata keys" in info.value.message
    assert info.value.path == f"/v1/job/{PARENT}/dispatch"
    assert nomad_emulator.control.request_counts(service="nomad")[DISPATCH_ROUTE] == 1


def test_dispatch_of_missing_parent(hook):
    with pytest.raises(NomadDispatchValidationError, match="parameterized job not found"):
        dispatch(hook)


def test_not_found_is_typed(hook):
    with pytest.raises(NomadNotFoundError) as info:
        hook.get_job("nope")
    assert info.value.status == 404
    with pytest.raises(NomadNotFoundError):
        hook.get_evaluation("00000000-0000-0000-0000-000000000000")
    assert hook.get_job_allocations("nope") == []


def test_stop_and_purge(hook):
    hook.register_job(parameterized_job(run_for="30s"))
    child_id = dispatch(hook)["DispatchedJobID"]
    stopped = hook.stop_job(child_id)
    assert stopped["EvalID"]
    assert hook.get_job(child_id)["Stop"] is True
    hook.stop_job(child_id, purge=True)
    with pytest.raises(NomadNotFoundError):
        hook.get_job(child_id)


def test_job_ui_url_and_test_connection(hook, nomad_emulator):
    assert hook.job_ui_url("settle/dispatch-x") == (
        f"{nomad_emulator.nomad_addr}/ui/jobs/settle%2Fdispatch-x@default"
    )
    ok, message = hook.test_connection()
    assert ok, message
    assert nomad_emulator.nomad_addr in message


def test_test_connection_reports_failure(monkeypatch, closed_port):
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOMAD_DEFAULT",
        json.dumps({"conn_type": "nomad", "host": f"http://127.0.0.1:{closed_port}"}),
    )
    ok, message = NomadHook(retry_policy=RetryPolicy(max_attempts=1)).test_connection()
    assert not ok
    assert f"Cannot reach Nomad at http://127.0.0.1:{closed_port}" in message


async def test_read_alloc_file_and_allocations(hook, ahook):
    hook.register_job(parameterized_job())
    child_id = dispatch(hook)["DispatchedJobID"]
    [alloc] = await wait_until_dead(ahook, child_id)
    assert alloc["ClientStatus"] == "complete"
    full = hook.get_allocation(alloc["ID"])
    assert full["JobID"] == child_id
    assert full["TaskStates"]["batch"]["State"] == "dead"
    assert hook.read_alloc_file(alloc["ID"], "alloc/logs/batch.stdout.0") == STDOUT.encode()
    assert await ahook.read_alloc_file(alloc["ID"], "alloc/logs/batch.stdout.0") == (
        STDOUT.encode()
    )


# -- namespaces and ACLs --


def test_namespace_scopes_every_call(monkeypatch, nomad_emulator):
    nomad_emulator.control.create_namespace("batch")
    use_emulator(monkeypatch, nomad_emulator, namespace="batch")
    scoped = NomadHook(retry_policy=FAST)
    scoped.register_job(parameterized_job(namespace="batch"))
    result = dispatch(scoped)
    assert scoped.get_evaluation(result["EvalID"])["Namespace"] == "batch"
    default = NomadHook(namespace="default", retry_policy=FAST)
    with pytest.raises(NomadNotFoundError):
        default.get_job(PARENT)
    with pytest.raises(NomadDispatchValidationError, match="parameterized job not found"):
        dispatch(default)


def test_acl_without_token_is_a_permission_error_with_hint(monkeypatch, nomad_emulator_acl):
    use_emulator(monkeypatch, nomad_emulator_acl)
    hook = NomadHook(retry_policy=FAST)
    with pytest.raises(NomadPermissionError) as info:
        hook.get_job(PARENT)
    assert info.value.status == 403
    assert "'read-job' capability in namespace 'default'" in str(info.value)


def test_acl_unknown_token(monkeypatch, nomad_emulator_acl):
    unknown = "00000000-dead-beef-0000-000000000000"
    use_emulator(monkeypatch, nomad_emulator_acl, token=unknown)
    with pytest.raises(NomadPermissionError) as info:
        NomadHook(retry_policy=FAST).list_jobs("x")
    # Nomad's servers say "Permission denied" (or "ACL token not found"): either way the
    # message points at the token, never quoting it.
    assert "check that the token in the connection's password field exists" in str(
        info.value
    ) or "Nomad does not know the ACL token" in str(info.value)
    assert unknown not in str(info.value)


def test_acl_missing_capability_names_it(monkeypatch, nomad_emulator_acl):
    use_emulator(monkeypatch, nomad_emulator_acl, token=nomad_emulator_acl.token)
    NomadHook(retry_policy=FAST).register_job(parameterized_job())
    reader = nomad_emulator_acl.control.create_token(
        namespaces=("default",), capabilities=("read-job",)
    )
    use_emulator(monkeypatch, nomad_emulator_acl, token=reader)
    hook = NomadHook(retry_policy=FAST)
    assert hook.get_job(PARENT)["ID"] == PARENT
    with pytest.raises(NomadPermissionError) as info:
        dispatch(hook)
    assert "'dispatch-job' capability" in str(info.value)
    assert reader not in str(info.value)


# -- retries under injected faults --


def test_sync_retries_no_cluster_leader(hook, nomad_emulator):
    hook.register_job(parameterized_job())
    ctl = nomad_emulator.control
    ctl.reset_counts()
    ctl.inject_fault(route="GET /v1/job/:job_id", status=500, body="No cluster leader", count=2)
    assert hook.get_job(PARENT)["ID"] == PARENT
    assert ctl.request_counts(service="nomad")["GET /v1/job/:job_id"] == 3


def test_sync_gives_up_after_the_bounded_attempts(hook, nomad_emulator):
    ctl = nomad_emulator.control
    ctl.inject_fault(route="GET /v1/jobs", status=500, body="No cluster leader", count=100)
    with pytest.raises(NomadTransientError, match="No cluster leader"):
        hook.list_jobs("x")
    assert ctl.request_counts(service="nomad")["GET /v1/jobs"] == FAST.max_attempts


def test_dropped_dispatch_with_token_is_retried_into_one_child(hook, nomad_emulator):
    hook.register_job(parameterized_job())
    ctl = nomad_emulator.control
    ctl.reset_counts()
    ctl.inject_fault(route=DISPATCH_ROUTE, drop=True, count=1)
    result = dispatch(hook, token="af-k1-try1")
    assert ctl.request_counts(service="nomad")[DISPATCH_ROUTE] == 2
    assert [j["ID"] for j in hook.list_jobs(f"{PARENT}/dispatch-af-k1")] == [
        result["DispatchedJobID"]
    ]


def test_dropped_dispatch_without_token_is_not_resent(hook, nomad_emulator):
    hook.register_job(parameterized_job())
    ctl = nomad_emulator.control
    ctl.reset_counts()
    ctl.inject_fault(route=DISPATCH_ROUTE, drop=True, count=1)
    with pytest.raises(NomadUnreachableError) as info:
        dispatch(hook, token=None)
    assert info.value.request_sent is True
    assert ctl.request_counts(service="nomad")[DISPATCH_ROUTE] == 1


async def test_async_retries_transient_errors_and_drops(ahook, hook, nomad_emulator):
    hook.register_job(parameterized_job())
    ctl = nomad_emulator.control
    ctl.reset_counts()
    ctl.inject_fault(route="GET /v1/job/:job_id", status=503, body="", count=1)
    ctl.inject_fault(route="GET /v1/job/:job_id", drop=True, count=1)
    assert (await ahook.get_job(PARENT))["ID"] == PARENT
    assert ctl.request_counts(service="nomad")["GET /v1/job/:job_id"] == 3


async def test_async_read_timeout(monkeypatch, nomad_emulator):
    use_emulator(monkeypatch, nomad_emulator)
    ctl = nomad_emulator.control
    ctl.inject_fault(route="GET /v1/job/:job_id", delay=2.0, count=10)
    policy = RetryPolicy(max_attempts=2, initial_wait=0.01, max_wait=0.01)
    async with NomadAsyncHook(timeout=0.3, retry_policy=policy) as ahook:
        with pytest.raises(NomadUnreachableError) as info:
            await ahook.get_job(PARENT)
    assert str(info.value) == (
        f"Nomad at {nomad_emulator.nomad_addr} did not answer GET /v1/job/{PARENT} within 0.3 s"
    )


async def test_async_permission_denied_as_500_is_not_retried(ahook, nomad_emulator):
    ctl = nomad_emulator.control
    ctl.reset_counts()
    ctl.inject_fault(route="*", status=500, body="Permission denied", count=5)
    with pytest.raises(NomadPermissionError) as info:
        await ahook.get_job(PARENT)
    assert info.value.status == 500
    assert ctl.total_requests(service="nomad") == 1


# -- async hook: blocking queries --


async def test_blocking_query_returns_on_change(ahook, hook):
    hook.register_job(parameterized_job(run_for="200ms"))
    child_id = dispatch(hook)["DispatchedJobID"]
    allocs, index = await ahook.get_job_allocations(child_id)
    assert index > 0
    started = time.monotonic()
    changed, new_index = await ahook.get_job_allocations(
        child_id, index=index, wait=MAX_BLOCKING_WAIT
    )
    assert new_index > index
    # Woken by the change: the wait, the longest Nomad allows, would have ended later.
    assert time.monotonic() - started < MAX_BLOCKING_WAIT
    assert changed != allocs or changed[0]["ModifyIndex"] > index


async def test_blocking_query_times_out_with_same_index(ahook, hook):
    hook.register_job(parameterized_job())
    evaluation_id = dispatch(hook)["EvalID"]
    evaluation, index = await ahook.get_evaluation(evaluation_id)
    # The eval settles fast; once terminal, a blocking read waits out its wait unchanged.
    while evaluation["Status"] == "pending":
        evaluation, index = await ahook.get_evaluation(evaluation_id, index=index, wait=5)
    started = time.monotonic()
    again, same = await ahook.get_evaluation(evaluation_id, index=index, wait=0.5)
    assert same == index
    assert again["Status"] == evaluation["Status"]
    # It waited out its own 0.5 s wait, not the default 5 minutes.
    assert 0.4 <= time.monotonic() - started < MAX_BLOCKING_WAIT


async def test_concurrent_blocking_queries_share_one_client(ahook, hook):
    hook.register_job(parameterized_job(run_for="300ms"))
    ids = [dispatch(hook, token=f"t{i}")["DispatchedJobID"] for i in range(3)]
    results = await asyncio.gather(*(wait_until_dead(ahook, job_id) for job_id in ids))
    assert [a[0]["ClientStatus"] for a in results] == ["complete"] * 3
    client = ahook._client
    assert client is not None
    await ahook.aclose()
    assert ahook._client is None and client.is_closed


# -- async hook: logs --


async def collect(ahook, alloc_id, stream="stdout", offset=0, follow=False) -> list[LogFrame]:
    return [
        f async for f in ahook.stream_logs(alloc_id, "batch", stream, offset=offset, follow=follow)
    ]


async def test_stream_logs_after_the_task_ended(ahook, hook):
    hook.register_job(parameterized_job())
    [alloc] = await wait_until_dead(ahook, dispatch(hook)["DispatchedJobID"])
    frames = await collect(ahook, alloc["ID"])
    assert b"".join(f.data for f in frames) == STDOUT.encode()
    assert all(f.file and f.file.endswith("batch.stdout.0") for f in frames if f.data)
    assert await collect(ahook, alloc["ID"], stream="stderr") == []


async def test_stream_logs_resumes_from_an_offset(ahook, hook):
    hook.register_job(parameterized_job())
    [alloc] = await wait_until_dead(ahook, dispatch(hook)["DispatchedJobID"])
    frames = await collect(ahook, alloc["ID"], offset=10)
    assert b"".join(f.data for f in frames) == STDOUT.encode()[10:]


TICKS = {"stdout_repeat": 4, "stdout_repeat_duration": "300ms"}
TICKED = b"tick\n" * 5


async def started_alloc(ahook: NomadAsyncHook, job_id: str) -> dict:
    """Wait (blocking queries) until the job's task has started; return its allocation."""
    index = 0
    while True:
        allocs, index = await ahook.get_job_allocations(job_id, index=index, wait=5)
        states = allocs[0].get("TaskStates") if allocs else None
        if states and states["batch"]["State"] in ("running", "dead"):
            return allocs[0]


async def read_until(frames, size: int) -> bytes:
    """Consume a followed stream until ``size`` bytes came, then stop reading it."""
    data = b""
    async for frame in frames:
        data += frame.data
        if len(data) >= size:
            break
    await frames.aclose()
    return data


async def test_stream_logs_follow_a_running_task(ahook, hook):
    hook.register_job(parameterized_job(run_for="1500ms", stdout="tick\n", config=TICKS))
    alloc = await started_alloc(ahook, dispatch(hook)["DispatchedJobID"])
    # Nomad keeps a followed stream open (heartbeats) even after the task ends: the caller
    # decides when it has read enough.
    frames = ahook.stream_logs(alloc["ID"], "batch", "stdout", offset=0, follow=True)
    assert await asyncio.wait_for(read_until(frames, len(TICKED)), HANG_BOUND) == TICKED


async def test_stream_logs_resume_mid_follow_without_duplicates(ahook, hook):
    hook.register_job(parameterized_job(run_for="1500ms", stdout="tick\n", config=TICKS))
    alloc = await started_alloc(ahook, dispatch(hook)["DispatchedJobID"])
    first = ahook.stream_logs(alloc["ID"], "batch", "stdout", offset=0, follow=True)
    head = await asyncio.wait_for(read_until(first, 1), HANG_BOUND)  # a drop after one frame
    rest = ahook.stream_logs(alloc["ID"], "batch", "stdout", offset=len(head), follow=True)
    tail = await asyncio.wait_for(read_until(rest, len(TICKED) - len(head)), HANG_BOUND)
    assert head + tail == TICKED


async def test_stream_logs_unknown_allocation(ahook):
    with pytest.raises(NomadNotFoundError, match="Unknown allocation"):
        await collect(ahook, "00000000-0000-0000-0000-000000000000")


async def test_stream_logs_unknown_task(ahook, hook):
    hook.register_job(parameterized_job())
    [alloc] = await wait_until_dead(ahook, dispatch(hook)["DispatchedJobID"])
    with pytest.raises(NomadApiError, match='unknown task name "nope"') as info:
        [f async for f in ahook.stream_logs(alloc["ID"], "nope", "stdout", offset=0, follow=False)]
    assert info.value.status == 400


# -- sync hook: logs of a finished task --


async def test_read_log_returns_the_plain_bytes_from_an_offset(ahook, hook):
    hook.register_job(parameterized_job())
    [alloc] = await wait_until_dead(ahook, dispatch(hook)["DispatchedJobID"])
    assert b"".join(hook.read_log(alloc["ID"], "batch", "stdout")) == STDOUT.encode()
    assert (
        b"".join(hook.read_log(alloc["ID"], "batch", "stdout", offset=10)) == (STDOUT.encode()[10:])
    )
    assert b"".join(hook.read_log(alloc["ID"], "batch", "stderr")) == b""


async def test_read_log_retries_opening_and_types_errors(ahook, hook, nomad_emulator):
    hook.register_job(parameterized_job())
    [alloc] = await wait_until_dead(ahook, dispatch(hook)["DispatchedJobID"])
    nomad_emulator.control.inject_fault("GET /v1/client/fs/logs/:alloc_id", count=1)
    assert b"".join(hook.read_log(alloc["ID"], "batch", "stdout")) == STDOUT.encode()
    with pytest.raises(NomadNotFoundError, match="Unknown allocation"):
        list(hook.read_log("00000000-0000-0000-0000-000000000000", "batch", "stdout"))


async def test_sync_hook_shares_the_async_hooks_settings_and_closes_with_it(ahook, hook):
    with pytest.raises(NomadConnectionError, match="await get_settings"):
        ahook.sync_hook()
    settings = await ahook.get_settings()
    twin = ahook.sync_hook()
    assert twin is ahook.sync_hook()
    assert twin.settings is settings
    assert (twin.nomad_conn_id, twin.namespace, twin.region) == (
        ahook.nomad_conn_id,
        ahook.namespace,
        ahook.region,
    )
    twin.get_conn()
    await ahook.aclose()
    assert twin._client is None
    assert ahook.sync_hook() is not twin
