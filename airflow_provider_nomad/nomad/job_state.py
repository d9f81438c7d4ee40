"""Reading a job's allocations and evaluations, once, so that :func:`assess` judges them right.

Two reads are never one snapshot. What can go wrong between them is a failure: Nomad writes a
failed allocation with the ``alloc-failure`` evaluation that may reschedule it, and names the
replacement on the allocation only once that evaluation has been processed. Allocations read
before the evaluations may thus show a failure whose evaluation, read next, has already placed
a replacement they do not show. So where the allocations show a failure with nothing after it,
they are read again after the evaluations, until no new failure appears: every failure then
has its evaluation in the evaluations read, and its outcome in the allocations read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_nomad.nomad.outcome import failed_without_followup

__all__ = ["read_job_state"]


def read_job_state(
    hook: Any, job_id: str
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The job's allocations and evaluations, for :func:`~.outcome.assess`.

    :param hook: a :class:`~airflow_provider_nomad.hooks.nomad.NomadHook`.
    """
    allocs = hook.get_job_allocations(job_id)
    evals = hook.get_job_evaluations(job_id)
    checked = failed_without_followup(allocs)
    while checked:
        allocs = hook.get_job_allocations(job_id)
        failed_since = failed_without_followup(allocs) - checked
        if not failed_since:
            break
        checked |= failed_since
        evals = hook.get_job_evaluations(job_id)
    return allocs, evals
