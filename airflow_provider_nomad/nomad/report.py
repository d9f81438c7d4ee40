"""Turning a job's outcome into the task's return value or its typed failure."""

from __future__ import annotations

from typing import Any

from airflow_provider_nomad.exceptions import (
    NomadJobFailedError,
    NomadJobTimeoutError,
    NomadPlacementError,
)
from airflow_provider_nomad.nomad.outcome import JobOutcome, JobResult


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
