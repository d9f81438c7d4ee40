"""``python scripts/demo.py --executor nomad`` end to end: a real scheduler, dag-processor,
api-server and triggerer whose only executor is NomadExecutor run the nightly settlement DAG,
every task try a child of the documented raw_exec runner job on the emulator.

Every wait inside the demo is on an observable state (a REST answer) bounded by its
``--timeout``; the test bounds the whole demo against hangs only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from test_demo import DAY, DEMO, ROOT, TASKS, DemoRun

pytestmark = pytest.mark.slow
#: Bound against hangs of the whole demo (it takes about a minute on 2 loaded cores).
HANG_BOUND = 900


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    env = {k: v for k, v in os.environ.items() if k not in ("NOMAD_ADDR", "CONSUL_HTTP_ADDR")}
    home = tmp_path_factory.mktemp("demo-executor")
    done = subprocess.run(
        [
            sys.executable,
            str(DEMO),
            "--executor",
            "nomad",
            "--home",
            str(home),
            "--business-date",
            DAY,
            "--timeout",
            str(HANG_BOUND - 60),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=HANG_BOUND,
    )
    return DemoRun(done.returncode, done.stdout)


def _children(output: str) -> list[tuple[str, str, str, str]]:
    """``(task, try, status, job id)`` of each child the demo listed."""
    listing = output.split("Nomad children of airflow-task-runner", 1)[1].split("-----", 1)[0]
    return re.findall(r"^  (\w+)\s+try (\d+)\s+(\w+)\s+(\S+)$", listing, flags=re.MULTILINE)


def _log(output: str, task: str) -> str:
    return output.split(f"----- log of {task}, try 1 (REST API) -----", 1)[1].split("-----", 1)[0]


def test_every_task_runs_on_nomad_and_the_run_succeeds(run: DemoRun) -> None:
    assert run.returncode == 0, run.output[-3000:]
    assert run.task_states() == dict.fromkeys(TASKS, "success")
    # The batches the DAG's operators dispatched from inside their own Nomad children.
    assert f"Reconciliation of {DAY} (accounts 1000-1099): BALANCED" in run.output
    assert "ok     journal balance: debits 9,855,112,339 JPY = credits 9,855,112,339 JPY" in (
        run.output
    )


def test_each_try_is_a_child_of_the_runner_and_a_resumed_deferral_a_new_one(
    run: DemoRun,
) -> None:
    children = _children(run.output)
    assert sorted({task for task, *_ in children}) == sorted(TASKS)
    assert {(number, status) for _, number, status, _ in children} == {("1", "dead")}
    assert all(job.startswith("airflow-task-runner/dispatch-af-") for *_, job in children)
    runs = {task: sum(1 for t, *_ in children if t == task) for task in TASKS}
    # reconcile is deferrable: it deferred in one child and resumed in a second.
    assert runs == {**dict.fromkeys(TASKS, 1), "reconcile": 2}
    assert len({job for *_, job in children}) == len(children)


def test_every_tries_log_is_served_by_the_rest_api(run: DemoRun) -> None:
    for task in TASKS:
        assert f"----- log of {task}, try 1 (REST API) -----" in run.output
    settle = _log(run.output, "settle")
    assert re.search(r"\[settle \w+ stderr\] WARNING trade T20261124-", settle), settle
    assert re.search(r"Nomad job settlement/dispatch-af-\S+ succeeded", settle), settle
    assert "(HTTP " not in run.output.split("Nomad children of", 1)[1]


def test_the_executor_demo_refuses_another_dag_before_starting_anything() -> None:
    """``--executor nomad`` runs nightly_settlement only: ``--dag`` with it is refused up front."""
    done = subprocess.run(
        [sys.executable, str(DEMO), "--executor", "nomad", "--dag", "position_rollup"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert "--executor nomad runs nightly_settlement only" in done.stderr
    assert "demo:" not in done.stdout
