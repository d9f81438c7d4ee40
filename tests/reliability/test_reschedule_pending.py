"""A failed allocation that Nomad is about to reschedule is not the batch's end.

Nomad writes a failed allocation together with an ``alloc-failure`` evaluation when the
reschedule policy allows another attempt (``Node.UpdateAlloc``); only when a scheduler worker
processes that evaluation does the allocation name its replacement (``NextAllocation``) or a
delayed follow-up (``FollowupEvalID``). In between, for as long as the evaluation waits for a
worker, the allocation looks final. Calling the batch failed then fails the task while Nomad
runs the batch again, unwatched, and the task's retry dispatches it a third time.

The emulator's scheduler is held here to keep that window open for as long as the test needs.
"""

from __future__ import annotations

import asyncio

import pytest
from nomad_testlib import HANG_BOUND, batch_job, dispatch

from airflow_provider_nomad.hooks.nomad import NomadAsyncHook
from airflow_provider_nomad.nomad.follow import JobFollower
from airflow_provider_nomad.nomad.outcome import JobResult, failed_without_followup


def first_attempt_fails_when(release, marker) -> str:
    return f"""
        import os, sys, time
        if not os.path.exists({str(marker)!r}):
            open({str(marker)!r}, "w").close()
            while not os.path.exists({str(release)!r}):
                time.sleep(0.05)
            print("first attempt fails")
            sys.exit(1)
        print("second attempt succeeds")
    """


@pytest.fixture
def held_scheduler(nomad_conn):
    yield nomad_conn.control
    nomad_conn.control.release_scheduler()


async def wait_until(condition, what: str) -> None:
    """Until ``condition()`` holds (the follower's state changes without notifying anyone)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_BOUND
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("shared_watch", [False, True], ids=["blocking-queries", "event-stream"])
async def test_a_failure_waiting_for_its_reschedule_is_followed_to_the_replacement(
    nomad_conn, nomad_client, held_scheduler, tmp_path, shared_watch
):
    release, marker = tmp_path / "fail-now", tmp_path / "first-attempt"
    job = batch_job("resched", first_attempt_fails_when(release, marker), reschedule_attempts=1)
    nomad_client.jobs.register_job({"Job": job})
    child = dispatch(nomad_client, "resched")
    job_id = child["DispatchedJobID"]
    [first] = await asyncio.to_thread(
        nomad_conn.control.wait_allocations,
        job_id,
        lambda stubs: [a for a in stubs if a["ClientStatus"] == "running"],
    )

    async with NomadAsyncHook() as hook:
        changes = None
        if shared_watch:
            from airflow_provider_nomad.nomad.job_watch import watch_for

            changes = watch_for(
                "nomad_default", None, None, lambda: NomadAsyncHook("nomad_default")
            )
        follower = JobFollower(
            hook, job_id, dispatch_eval_id=child["EvalID"], follow_logs=False, changes=changes
        )
        following = asyncio.ensure_future(follower.run())

        held_scheduler.hold_scheduler()  # the alloc-failure evaluation will wait for a worker
        release.touch()
        # The follower has seen the failed allocation, with no replacement named yet.
        await wait_until(
            lambda: following.done() or failed_without_followup(follower.allocations),
            "the follower to see the failed allocation",
        )
        assert not following.done(), f"ended on a failure being rescheduled: {following.result()}"

        held_scheduler.release_scheduler()
        outcome = await asyncio.wait_for(following, HANG_BOUND)

    assert outcome.result is JobResult.SUCCEEDED, outcome.reason
    assert outcome.alloc_ids[0] == first["ID"] and len(outcome.alloc_ids) == 2
    assert outcome.final_alloc_ids == outcome.alloc_ids[1:]


async def test_a_failure_nomad_will_not_reschedule_ends_the_batch(
    nomad_conn, nomad_client, held_scheduler, tmp_path
):
    # No reschedule attempt left: Nomad writes no evaluation, and the failure is final at once,
    # held scheduler or not.
    release, marker = tmp_path / "fail-now", tmp_path / "first-attempt"
    job = batch_job("final", first_attempt_fails_when(release, marker), reschedule_attempts=0)
    nomad_client.jobs.register_job({"Job": job})
    child = dispatch(nomad_client, "final")
    job_id = child["DispatchedJobID"]
    await asyncio.to_thread(
        nomad_conn.control.wait_allocations,
        job_id,
        lambda stubs: [a for a in stubs if a["ClientStatus"] == "running"],
    )
    held_scheduler.hold_scheduler()
    release.touch()
    async with NomadAsyncHook() as hook:
        follower = JobFollower(hook, job_id, dispatch_eval_id=child["EvalID"], follow_logs=False)
        outcome = await asyncio.wait_for(follower.run(), HANG_BOUND)
    assert outcome.result is JobResult.FAILED
    assert "exited with code 1" in outcome.reason
    assert len(outcome.alloc_ids) == 1
