"""Turning a job's outcome into the task's return value or its typed failure."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow_provider_nomad.exceptions import (
    NomadJobFailedError,
    NomadJobTimeoutError,
    NomadPlacementError,
    NomadProviderError,
)
from airflow_provider_nomad.nomad.log_lines import LineAssembler, LogStreamKey
from airflow_provider_nomad.nomad.outcome import JobOutcome, JobResult

if TYPE_CHECKING:
    from airflow_provider_nomad.hooks.nomad import NomadHook

#: How many of the last stderr lines a failure report carries (the follower keeps as many).
STDERR_TAIL_LINES = 20


def summary(
    outcome: JobOutcome, *, parent_job_id: str | None, adopted: str | None, url: str
) -> dict[str, Any]:
    """The small, JSON-friendly return value (XCom) of a followed job."""
    return {
        "job_id": outcome.job_id,
        "parent_job_id": parent_job_id,
        "status": outcome.result.value,
        "alloc_ids": outcome.alloc_ids,
        "final_alloc_ids": outcome.final_alloc_ids,
        "exit_codes": outcome.exit_codes,
        "adopted": adopted,
        "url": url,
    }


def failure_message(outcome: JobOutcome, ui_url: str) -> str:
    lines = [f"Nomad job {outcome.job_id} {_VERBS[outcome.result]}: {outcome.reason}."]
    if outcome.stderr_tail:
        lines.append("Last lines of stderr:")
        lines.extend(f"    {line}" for line in outcome.stderr_tail)
    lines.append(f"Nomad UI: {ui_url}")
    return "\n".join(lines)


_VERBS = {
    JobResult.FAILED: "failed",
    JobResult.PLACEMENT_FAILED: "could not be placed",
    JobResult.LOST: "was lost",
    JobResult.STOPPED: "was stopped before it finished",
    JobResult.TIMED_OUT: "timed out",
    JobResult.SUCCEEDED: "succeeded",
}


def read_stderr_tail(hook: NomadHook, outcome: JobOutcome, log: logging.Logger) -> list[str]:
    """The last lines of stderr of an outcome's failed tasks, read back from Nomad.

    For a wait that did not stream the logs (a sensor that does not copy them, a trigger that
    did not stream), so its failure report still carries the lines that explain the failure,
    labelled like the follower's. Each log is read to its end keeping only its last lines:
    memory stays bounded, and Nomad's log rotation bounds what there is to read.

    A log that cannot be read (allocation garbage-collected, token without ``read-logs``,
    Nomad unreachable) is left out with a warning: the failure is reported either way, and a
    partly read log would pass lines from its middle off as its last ones.
    """
    if outcome.result is JobResult.LOST:
        # A lost allocation's logs live on the node that was lost.
        return []
    tail: list[str] = []
    for task in outcome.tasks:
        if task.succeeded:
            continue
        key = LogStreamKey(task.alloc_id, task.task, "stderr")
        assembler = LineAssembler(key, tail_lines=STDERR_TAIL_LINES)
        try:
            for data in hook.read_log(task.alloc_id, task.task, "stderr"):
                assembler.feed(data)
        except NomadProviderError as exc:
            log.warning("[%s] cannot read the last lines of stderr: %s", key.label, exc)
            continue
        assembler.flush()
        tail.extend(f"[{key.label}] {line}" for line in assembler.tail)
    return tail[-STDERR_TAIL_LINES:]


def raise_for_outcome(outcome: JobOutcome, *, ui_url: str) -> None:
    """Raise the typed error matching an unsuccessful outcome; return if it succeeded."""
    if outcome.succeeded:
        return
    message = failure_message(outcome, ui_url)
    if outcome.result is JobResult.TIMED_OUT:
        raise NomadJobTimeoutError(message)
    error_class = (
        NomadPlacementError if outcome.result is JobResult.PLACEMENT_FAILED else NomadJobFailedError
    )
    # The first failing task's facts travel with the error, so a failure callback can read the
    # exit code without parsing the message.
    failed = next((t for t in outcome.tasks if not t.succeeded), None)
    raise error_class(
        message,
        job_id=outcome.job_id,
        alloc_id=failed.alloc_id if failed else None,
        task=failed.task if failed else None,
        exit_code=failed.exit_code if failed else None,
        signal=failed.signal if failed else None,
        oom=failed.oom_killed if failed else False,
        stderr_tail="\n".join(outcome.stderr_tail) or None,
        ui_url=ui_url,
    )
