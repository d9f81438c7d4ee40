"""Shipping a Python function to Nomad for ``@task.nomad`` (pure: no I/O, no Airflow).

The function travels as its source text, its arguments as JSON, both inside one self-contained
script: the source of :mod:`~airflow_provider_nomad.nomad.python_harness` followed by a call of
its ``main`` with the spec (zlib-compressed JSON, base64). The script needs nothing but a
Python 3 on the Nomad client: no Airflow, no provider, no pickle (so no need for the same
Python version on both sides, and nothing executes while the worker reads the result).

The script reaches Nomad in one of two ways:

- as the dispatch payload of a *python runner* job the platform team registered (see
  :func:`python_runner_job`): its task runs ``python <task dir>/airflow_task.py``;
- inside a batch job built from the decorator's ``driver``/``image``/``resources``
  (:func:`function_job`), in an environment variable that a one-line ``python -c`` decodes
  (base64 of the compressed script, so Nomad's ``${...}`` interpolation never touches it).
"""

from __future__ import annotations

import base64
import dis
import inspect
import json
import os
import sys
import textwrap
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import CodeType, FunctionType
from typing import Any

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad import python_harness
from airflow_provider_nomad.nomad.dispatch_input import MAX_PAYLOAD_BYTES

__all__ = [
    "PAYLOAD_FILE",
    "RESULT_FILE",
    "ShippedFunction",
    "build_script",
    "check_runner_job",
    "function_job",
    "json_arguments",
    "python_runner_job",
    "remote_return_value",
    "shippable_function",
]

#: The result file, relative to the allocation directory (``$NOMAD_ALLOC_DIR/...``).
RESULT_FILE = f"alloc/{python_harness.RESULT_NAME}"
#: The file under the runner task's ``local/`` directory that receives the payload.
PAYLOAD_FILE = "airflow_task.py"
#: The environment variable holding the script in a built job.
SCRIPT_ENV = "AIRFLOW_NOMAD_TASK"
#: Linux refuses a single environment string over 128 KiB (MAX_ARG_STRLEN); keep well below.
MAX_ENV_SCRIPT_BYTES = 96 * 1024
#: The one line a built job's task runs: decode the script from the environment and run it.
BOOTSTRAP = (
    "import base64,os,zlib;exec(compile(zlib.decompress(base64.b64decode("
    f"os.environ['{SCRIPT_ENV}'])),'{PAYLOAD_FILE}','exec'))"
)
NS = 1_000_000_000

_HARNESS_SOURCE = inspect.getsource(python_harness)
_RESOURCE_KEYS = {"cpu": "CPU", "cores": "Cores", "memory": "MemoryMB", "memory_max": "MemoryMaxMB"}
_SHIP_FIX = (
    "A @task.nomad function runs on Nomad from its source alone: import what it needs inside "
    "its body and pass data in as arguments"
)


@dataclass(frozen=True)
class ShippedFunction:
    """A function's source and where it came from (for tracebacks with the DAG file's lines)."""

    name: str
    source: str
    filename: str
    first_line: int


def shippable_function(func: Callable[..., Any]) -> ShippedFunction:
    """The function's source, or :class:`NomadInvalidInputError` saying why it cannot be shipped.

    Refused: anything but a plain named ``def`` (lambdas, partials, callable objects, async
    functions), and a function that reads names from outside its body (variables of an
    enclosing function, module-level names): on Nomad they would not exist, and a closure
    may hold state (a connection, a lock) that could not travel anyway.
    """
    if not isinstance(func, FunctionType):
        raise NomadInvalidInputError(
            f"@task.nomad needs a function defined with `def`, got {type(func).__name__} "
            f"{func!r}. {_SHIP_FIX}."
        )
    name = func.__name__
    if name == "<lambda>":
        raise NomadInvalidInputError(
            f"@task.nomad cannot ship a lambda: its source cannot be cut out of the line it is "
            f"on. Define it with `def`. {_SHIP_FIX}."
        )
    if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
        raise NomadInvalidInputError(
            f"@task.nomad cannot run the async function {name}(); make it a plain `def`."
        )
    if func.__code__.co_freevars:
        names = ", ".join(func.__code__.co_freevars)
        raise NomadInvalidInputError(
            f"{name}() uses {names} from the function it is defined in (a closure); those "
            f"values cannot travel to Nomad. Define {name}() at module level and pass them "
            f"as arguments. {_SHIP_FIX}."
        )
    outside = sorted(
        n
        for n in _global_names(func.__code__)
        if n != name and n in func.__globals__ and not _is_builtin(n)
    )
    if outside:
        raise NomadInvalidInputError(
            f"{name}() refers to {', '.join(outside)}, defined outside it in its module; they "
            f"do not exist where it runs on Nomad. {_SHIP_FIX} (e.g. `import json` inside "
            f"{name}(), constants as default arguments or parameters)."
        )
    try:
        lines, first_line = inspect.getsourcelines(func)
    except (OSError, TypeError) as exc:
        raise NomadInvalidInputError(
            f"The source of {name}() cannot be read ({exc}); @task.nomad ships functions "
            "defined in a .py file."
        ) from None
    filename = os.path.basename(inspect.getsourcefile(func) or "dag.py")
    return ShippedFunction(
        name=name,
        source=textwrap.dedent("".join(lines)),
        filename=f"{filename} (@task.nomad {name})",
        first_line=first_line,
    )


def _global_names(code: CodeType) -> set[str]:
    """Names the code (and the code nested in it: comprehensions, inner functions) reads as
    globals. Attribute names (``row.json``) are not among them, unlike ``co_names``."""
    names = {
        ins.argval
        for ins in dis.get_instructions(code)
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(ins.argval, str)
    }
    for const in code.co_consts:
        if isinstance(const, CodeType):
            names |= _global_names(const)
    return names


def _is_builtin(name: str) -> bool:
    import builtins

    return hasattr(builtins, name)


def json_arguments(
    name: str, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Check that every argument can travel as JSON, naming the first one that cannot."""
    labelled = [(f"positional argument {i}", v) for i, v in enumerate(args)]
    labelled += [(f"argument {k!r}", v) for k, v in kwargs.items()]
    for label, value in labelled:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise NomadInvalidInputError(
                f"{label} of {name}() is a {type(value).__name__}, which cannot be sent to "
                f"Nomad: arguments travel as JSON ({exc}). Pass JSON values (dict, list, str, "
                "number, bool, None): e.g. a date as '{{ ds }}' or .isoformat(), a Decimal as "
                "str, an Airflow object (ti, dag_run) as the values you need from it."
            ) from None
    return list(args), dict(kwargs)


def build_script(func: ShippedFunction, args: list[Any], kwargs: dict[str, Any]) -> str:
    """The self-contained script that runs ``func(*args, **kwargs)`` on Nomad."""
    spec = {
        "name": func.name,
        "source": func.source,
        "filename": func.filename,
        "first_line": func.first_line,
        "args": args,
        "kwargs": kwargs,
        "worker_python": ".".join(map(str, sys.version_info[:3])),
    }
    encoded = base64.b64encode(zlib.compress(json.dumps(spec).encode(), 9)).decode()
    return f"{_HARNESS_SOURCE}\n\nraise SystemExit(main({encoded!r}))\n"


def check_payload_size(name: str, script: str) -> bytes:
    """The script as a dispatch payload, or a clear error when it is over Nomad's limit."""
    payload = script.encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise NomadInvalidInputError(
            f"{name}() and its arguments make a {len(payload)}-byte dispatch payload, over "
            f"Nomad's limit of {MAX_PAYLOAD_BYTES}: pass references to the data (a path, an "
            "object-store key) instead of the data, or run the function in a job built from "
            "the decorator's driver/image (no job_id), which has no such limit."
        )
    return payload


def python_runner_job(
    job_id: str = "airflow-python-runner",
    *,
    driver: str = "docker",
    image: str | None = "python:3.12-slim",
    python: str = "python3",
    datacenters: Sequence[str] = ("*",),
    resources: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The parameterized *python runner* job for ``@task.nomad(job_id=...)``, as Nomad JSON.

    Its task writes the dispatch payload to ``local/airflow_task.py`` and runs it with
    ``python``. Nomad's restart and reschedule attempts are off: a function that raised is
    retried by Airflow (``retries``), never behind its back.
    """
    task = _task(driver, image, python, ["-u", "${NOMAD_TASK_DIR}/" + PAYLOAD_FILE], resources)
    task["DispatchPayload"] = {"File": PAYLOAD_FILE}
    job = _batch_job(job_id, task, datacenters)
    job["ParameterizedJob"] = {"Payload": "required", "MetaRequired": [], "MetaOptional": []}
    return job


def check_runner_job(parent: Mapping[str, Any]) -> None:
    """Refuse a ``job_id`` that cannot run the shipped script, before dispatching to it."""
    job_id = parent.get("ID") or "?"
    tasks = [t for g in parent.get("TaskGroups") or [] for t in g.get("Tasks") or []]
    takes_payload = [t for t in tasks if (t.get("DispatchPayload") or {}).get("File")]
    if not takes_payload:
        raise NomadInvalidInputError(
            f"Nomad job {job_id!r} cannot be a python runner for @task.nomad: none of its tasks "
            "receives the dispatch payload as a file. Its task needs "
            f'dispatch_payload {{ file = "{PAYLOAD_FILE}" }} and to run '
            f"`python3 ${{NOMAD_TASK_DIR}}/{PAYLOAD_FILE}` (see python_runner_job())."
        )
    mode = ((parent.get("ParameterizedJob") or {}).get("Payload") or "optional").lower()
    if mode == "forbidden":
        raise NomadInvalidInputError(
            f'Nomad job {job_id!r} forbids a payload (payload = "forbidden"), but @task.nomad '
            'sends the function as the payload: set payload = "required".'
        )


def function_job(
    job_id: str,
    script: str,
    *,
    driver: str = "raw_exec",
    image: str | None = None,
    python: str | None = None,
    datacenters: Sequence[str] = ("*",),
    resources: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A batch job running the script: ``raw_exec`` with the worker's own Python for local use
    (and the emulator), ``docker`` with ``image`` and its ``python3`` on a cluster."""
    encoded = base64.b64encode(zlib.compress(script.encode(), 9)).decode()
    if len(encoded) > MAX_ENV_SCRIPT_BYTES:
        raise NomadInvalidInputError(
            f"The function and its arguments make {len(encoded)} bytes once encoded, over the "
            f"{MAX_ENV_SCRIPT_BYTES} a task's environment can carry: pass references to the "
            "data (a path, an object-store key) instead of the data."
        )
    python = python or (sys.executable if driver in ("raw_exec", "exec") else "python3")
    task = _task(driver, image, python, ["-u", "-c", BOOTSTRAP], resources)
    task["Env"] = {SCRIPT_ENV: encoded}
    return _batch_job(job_id, task, datacenters)


def _task(
    driver: str,
    image: str | None,
    python: str,
    args: list[str],
    resources: Mapping[str, int] | None,
) -> dict[str, Any]:
    if driver == "docker" and not image:
        raise NomadInvalidInputError("driver 'docker' needs an image with Python 3 in it.")
    config: dict[str, Any] = {"command": python, "args": args}
    if image:
        config["image"] = image
    return {
        "Name": "python",
        "Driver": driver,
        "Config": config,
        "Resources": _resources(resources),
    }


def _resources(resources: Mapping[str, int] | None) -> dict[str, int]:
    chosen = {"CPU": 100, "MemoryMB": 256}
    for key, value in (resources or {}).items():
        if key not in _RESOURCE_KEYS:
            raise NomadInvalidInputError(
                f"Unknown resource {key!r}; use {', '.join(sorted(_RESOURCE_KEYS))} "
                "(cpu in MHz, memory in MB)."
            )
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise NomadInvalidInputError(f"Resource {key!r} must be a positive int, got {value!r}.")
        chosen[_RESOURCE_KEYS[key]] = value
    return chosen


def _batch_job(job_id: str, task: dict[str, Any], datacenters: Sequence[str]) -> dict[str, Any]:
    return {
        "ID": job_id,
        "Name": job_id,
        "Type": "batch",
        "Datacenters": list(datacenters),
        "TaskGroups": [
            {
                "Name": "python",
                "Count": 1,
                # Airflow's retries decide whether a failed function runs again, not Nomad.
                "RestartPolicy": {
                    "Attempts": 0,
                    "Interval": 3600 * NS,
                    "Delay": NS,
                    "Mode": "fail",
                },
                "ReschedulePolicy": {"Attempts": 0, "Unlimited": False},
                "Tasks": [task],
            }
        ],
    }


def remote_return_value(document: Any) -> Any:
    """The function's return value from its result file's JSON (already parsed)."""
    if not isinstance(document, dict) or "return_value" not in document:
        raise NomadInvalidInputError(
            f"The result file {RESULT_FILE!r} was not written by @task.nomad's runner (it holds "
            f"{str(document)[:200]!r}): does something else in the job write that file?"
        )
    return document["return_value"]


def remote_error(document: Any) -> dict[str, Any] | None:
    """The failure the runner recorded in its result file, or None."""
    if isinstance(document, dict) and isinstance(document.get("error"), dict):
        return document["error"]
    return None
