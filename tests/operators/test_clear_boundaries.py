"""A try looks only at the jobs since the task instance was last cleared (from the newest job
a cleared try marked on): a result from before a clear is not read again, and a batch from
before it is not adopted, while the batches of a plain retry are.

The try's steps are called directly over real HTTP, with the try numbers and ``cleared`` flags
Airflow gives them (the real deployment in ``tests/reliability/test_clear_then_retry.py`` shows
that it does).
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest
from nomad_testlib import HANG_BOUND, NS, act_when_logged, batch_job

from airflow_provider_nomad.nomad.identity import TaskIdentity
from airflow_provider_nomad.nomad.run_job import check_runnable, job_for_try
from airflow_provider_nomad.nomad.signature import dispatch_token, signed_meta
from airflow_provider_nomad.operators.nomad import (
    NomadDispatchJobOperator,
    NomadRunJobOperator,
)

IDENTITY = TaskIdentity("nightly", "settle", "scheduled__2026-12-07T00:00:00+00:00")
RESULT = "alloc/result.json"


def settlement(release: Path | None = None, broken: Path | None = None) -> str:
    """Writes its result (once ``release`` exists, if given), or fails once ``broken`` does.

    A batch waiting for ``release`` first says it runs, in ``<release>.running-<job ID>``
    (see :meth:`Steps.wait_running`).
    """
    wait = (
        f"open({str(release) + '.running-'!r} + os.environ['NOMAD_JOB_ID'].replace('/', '_'),"
        f" 'w').close()\n"
        f"        while not os.path.exists({str(release)!r}):\n            time.sleep(0.02)"
        if release
        else ""
    )
    fail = f"if os.path.exists({str(broken)!r}):\n            sys.exit(1)" if broken else ""
    return f"""
        import json, os, sys, time
        print("batch started", flush=True)
        {wait}
        {fail}
        with open(os.path.join(os.environ["NOMAD_ALLOC_DIR"], "result.json"), "w") as f:
            json.dump({{"settled": True}}, f)
    """


def _ended(operator, job_id: str, succeeded: bool = True) -> None:
    """Follow ``job_id`` to its end, as a try does (blocking queries, no fixed sleep)."""
    outcome = asyncio.run(operator._follow(job_id, None, deadline=None, logs=False))
    assert outcome.succeeded is succeeded, outcome.reason


def test_a_result_from_before_the_newest_of_two_clears_is_not_read_again(nomad_side, tmp_path):
    _, nomad_client = nomad_side
    broken = tmp_path / "broken"
    nomad_client.jobs.register_job({"Job": batch_job("settle", settlement(broken=broken))})
    signed = signed_meta(nomad_client.job.get_job("settle"), {})
    operator = NomadDispatchJobOperator(task_id="settle", job_id="settle", result_file=RESULT)

    def attempt(try_number: int, cleared: bool = False):
        return operator._adopt_or_dispatch(
            IDENTITY, try_number, {}, None, signed=signed, cleared=cleared
        )

    first, _, _ = attempt(1)
    _ended(operator, first)
    # The first clear: try 2 dispatches (its token marked -cleared), and succeeds.
    cleared_once, _, adopted = attempt(2, cleared=True)
    assert adopted is None
    _ended(operator, cleared_once)
    # A retry after that clear reads the cleared try's result again...
    assert attempt(3) == (cleared_once, None, "succeeded")

    # ...but after a second clear, whose try dispatched and failed, its retry must not: the
    # newer succeeded child ran before the newest clear, under the mark of the older one.
    broken.touch()
    cleared_twice, _, _ = attempt(4, cleared=True)
    _ended(operator, cleared_twice, succeeded=False)
    again, _, adopted = attempt(5)
    assert adopted is None
    assert again not in (first, cleared_once, cleared_twice)


def test_a_plain_retry_adopts_its_earlier_try_s_running_batch(nomad_side, tmp_path):
    # Never cleared (nomad_default points at the emulator): try 1's worker died, and try 3
    # follows its batch (try 2 also failed before it dispatched).
    release = tmp_path / "release"
    spec = batch_job("settle", settlement(release), parameterized=False)
    base_id = check_runnable(spec)
    operator = NomadRunJobOperator(task_id="settle", job=spec)
    try:
        before, _, _ = operator._adopt_or_register(spec, base_id, IDENTITY, 1, cleared=False)
        now = operator._adopt_or_register(spec, base_id, IDENTITY, 3, cleared=False)
    finally:
        release.touch()
    assert now == (before, None, "running")


@pytest.mark.parametrize("kind", ["dispatch", "run-job"])
def test_a_batch_still_running_from_before_a_clear_is_stopped_not_adopted(
    nomad_side, tmp_path, capfd, kind
):
    # Try 1's batch runs on; the cleared try 2 started its own, which ended, without stopping
    # try 1's (its stop was lost). The retry after it must not follow try 1's batch.
    _, nomad_client = nomad_side
    release = tmp_path / "release"
    steps = Steps(kind, nomad_client, release, killable=True)
    try:
        before, _, _ = steps.take(1, cleared=False)
        steps.wait_running(before)
        cleared = steps.start_marked(2)
        steps.wait_running(cleared)
        steps.operator.hook.stop_job(cleared)
        _ended(steps.operator, cleared, succeeded=False)
        capfd.readouterr()
        after, _, adopted = steps.take(3, cleared=False)
        output = capfd.readouterr().out
    finally:
        release.touch()
    assert adopted is None
    assert after not in (before, cleared)
    assert f"was cleared while {before}" in output
    assert nomad_client.job.get_job(before)["Stop"] is True


def test_a_run_job_result_from_before_a_clear_is_not_read_again(nomad_side, tmp_path):
    # Try 1 succeeded; the task was cleared and its cleared try 2 failed. The mark on try 2's
    # job tells its retry where the clear was.
    _, nomad_client = nomad_side
    broken = tmp_path / "broken"
    spec = batch_job("settle", settlement(broken=broken), parameterized=False)
    base_id = check_runnable(spec)
    operator = NomadRunJobOperator(task_id="settle", job=spec, result_file=RESULT)

    first, _, _ = operator._adopt_or_register(spec, base_id, IDENTITY, 1, cleared=False)
    _ended(operator, first)
    broken.touch()
    cleared, _, _ = operator._adopt_or_register(spec, base_id, IDENTITY, 2, cleared=True)
    _ended(operator, cleared, succeeded=False)
    assert nomad_client.job.get_job(cleared)["Meta"]["airflow_cleared"] == "true"

    retried, _, adopted = operator._adopt_or_register(spec, base_id, IDENTITY, 3, cleared=False)
    assert adopted is None
    assert retried.endswith("-try3")


def _wait_until(condition, what: str) -> None:
    """Poll ``condition`` until it holds (bound: a hang)."""
    deadline = time.monotonic() + HANG_BOUND
    while not condition():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.02)


def stubborn_batch(release: Path) -> str:
    """Ignores Nomad's kill signal (then says so in ``<release>.ignoring``) and runs on until
    ``release`` exists, then exits 0."""
    return f"""
        import os, signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        open({str(release) + ".ignoring"!r}, "w").close()
        while not os.path.exists({str(release)!r}):
            time.sleep(0.02)
    """


class Steps:
    """One operator's first step of a try (adopt, or dispatch/register), by try number."""

    def __init__(self, kind: str, nomad_client, release: Path, killable: bool = False) -> None:
        script = settlement(release) if killable else stubborn_batch(release)
        job = batch_job("settle", script, parameterized=kind == "dispatch")
        # Long enough that only the batch's own end stops it: a bound for a hang.
        job["TaskGroups"][0]["Tasks"][0]["KillTimeout"] = 600 * NS
        if kind == "dispatch":
            nomad_client.jobs.register_job({"Job": job})
            self.signed = signed_meta(nomad_client.job.get_job("settle"), {})
            self.operator = NomadDispatchJobOperator(task_id="settle", job_id="settle")
        else:
            self.spec, self.base_id = job, check_runnable(job)
            self.operator = NomadRunJobOperator(task_id="settle", job=job)
        self.kind = kind
        self.release = release

    def stopped_while_running(self) -> str:
        """Start try 1's batch (which ignores the kill signal), then stop it as the earlier
        try's kill does: Nomad calls the job dead while its task runs on."""
        first, _, _ = self.take(1, cleared=False)
        ignoring = Path(f"{self.release}.ignoring")
        _wait_until(ignoring.exists, "the batch ignoring the kill signal")
        self.operator.hook.stop_job(first)
        return first

    def wait_running(self, job_id: str) -> None:
        """Wait until the (killable) batch of ``job_id`` runs its own code.

        Its interpreter is started by then: CPython can swallow a SIGINT that lands while it
        starts (it reports the KeyboardInterrupt as ignored, or as an error in a ``.pth``
        file, and goes on), and the batch would then run until its 600 s kill timeout. A
        real Nomad sends the same signal.
        """
        running = Path(f"{self.release}.running-{job_id.replace('/', '_')}")
        _wait_until(running.exists, f"{job_id}'s batch running")

    def take(self, try_number: int, *, cleared: bool) -> tuple[str, str | None, str | None]:
        if self.kind == "dispatch":
            return self.operator._adopt_or_dispatch(
                IDENTITY, try_number, {}, None, signed=self.signed, cleared=cleared
            )
        return self.operator._adopt_or_register(
            self.spec, self.base_id, IDENTITY, try_number, cleared=cleared
        )

    def start_marked(self, try_number: int) -> str:
        """Start the batch as a cleared try does, marked, without the try's other steps."""
        hook = self.operator.hook
        if self.kind == "dispatch":
            settings = hook.settings
            token = dispatch_token(
                IDENTITY,
                try_number,
                settings.token,
                namespace=settings.namespace,
                parent_id="settle",
                meta=self.signed,
                payload=None,
                cleared=True,
            )
            answer = hook.dispatch_job(
                "settle",
                meta={},
                payload=None,
                id_prefix_template=IDENTITY.id_prefix_template,
                idempotency_token=token,
            )
            return answer["DispatchedJobID"]
        job = job_for_try(self.spec, IDENTITY, try_number, cleared=True)
        hook.register_job(job)
        return job["ID"]


@pytest.mark.parametrize("kind", ["dispatch", "run-job"])
def test_a_batch_stopped_but_still_running_is_waited_for_before_the_batch_runs_anew(
    nomad_side, tmp_path, capfd, kind
):
    # Cleared while its batch ran: the earlier try's kill stopped the job at once, and Nomad
    # calls the job dead while its task still runs (it ignores the kill signal).
    _, nomad_client = nomad_side
    release = tmp_path / "release"
    steps = Steps(kind, nomad_client, release)
    first = steps.stopped_while_running()
    assert nomad_client.job.get_job(first)["Status"] == "dead"
    [old_alloc] = nomad_client.job.get_allocations(first)
    assert old_alloc["ClientStatus"] == "running"

    taken: list = []
    cleared_try = threading.Thread(target=lambda: taken.append(steps.take(2, cleared=True)))
    released = act_when_logged(capfd, "was stopped but still runs on a client", release.touch)
    cleared_try.start()
    cleared_try.join(timeout=HANG_BOUND)
    assert released(), "the cleared try never said it waits for the stopped batch"
    assert not cleared_try.is_alive()
    [(second, _, adopted)] = taken
    assert adopted is None and second != first
    ended = nomad_client.allocation.get_allocation(old_alloc["ID"])
    assert ended["ClientStatus"] == "complete"
    # The new run began after the old one's end had been reported, never beside it.
    assert nomad_client.job.get_job(second)["CreateIndex"] > ended["ModifyIndex"]


@pytest.mark.parametrize("kind", ["dispatch", "run-job"])
def test_a_cleared_try_running_again_keeps_its_own_batch(nomad_side, tmp_path, kind):
    # The cleared try's execution was interrupted after it started its batch, and the same try
    # runs again: its batch is the one to follow, not one to stop.
    _, nomad_client = nomad_side
    release = tmp_path / "release"
    steps = Steps(kind, nomad_client, release)
    try:
        first, _, _ = steps.take(2, cleared=True)
        again = steps.take(2, cleared=True)
    finally:
        release.touch()
    assert again == (first, None, "running")
    assert nomad_client.job.get_job(first)["Stop"] is False


@pytest.mark.parametrize("stopped_by", ["the earlier try's kill", "the cleared try"])
@pytest.mark.parametrize("kind", ["dispatch", "run-job"])
def test_a_stopped_batch_that_never_ends_fails_the_try_and_nothing_starts(
    nomad_side, tmp_path, monkeypatch, kind, stopped_by
):
    # A client that never reports the end (its node went down unnoticed): after the tasks'
    # kill_timeout and a grace, the try fails naming the job instead of waiting forever,
    # whether the job was stopped before the cleared try or by it.
    from airflow_provider_nomad.exceptions import NomadJobTimeoutError
    from airflow_provider_nomad.operators import nomad as operators

    _, nomad_client = nomad_side
    release = tmp_path / "release"
    steps = Steps(kind, nomad_client, release)
    monkeypatch.setattr(operators, "_kill_timeout", lambda job: 0.0)
    monkeypatch.setattr(operators, "STOPPED_JOB_GRACE", 0.5)
    try:
        if stopped_by == "the cleared try":
            first, _, _ = steps.take(1, cleared=False)
            _wait_until(Path(f"{release}.ignoring").exists, "the batch ignoring the kill signal")
        else:
            first = steps.stopped_while_running()
        with pytest.raises(NomadJobTimeoutError, match="still reported it running") as caught:
            steps.take(2, cleared=True)
    finally:
        release.touch()
    assert first in str(caught.value) and "nomad job stop -purge" in str(caught.value)
    jobs = nomad_client.jobs.get_jobs(prefix="settle")
    assert sorted(j["ID"] for j in jobs if j["ID"] != "settle") == [first]
