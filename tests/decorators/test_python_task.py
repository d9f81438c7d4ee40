"""The shipped script on its own: run with a plain ``python -c``, as a Nomad task runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad.identity import TaskIdentity
from airflow_provider_nomad.nomad.python_task import (
    MAX_PAYLOAD_BYTES,
    ShippedFunction,
    build_script,
    check_payload_size,
    json_arguments,
    python_runner_job,
)
from airflow_provider_nomad.nomad.run_job import (
    job_for_try,
    registered_after_a_clear,
    registering_try,
    run_job_prefix,
)


def run_script(script: str, alloc_dir: Path) -> tuple[int, str, dict]:
    """Run the script with an empty environment but NOMAD_ALLOC_DIR, as a bare task would."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", script],
        capture_output=True,
        text=True,
        env={"NOMAD_ALLOC_DIR": str(alloc_dir)},
        timeout=120,
    )
    result = json.loads((alloc_dir / "airflow-task-result.json").read_text())
    return done.returncode, done.stderr, result


def test_source_that_does_not_compile_there_names_both_pythons(tmp_path):
    # What a function using syntax newer than the task's Python looks like there.
    broken = ShippedFunction("f", "def f(:\n    return 1\n", "dag.py (@task.nomad f)", 10)
    code, stderr, result = run_script(build_script(broken, [], {}), tmp_path)
    assert code == 1
    error = result["error"]
    assert error["phase"] == "compile"
    here = ".".join(map(str, sys.version_info[:3]))
    assert f"this task's Python {here} (the Airflow worker runs Python {here})" in error["message"]
    assert "SyntaxError" in stderr and 'File "dag.py (@task.nomad f)", line 10' in stderr


def test_arguments_reach_the_function_and_its_value_comes_back(tmp_path):
    source = "@task.nomad(image='x')\ndef add(a, b=0):\n    return {'sum': a + b}\n"
    shipped = ShippedFunction("add", source, "dag.py (@task.nomad add)", 1)
    code, _, result = run_script(build_script(shipped, [2], {"b": 40}), tmp_path)
    assert (code, result) == (0, {"return_value": {"sum": 42}})


def test_arguments_that_are_not_json_are_named():
    with pytest.raises(NomadInvalidInputError, match="argument 'when' of f\\(\\) is a date"):
        json_arguments("f", [], {"when": __import__("datetime").date(2026, 11, 24)})
    with pytest.raises(NomadInvalidInputError, match="positional argument 0 of f\\(\\)"):
        json_arguments("f", [float("nan")], {})


def test_payload_over_the_dispatch_limit_is_refused():
    assert check_payload_size("f", "x" * MAX_PAYLOAD_BYTES) == b"x" * MAX_PAYLOAD_BYTES
    with pytest.raises(NomadInvalidInputError, match="over Nomad's limit of 16384"):
        check_payload_size("f", "x" * (MAX_PAYLOAD_BYTES + 1))


def test_runner_job_takes_the_payload_as_the_file_it_runs():
    job = python_runner_job("runner", image="python:3.12-slim")
    [task] = job["TaskGroups"][0]["Tasks"]
    assert job["ParameterizedJob"]["Payload"] == "required"
    assert task["DispatchPayload"] == {"File": "airflow_task.py"}
    assert task["Config"]["args"][-1] == "${NOMAD_TASK_DIR}/airflow_task.py"


def test_each_try_gets_its_own_job_id_under_one_prefix():
    identity = TaskIdentity("positions", "extract", "manual__2026-11-24", -1)
    spec = {"ID": "extract", "Type": "batch", "Meta": {"desk": "rates"}, "TaskGroups": []}
    first, second = job_for_try(spec, identity, 1), job_for_try(spec, identity, 2)
    prefix = run_job_prefix("extract", identity)
    assert first["ID"] == f"{prefix}try1" and second["ID"] == f"{prefix}try2"
    assert prefix == f"extract-af-{identity.key}-"
    assert first["Name"] == "extract" and first["Meta"]["desk"] == "rates"
    assert registering_try(second["ID"]) == 2
    # The jobspec itself is left as it was.
    assert spec["ID"] == "extract" and spec["Meta"] == {"desk": "rates"}
    other = TaskIdentity("positions", "extract", "manual__2026-11-25", -1)
    assert not job_for_try(spec, other, 1)["ID"].startswith(prefix)


def test_the_job_of_a_cleared_try_is_marked_and_only_by_this_provider():
    identity = TaskIdentity("positions", "extract", "manual__2026-11-24", -1)
    spec = {"ID": "extract", "Type": "batch", "Meta": {"airflow_cleared": "true"}}
    marked = job_for_try(spec, identity, 2, cleared=True)
    unmarked = job_for_try(spec, identity, 3)
    assert registered_after_a_clear({"ID": marked["ID"], "Meta": marked["Meta"]})
    # A jobspec's own value is not believed, and a stub listed without meta has no mark.
    assert not registered_after_a_clear({"ID": unmarked["ID"], "Meta": unmarked["Meta"]})
    assert not registered_after_a_clear({"ID": marked["ID"]})
