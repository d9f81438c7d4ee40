"""What one task workload is dispatched as: runner job, identity, meta and payload (pure).

Everything here is checked before a request is sent, so a bad ``executor_config`` or an
oversized workload fails its task with one clear message and nothing reaches Nomad. The
workload's token travels in the payload only: it is never put in meta (stored in clear in the
child job, shown by the Nomad UI, exported to the task's environment) nor in a job ID.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad.dispatch_input import MAX_PAYLOAD_BYTES, normalize_meta
from airflow_provider_nomad.nomad.identity import TaskIdentity

#: The key of a task's ``executor_config`` that this executor reads.
EXECUTOR_CONFIG_KEY = "nomad"
#: What a task may set under ``executor_config["nomad"]``.
ALLOWED_TASK_OPTIONS = frozenset({"runner_job_id", "meta"})
#: Meta keys the executor sets on every child; the runner job must allow them (meta_optional).
META_DAG_ID = "airflow_dag_id"
META_TASK_ID = "airflow_task_id"
META_RUN_ID = "airflow_run_id"
META_TRY_NUMBER = "airflow_try_number"
META_MAP_INDEX = "airflow_map_index"
IDENTITY_META_KEYS = (META_DAG_ID, META_TASK_ID, META_RUN_ID, META_TRY_NUMBER, META_MAP_INDEX)
RESERVED_META_PREFIX = "airflow_"


class WorkloadTooLargeError(NomadInvalidInputError):
    """The workload's JSON is over Nomad's 16 KiB dispatch payload limit."""


@dataclass(frozen=True)
class TaskKey:
    """The parts of Airflow's ``TaskInstanceKey`` the dispatch depends on."""

    dag_id: str
    task_id: str
    run_id: str
    try_number: int
    map_index: int = -1

    @property
    def identity(self) -> TaskIdentity:
        return TaskIdentity(self.dag_id, self.task_id, self.run_id, self.map_index)


@dataclass(frozen=True)
class DispatchSpec:
    """One dispatch, ready to send."""

    runner_job_id: str
    id_prefix_template: str
    idempotency_token: str
    meta: dict[str, str]
    payload: bytes

    def __repr__(self) -> str:  # the payload holds the workload's token
        return (
            f"DispatchSpec(runner_job_id={self.runner_job_id!r}, "
            f"idempotency_token={self.idempotency_token!r}, payload=<{len(self.payload)} bytes>)"
        )


def identity_meta(key: TaskKey) -> dict[str, str]:
    return {
        META_DAG_ID: key.dag_id,
        META_TASK_ID: key.task_id,
        META_RUN_ID: key.run_id,
        META_TRY_NUMBER: str(key.try_number),
        META_MAP_INDEX: str(key.map_index),
    }


def task_options(executor_config: Mapping[str, Any] | None) -> dict[str, Any]:
    """The task's ``executor_config["nomad"]``, checked (``{}`` when absent)."""
    if not executor_config:
        return {}
    options = executor_config.get(EXECUTOR_CONFIG_KEY)
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise NomadInvalidInputError(
            f'executor_config["{EXECUTOR_CONFIG_KEY}"] must be a dict, got {type(options).__name__}'
        )
    unknown = sorted(set(options) - ALLOWED_TASK_OPTIONS)
    if unknown:
        raise NomadInvalidInputError(
            f'executor_config["{EXECUTOR_CONFIG_KEY}"] has unknown keys {unknown}; allowed: '
            f"{sorted(ALLOWED_TASK_OPTIONS)}"
        )
    runner = options.get("runner_job_id")
    if runner is not None and (not isinstance(runner, str) or not runner.strip()):
        raise NomadInvalidInputError(
            f'executor_config["{EXECUTOR_CONFIG_KEY}"]["runner_job_id"] must be a non-empty '
            f"string, got {runner!r}"
        )
    meta = normalize_meta(options.get("meta"))
    reserved = sorted(k for k in meta if k.startswith(RESERVED_META_PREFIX))
    if reserved:
        raise NomadInvalidInputError(
            f'executor_config["{EXECUTOR_CONFIG_KEY}"]["meta"] keys {reserved} are reserved: '
            f"the executor sets the {RESERVED_META_PREFIX}* keys itself"
        )
    return {"runner_job_id": runner, "meta": meta}


def runner_for(executor_config: Mapping[str, Any] | None, default_runner: str) -> str:
    return task_options(executor_config).get("runner_job_id") or default_runner


def build_dispatch(
    key: TaskKey,
    workload_json: str,
    executor_config: Mapping[str, Any] | None,
    default_runner: str,
) -> DispatchSpec:
    """The dispatch of one try of a task; raises :class:`NomadInvalidInputError` subclasses.

    :param key: the task instance try.
    :param workload_json: the ``ExecuteTask`` workload as JSON (what ``execute_workload`` reads).
    :param executor_config: the task's ``executor_config``.
    :param default_runner: ``[nomad_executor] runner_job_id``.
    """
    options = task_options(executor_config)
    payload = workload_json.encode("utf-8")
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise WorkloadTooLargeError(
            f"The workload of {key.dag_id}.{key.task_id} (run {key.run_id}, try "
            f"{key.try_number}) is {len(payload)} bytes as JSON, over Nomad's dispatch payload "
            f"limit of {MAX_PAYLOAD_BYTES} bytes; nothing was dispatched. Shorten the run ID or "
            "the DAG file path, or run this task on another executor "
            "(executor='LocalExecutor' in a multi-executor setup)."
        )
    identity = key.identity
    return DispatchSpec(
        runner_job_id=options.get("runner_job_id") or default_runner,
        id_prefix_template=identity.id_prefix_template,
        idempotency_token=identity.idempotency_token(key.try_number),
        meta={**options.get("meta", {}), **identity_meta(key)},
        payload=payload,
    )


def run_token(try_token: str, run: int) -> str:
    """The idempotency token of the ``run``-th run (from 1) of one try.

    Airflow runs a try again under the same try number when a sensor in reschedule mode pokes
    again or a deferred task resumes. Each such run needs a child of its own: with the try's
    token alone, Nomad would answer with the child of the earlier run, which has ended.
    """
    return try_token if run == 1 else f"{try_token}-run{run}"


def try_of(stub: Mapping[str, Any]) -> int | None:
    """The try number a child was dispatched for, from its meta (``None`` if not ours)."""
    value = (stub.get("Meta") or {}).get(META_TRY_NUMBER)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
