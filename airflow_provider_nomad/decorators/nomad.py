"""``@task.nomad``: the decorated function itself runs inside a Nomad batch job.

Its source and its (JSON) arguments go to Nomad as one self-contained script
(:mod:`~airflow_provider_nomad.nomad.python_task`), the function runs there, and its return
value comes back as the task's XCom through a result file read with Nomad's fs API. An
exception there fails the task with the remote traceback.

Where it runs:

- ``job_id=...``: dispatched to a parameterized *python runner* job the platform team
  registered (:func:`~airflow_provider_nomad.nomad.python_task.python_runner_job`); built on
  :class:`~airflow_provider_nomad.operators.nomad.NomadDispatchJobOperator`;
- otherwise a batch job built from ``driver``/``image``/``resources`` (``raw_exec`` with the
  worker's Python by default, for local use and the emulator; ``docker`` with an image on a
  cluster); built on :class:`~airflow_provider_nomad.operators.nomad.NomadRunJobOperator`.

Both inherit everything those operators do: adoption of a running job by a retry,
idempotent starts, live logs, typed failures, deferrable mode, ``on_kill``, the Nomad link.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.decorator import DecoratedOperator, task_decorator_factory
from airflow.sdk.definitions.context import context_merge

from airflow_provider_nomad.exceptions import (
    NomadApiError,
    NomadInvalidInputError,
    NomadJobFailedError,
)
from airflow_provider_nomad.nomad.outcome import JobOutcome, JobResult
from airflow_provider_nomad.nomad.python_task import (
    RESULT_FILE,
    build_script,
    check_payload_size,
    check_runner_job,
    function_job,
    json_arguments,
    remote_error,
    remote_return_value,
    shippable_function,
)
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator, NomadRunJobOperator

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.sdk.bases.decorator import TaskDecorator

__all__ = ["NomadPythonTaskError", "nomad_task"]

#: Arguments that build a job; meaningless with a runner ``job_id``.
_JOB_BUILDING_ARGS = ("image", "driver", "python", "resources", "datacenters")


class NomadPythonTaskError(NomadJobFailedError):
    """The ``@task.nomad`` function could not run on Nomad, raised there, or returned a value
    that is not JSON. The message carries the remote traceback; ``remote_type`` names the
    exception class raised on Nomad, ``phase`` is ``compile``, ``call`` or ``return``."""

    def __init__(self, message: str, *, remote_type: str | None, phase: str, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.remote_type = remote_type
        self.phase = phase


class _NomadPythonMixin:
    """Ships the function, and turns the followed job's end into its return value or error.

    Placed before the decorated operator's base in the MRO: it supplies the payload or job
    just before the operator's ``execute``, and wraps the operator's ``_finish``, which both
    the worker path and the deferred path (``execute_complete``) end in.
    """

    custom_operator_name = "@task.nomad"
    python_callable: Callable[..., Any]
    op_args: Sequence[Any]
    op_kwargs: Mapping[str, Any]

    def _check_callable(self) -> None:
        # At DAG parse time: a function that cannot be shipped is a DAG import error, long
        # before anything would be dispatched.
        shippable_function(self.python_callable)

    def _script(self, context: Context) -> str:
        function = shippable_function(self.python_callable)
        context_merge(context, self.op_kwargs)
        kwargs = dict(self.determine_kwargs(context))  # type: ignore[attr-defined]
        args, kwargs = json_arguments(function.name, self.op_args, kwargs)
        return build_script(function, args, kwargs)

    def _finish(self, context: Context, outcome: JobOutcome, adopted: str | None) -> Any:
        try:
            summary = super()._finish(context, outcome, adopted=adopted)  # type: ignore[misc]
        except NomadJobFailedError as exc:
            if outcome.result is not JobResult.FAILED:
                raise
            raise self._remote_failure(outcome, exc) or exc from None
        return remote_return_value(summary["result"])

    def _remote_failure(
        self, outcome: JobOutcome, exc: NomadJobFailedError
    ) -> NomadPythonTaskError | None:
        """The error the runner recorded in its result file, if it got that far."""
        if not outcome.final_alloc_ids:
            return None
        try:
            raw = self.hook.read_alloc_file(outcome.final_alloc_ids[-1], RESULT_FILE)  # type: ignore[attr-defined]
            error = remote_error(_json(raw))
        except (NomadApiError, ValueError) as read_exc:
            # The function never got to write it (killed, OOM, no Python): the job's own
            # failure, with its exit code and stderr, says more.
            self.log.info("No result file from the runner (%s)", read_exc)  # type: ignore[attr-defined]
            return None
        if error is None:
            return None
        message = (
            f"{error.get('message')}\n"
            f"Remote traceback (Python {error.get('python')} on Nomad, job {outcome.job_id}):\n"
            f"{(error.get('traceback') or '').rstrip()}\n"
            f"Nomad UI: {exc.ui_url}"
        )
        return NomadPythonTaskError(
            message,
            remote_type=error.get("type"),
            phase=str(error.get("phase")),
            job_id=exc.job_id,
            alloc_id=exc.alloc_id,
            task=exc.task,
            exit_code=exc.exit_code,
            signal=exc.signal,
            oom=exc.oom,
            stderr_tail=exc.stderr_tail,
            ui_url=exc.ui_url,
        )


def _json(raw: bytes) -> Any:
    import json

    return json.loads(raw)


class _NomadDispatchDecoratedOperator(
    _NomadPythonMixin, DecoratedOperator, NomadDispatchJobOperator
):
    """``@task.nomad(job_id=...)``: the function dispatched to a python runner job.

    :param job_id: ID of the parameterized python runner job. (templated)
    """

    template_fields: Sequence[str] = ("job_id", "meta", "namespace", "op_args", "op_kwargs")
    template_fields_renderers = {"meta": "json", "op_args": "py", "op_kwargs": "py"}

    def __init__(self, *, job_id: str, **kwargs: Any) -> None:
        for name in ("payload", "result_file", "wait_for_completion"):
            if name in kwargs:
                raise NomadInvalidInputError(
                    f"@task.nomad sets {name} itself (the function is the payload, its return "
                    "value the result); drop it."
                )
        super().__init__(job_id=job_id, result_file=RESULT_FILE, **kwargs)
        self._check_callable()

    def execute(self, context: Context) -> Any:
        self.payload = check_payload_size(self.python_callable.__name__, self._script(context))
        return super().execute(context)

    def _read_parent(self) -> dict[str, Any]:
        parent = super()._read_parent()
        check_runner_job(parent)
        return parent


class _NomadRunDecoratedOperator(_NomadPythonMixin, DecoratedOperator, NomadRunJobOperator):
    """``@task.nomad(...)`` without ``job_id``: the function in a batch job of its own.

    :param driver: Nomad task driver: ``raw_exec`` (default without ``image``: the worker's
        own Python, for local use and the emulator) or ``docker`` (default with ``image``).
    :param image: container image with Python 3 (``docker``). (templated)
    :param python: the interpreter to run (default: the worker's for ``raw_exec``/``exec``,
        ``python3`` otherwise).
    :param resources: ``cpu`` (MHz), ``memory`` (MB), ``memory_max``, ``cores``.
    :param datacenters: where it may run (default every datacenter, ``["*"]``).
    """

    template_fields: Sequence[str] = ("namespace", "image", "op_args", "op_kwargs")
    template_fields_renderers = {"op_args": "py", "op_kwargs": "py"}

    def __init__(
        self,
        *,
        image: str | None = None,
        driver: str | None = None,
        python: str | None = None,
        resources: Mapping[str, int] | None = None,
        datacenters: Sequence[str] = ("*",),
        **kwargs: Any,
    ) -> None:
        if "job_id" in kwargs:
            # .override(job_id=...) keeps the operator class the decorator chose.
            raise NomadInvalidInputError(
                "job_id must be given to @task.nomad(job_id=...) itself, not to .override(): "
                "the decorator decides there whether the function goes to a runner job."
            )
        for name in ("job", "result_file"):
            if name in kwargs:
                raise NomadInvalidInputError(
                    f"@task.nomad builds {name} itself; use NomadRunJobOperator to run a "
                    "jobspec of your own."
                )
        # The job is built at execute time, from the rendered arguments.
        super().__init__(job={}, result_file=RESULT_FILE, **kwargs)
        self.image = image
        self.driver = driver or ("docker" if image else "raw_exec")
        self.python = python
        # Not `self.resources`: BaseOperator owns that name (its executor resources).
        self.nomad_resources = dict(resources or {})
        self.datacenters = list(datacenters)
        self._check_callable()
        # Checked now so a bad resource is a DAG import error; built again at execute.
        function_job("check", "", driver=self.driver, image=image, resources=self.nomad_resources)

    def _job_spec(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        return function_job(
            _job_name(ti.dag_id, ti.task_id),
            self._script(context),
            driver=self.driver,
            image=self.image,
            python=self.python,
            datacenters=self.datacenters,
            resources=self.nomad_resources,
        )


def _job_name(dag_id: str, task_id: str) -> str:
    """The built job's base ID (the run operator appends the task instance's key and try)."""
    return f"airflow-{dag_id}-{task_id}"


def nomad_task(
    python_callable: Callable | None = None,
    multiple_outputs: bool | None = None,
    **kwargs: Any,
) -> TaskDecorator:
    """Run the decorated function inside a Nomad batch job; its return value is the XCom.

    ``@task.nomad(job_id="airflow-python-runner")`` dispatches it to a python runner job;
    ``@task.nomad(image="python:3.12-slim")`` or ``@task.nomad()`` (``raw_exec``) runs it in a
    job built for it. Other arguments go to the underlying operator
    (:class:`~airflow_provider_nomad.operators.nomad.NomadDispatchJobOperator` or
    :class:`~airflow_provider_nomad.operators.nomad.NomadRunJobOperator`): ``deferrable``,
    ``namespace``, ``nomad_conn_id``, ``stream_logs``, ``meta`` (runner only)...

    The function must be self-contained: imports inside its body, data in through its
    arguments, which travel as JSON, as does its return value.
    """
    if kwargs.get("job_id") is not None:
        clashing = [name for name in _JOB_BUILDING_ARGS if kwargs.get(name) is not None]
        if clashing:
            raise NomadInvalidInputError(
                f"@task.nomad got job_id and {', '.join(clashing)}: a runner job already "
                "decides where and how the function runs. Drop job_id to have a job built "
                f"from {', '.join(clashing)}, or drop {', '.join(clashing)}."
            )
        operator_class: type = _NomadDispatchDecoratedOperator
    else:
        kwargs.pop("job_id", None)
        operator_class = _NomadRunDecoratedOperator
    decorator = task_decorator_factory(
        python_callable=python_callable,
        multiple_outputs=multiple_outputs,
        decorated_operator_class=operator_class,
        **kwargs,
    )
    # Checked when decorating, before Airflow looks at the function (a lambda would otherwise
    # fail as an invalid task_id, which says nothing about the fix).
    if python_callable is not None:
        shippable_function(python_callable)
        return decorator

    def check_then_decorate(func: Callable) -> Any:
        shippable_function(func)
        return decorator(func)  # type: ignore[call-arg]

    return check_then_decorate  # type: ignore[return-value]
