"""The job a task instance registers for :class:`NomadRunJobOperator` (pure).

Every try registers the jobspec under its own ID, derived from the task instance's identity
(:mod:`~airflow_provider_nomad.nomad.identity`)::

    <jobspec ID>-af-<key>-try<try number>

- one ``GET /v1/jobs?prefix=<jobspec ID>-af-<key>-`` finds every job this task instance ever
  registered, so a later try (after a worker died, or a retry) adopts one still running
  instead of registering the batch again, as a dispatched child is adopted;
- registering again in the same try (an HTTP request retried after a dropped answer) sends the
  same job under the same ID: Nomad changes nothing, and the batch does not run twice;
- a new try runs a fresh job with no allocations of its own yet, so following it never
  mistakes an earlier try's finished allocation for this try's outcome (allocations of a
  re-registered job ID would stay listed under it).

The job also carries the task instance in its meta, for whoever reads it in the Nomad UI.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad.identity import TaskIdentity
from airflow_provider_nomad.nomad.result_location import result_file_problem

__all__ = [
    "RUNNABLE_TYPES",
    "check_runnable",
    "job_for_try",
    "registered_after_a_clear",
    "registering_try",
    "run_job_id",
    "run_job_prefix",
]

#: Job types that end by themselves; a service or system job would be followed forever.
RUNNABLE_TYPES = ("batch", "sysbatch")
#: Meta keys set on the registered job (strings, as Nomad meta must be).
META_TASK_KEY = "airflow_task_key"
META_TRY = "airflow_try_number"
META_DAG_ID = "airflow_dag_id"
META_TASK_ID = "airflow_task_id"
META_RUN_ID = "airflow_run_id"
META_MAP_INDEX = "airflow_map_index"
#: Set ("true") on the job of a try that started from a clear of the task instance.
META_CLEARED = "airflow_cleared"

_TRY_SUFFIX = re.compile(r"-try(\d+)$")


def run_job_prefix(base_id: str, identity: TaskIdentity) -> str:
    """Prefix of the IDs of every job this task instance registered from ``base_id``.

    The trailing dash keeps one key from matching another that merely starts with it.
    """
    return f"{base_id}-{identity.id_prefix_template}-"


def run_job_id(base_id: str, identity: TaskIdentity, try_number: int) -> str:
    return f"{run_job_prefix(base_id, identity)}try{try_number}"


def check_runnable(job: Mapping[str, Any]) -> str:
    """Raise :class:`NomadInvalidInputError` unless ``job`` is a whole batch job; return its ID."""
    job_id = job.get("ID") or job.get("Name")
    if not isinstance(job_id, str) or not job_id.strip():
        raise NomadInvalidInputError(
            'The job has no ID: give the jobspec a name (job "<name>" { ... }) or an "ID".'
        )
    if job.get("ParameterizedJob"):
        raise NomadInvalidInputError(
            f"Job {job_id!r} is parameterized: it runs only when dispatched. Register it with "
            "NomadRegisterJobOperator and run it with NomadDispatchJobOperator, or drop its "
            "`parameterized` block."
        )
    if job.get("Periodic"):
        raise NomadInvalidInputError(
            f"Job {job_id!r} is periodic: Nomad, not this task, would decide when it runs. "
            "Drop its `periodic` block (Airflow schedules the DAG)."
        )
    job_type = (job.get("Type") or "service").lower()
    if job_type not in RUNNABLE_TYPES:
        raise NomadInvalidInputError(
            f"Job {job_id!r} is of type {job_type!r}, which never ends by itself; "
            f"NomadRunJobOperator runs jobs of type {' or '.join(map(repr, RUNNABLE_TYPES))}. "
            'Set type = "batch" in the jobspec.'
        )
    return job_id


def job_for_try(
    job: Mapping[str, Any], identity: TaskIdentity, try_number: int, *, cleared: bool = False
) -> dict[str, Any]:
    """A copy of ``job`` under this try's ID, tagged with the task instance in its meta.

    The job's ``Name`` stays the jobspec's, so the Nomad UI groups the runs of one batch.

    :param cleared: the try started from a clear of the task instance: its job is marked
        (:data:`META_CLEARED`), for the retries after it (:func:`registered_after_a_clear`).
    """
    base_id = check_runnable(job)
    tagged = copy.deepcopy(dict(job))
    tagged["ID"] = run_job_id(base_id, identity, try_number)
    tagged["Name"] = job.get("Name") or base_id
    tagged["Meta"] = {
        **(job.get("Meta") or {}),
        META_TASK_KEY: identity.key,
        META_TRY: str(try_number),
        META_DAG_ID: identity.dag_id,
        META_TASK_ID: identity.task_id,
        META_RUN_ID: identity.run_id,
        META_MAP_INDEX: str(identity.map_index),
    }
    # Only this provider says which try a clear started.
    tagged["Meta"].pop(META_CLEARED, None)
    if cleared:
        tagged["Meta"][META_CLEARED] = "true"
    return tagged


def registered_after_a_clear(stub: Mapping[str, Any]) -> bool:
    """Whether a job stub listed with its meta (``?meta=true``, Nomad 1.6+) is the job of a try
    that started from a clear (False when the stub carries no meta)."""
    return (stub.get("Meta") or {}).get(META_CLEARED) == "true"


def registering_try(job_id: str) -> int | None:
    """The try that registered a job, read off its ID."""
    found = _TRY_SUFFIX.search(job_id)
    return int(found.group(1)) if found else None


def check_result_file_in_job(job: Mapping[str, Any], result_file: str | None) -> None:
    """Refuse a result file that is not in exactly one of the job's allocations
    (:func:`~airflow_provider_nomad.nomad.result_location.result_file_problem`): it would only
    be found missing, or read from one allocation of several, after the batch ran."""
    if result_file is None:
        return
    problem = result_file_problem(job, result_file)
    if problem is not None:
        raise NomadInvalidInputError(f"{problem}.")
