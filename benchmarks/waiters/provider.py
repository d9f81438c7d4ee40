"""The provider's two ways of waiting, called exactly as the provider itself calls them.

- sync: what ``NomadDispatchJobOperator.execute`` does after dispatching, i.e.
  ``asyncio.run(self._follow(child, eval_id, deadline=None))``: a :class:`JobFollower` on a
  :class:`NomadAsyncHook`, streaming the logs into the task's logger.
- deferrable: :meth:`NomadJobTrigger.run` as the triggerer drives it, from a trigger rebuilt
  out of its own ``serialize()`` output, until its first (and only) event; then
  :func:`resume`, the operator's ``execute_complete`` with that event, as the worker runs it
  when the task comes back (its reads of Nomad are part of what a deferred wait costs).
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from airflow_provider_nomad.hooks.nomad import NomadAsyncHook
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator
from airflow_provider_nomad.triggers.nomad import NomadJobEvent, NomadJobTrigger
from benchmarks.jobs import BATCH_LINE


class CountingLog:
    """A task's logger that also counts the records carrying a line the batch printed.

    Installed with :func:`count_batch_lines`; every call goes on to the real logger.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.batch_lines = 0
        self._marker = BATCH_LINE.strip()

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> Any:
        text = str(msg) % args if args else str(msg)
        if self._marker in text:
            self.batch_lines += 1
        return self.inner.info(msg, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def count_batch_lines(component: Any) -> CountingLog:
    """Make ``component.log`` (an operator's or a trigger's logger) count batch lines."""
    counting = CountingLog(component.log)
    # Operators cache their logger in ``_cached_logger`` (Airflow's DAG node), triggers in
    # ``_log`` (LoggingMixin).
    name = "_cached_logger" if hasattr(type(component), "_cached_logger") else "_log"
    setattr(component, name, counting)
    if component.log is not counting:
        raise RuntimeError(f"cannot count the log lines of {type(component).__name__}")
    return counting


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
    log = count_batch_lines(operator)
    outcome = asyncio.run(operator._follow(child_job_id, eval_id, deadline=None))
    return {**outcome.to_dict(), "log_lines": log.batch_lines}


def make_trigger(
    child_job_id: str,
    eval_id: str,
    conn_id: str,
    *,
    created_index: int | None = None,
    shared_watch: bool = True,
    stream_logs: bool = True,
) -> NomadJobTrigger:
    """A trigger as the operator defers with it, round-tripped through ``serialize()``.

    :param created_index: the dispatch's ``EvalCreateIndex``, which the operator hands its
        trigger for a child it dispatched.
    :param shared_watch: wait through the loop's shared event stream (the default), or with
        the trigger's own blocking queries.
    :param stream_logs: stream the batch's logs into the task log (the operator's default).
    """
    options: dict[str, Any] = {"created_index": created_index, "shared_watch": shared_watch}
    if "shared_watch" not in inspect.signature(NomadJobTrigger).parameters:
        # The provider before the shared watch (claim 3's baseline, ``benchmarks/before_watch.py``)
        # takes neither: its triggers always wait alone, and look at once.
        if shared_watch:
            raise ValueError("this provider has no shared watch: make_trigger(shared_watch=False)")
        options = {}
    trigger = NomadJobTrigger(
        job_id=child_job_id,
        nomad_conn_id=conn_id,
        dispatch_eval_id=eval_id,
        stream_logs=stream_logs,
        **options,
    )
    _, kwargs = trigger.serialize()
    rebuilt = NomadJobTrigger(**kwargs)
    count_batch_lines(rebuilt)
    return rebuilt


class _XComs:
    """The task instance's side of ``execute_complete``: the XComs it pushes (to Airflow, not
    to Nomad), kept here so the operator runs unchanged outside a task process."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


def resume(parent_job_id: str, conn_id: str, event: NomadJobEvent) -> dict[str, Any]:
    """Run the operator's ``execute_complete`` with the trigger's event; return its result.

    :param parent_job_id: the parameterized parent (the operator's ``job_id``).
    :param conn_id: the Nomad connection.
    :param event: the trigger's event.
    """
    operator = NomadDispatchJobOperator(
        task_id="bench_wait", job_id=parent_job_id, nomad_conn_id=conn_id, deferrable=True
    )
    return operator.execute_complete({"ti": _XComs()}, event.to_dict())


async def wait_deferrable(trigger: NomadJobTrigger) -> NomadJobEvent:
    """Run the trigger until its event; return the event."""
    async for event in trigger.run():
        return NomadJobEvent.from_dict(event.payload)
    raise RuntimeError(f"trigger for {trigger.job_id} ended without an event")
