"""The provider's two ways of waiting, called exactly as the provider itself calls them.

- sync: what ``NomadDispatchJobOperator.execute`` does after dispatching, i.e.
  ``asyncio.run(self._follow(child, eval_id, deadline=None))``: a :class:`JobFollower` on a
  :class:`NomadAsyncHook`, streaming the logs into the task's logger.
- deferrable: :meth:`NomadJobTrigger.run` as the triggerer drives it, from a trigger rebuilt
  out of its own ``serialize()`` output, until its first (and only) event.
"""

from __future__ import annotations

import asyncio
from typing import Any

from airflow_provider_nomad.hooks.nomad import NomadAsyncHook
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator
from airflow_provider_nomad.triggers.nomad import NomadJobEvent, NomadJobTrigger


def warm_up(conn_ids: list[str]) -> None:
    """Resolve each connection once, so lazy imports are not timed as part of a wait.

    A real worker or triggerer has done this long before it waits for a batch; the HTTP
    client of each wait is still built inside it, as the provider builds one per hook.
    """

    async def resolve() -> None:
        for conn_id in conn_ids:
            hook = NomadAsyncHook(conn_id)
            await hook.get_settings()
            await hook.aclose()

    asyncio.run(resolve())


def wait_sync(parent_job_id: str, child_job_id: str, eval_id: str, conn_id: str) -> dict[str, Any]:
    """Follow the child as the operator's ``execute`` does; return the outcome as a dict.

    :param parent_job_id: the parameterized parent (the operator's ``job_id``).
    :param child_job_id: the dispatched child.
    :param eval_id: the dispatch's evaluation.
    :param conn_id: the Nomad connection.
    """
    operator = NomadDispatchJobOperator(
        task_id="bench_wait", job_id=parent_job_id, nomad_conn_id=conn_id
    )
    outcome = asyncio.run(operator._follow(child_job_id, eval_id, deadline=None))
    return outcome.to_dict()


def make_trigger(
    child_job_id: str,
    eval_id: str,
    conn_id: str,
    *,
    shared_watch: bool = True,
    stream_logs: bool = True,
) -> NomadJobTrigger:
    """A trigger as the operator defers with it, round-tripped through ``serialize()``.

    :param shared_watch: wait through the loop's shared event stream (the default), or with
        the trigger's own blocking queries.
    :param stream_logs: stream the batch's logs into the task log (the operator's default).
    """
    trigger = NomadJobTrigger(
        job_id=child_job_id,
        nomad_conn_id=conn_id,
        dispatch_eval_id=eval_id,
        shared_watch=shared_watch,
        stream_logs=stream_logs,
    )
    _, kwargs = trigger.serialize()
    return NomadJobTrigger(**kwargs)


async def wait_deferrable(trigger: NomadJobTrigger) -> NomadJobEvent:
    """Run the trigger until its event; return the event."""
    async for event in trigger.run():
        return NomadJobEvent.from_dict(event.payload)
    raise RuntimeError(f"trigger for {trigger.job_id} ended without an event")
