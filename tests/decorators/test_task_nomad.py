"""``@task.nomad``: the function runs in a Nomad job, its return value comes back as the XCom.

The decorated functions are defined at module level, as in a DAG file: their source is what
travels to Nomad, where the emulator runs it as a real process with this interpreter.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pendulum
import pytest
from airflow.sdk import DAG, task
from nomad_testlib import act_when_logged
from process_testlib import kill_worker_once_it_prints

from airflow_provider_nomad.decorators.nomad import NomadPythonTaskError
from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad.python_task import python_runner_job

START = pendulum.datetime(2026, 1, 1, tz="UTC")
FX_RATES = {"USD": 1.0}  # module-level: a function must not read it on Nomad


@task
def positions() -> list[dict]:
    return [
        {"account": "ACC-1", "isin": "US0378331005", "qty": 100, "price": "187.5"},
        {"account": "ACC-1", "isin": "US5949181045", "qty": -20, "price": "415.1"},
        {"account": "ACC-2", "isin": "US0378331005", "qty": 40, "price": "187.5"},
    ]


@task.nomad(resources={"cpu": 100, "memory": 128})
def rollup(rows: list[dict], currency: str = "USD") -> dict:
    import os
    from collections import defaultdict
    from decimal import Decimal

    exposure: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        exposure[row["account"]] += row["qty"] * Decimal(row["price"])
    print(f"rolled up {len(rows)} positions on {os.environ['NOMAD_JOB_ID']}")
    return {"currency": currency, "exposure": {k: str(v) for k, v in sorted(exposure.items())}}


@task
def report(summary: dict) -> str:
    return f"{summary['currency']} {summary['exposure']['ACC-1']}"


@task.nomad()
def breaks(rows: list[dict]) -> int:
    def check(row):
        if row["qty"] < 0:
            raise ValueError(f"short position in {row['isin']} for {row['account']}")

    for row in rows:
        check(row)
    return len(rows)


@task.nomad()
def not_json() -> object:
    import datetime

    return {"as_of": datetime.date(2026, 11, 24)}


def test_function_runs_on_nomad_with_upstream_arguments_and_returns_downstream(
    nomad_conn, nomad_client, dag_runner, capfd
):
    with DAG("task_nomad_ok", schedule=None, start_date=START, catchup=False) as dag:
        report(rollup(positions(), currency="USD"))
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]

    assert result.xcom("rollup") == {
        "currency": "USD",
        "exposure": {"ACC-1": "10448.0", "ACC-2": "7500.0"},
    }
    assert result.xcom("report") == "USD 10448.0"
    # It really ran in a Nomad job registered for this task instance, its print in the log.
    job_id = result.xcom("rollup", key="nomad_job_id")
    assert job_id.startswith("airflow-task_nomad_ok-rollup-af-")
    assert nomad_client.job.get_job(job_id)["Status"] == "dead"
    assert f"rolled up 3 positions on {job_id}" in output


def test_function_that_raises_fails_with_the_remote_traceback(
    nomad_conn, nomad_client, dag_runner, capfd
):
    raised: list[BaseException] = []
    with DAG("task_nomad_raises", schedule=None, start_date=START, catchup=False) as dag:
        breaks.override(on_failure_callback=lambda context: raised.append(context["exception"]))(
            positions()
        )
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "failed", output[-3000:]
    [error] = raised
    assert isinstance(error, NomadPythonTaskError), repr(error)
    assert error.remote_type == "ValueError" and error.phase == "call"
    assert error.exit_code == 1
    message = str(error)
    # The remote traceback, with the DAG file's own lines and frames.
    assert "Remote traceback" in message
    assert "test_task_nomad.py (@task.nomad breaks)" in message
    assert 'raise ValueError(f"short position in {row' in message
    assert "in check" in message
    assert "ValueError: short position in US5949181045 for ACC-1" in message
    # The harness's own frame is not in it.
    assert "in main" not in message


def test_return_value_that_is_not_json_fails_clearly(nomad_conn, dag_runner, capfd):
    raised: list[BaseException] = []
    with DAG("task_nomad_not_json", schedule=None, start_date=START, catchup=False) as dag:
        not_json.override(on_failure_callback=lambda context: raised.append(context["exception"]))()
    result = dag_runner(dag)
    assert result.state == "failed"
    [error] = raised
    assert isinstance(error, NomadPythonTaskError) and error.phase == "return"
    assert "not_json() returned a dict, which cannot be sent back as JSON" in str(error)
    assert ".isoformat()" in str(error)


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_runner_job_mode_dispatches_the_function(
    nomad_conn, nomad_client, dag_runner, capfd, deferrable
):
    runner = python_runner_job(
        "py-runner", driver="raw_exec", image=None, python=sys.executable, datacenters=["dc1"]
    )
    nomad_client.jobs.register_job({"Job": runner})
    with DAG("task_nomad_runner", schedule=None, start_date=START, catchup=False) as dag:
        on_runner = task.nomad(job_id="py-runner", deferrable=deferrable)(rollup.function)
        report(on_runner(positions()))
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    assert result.xcom("report") == "USD 10448.0"
    [child] = nomad_client.jobs.get_jobs(prefix="py-runner/dispatch-af-")
    assert result.xcom("rollup", key="nomad_job_id") == child["ID"]


def test_runner_that_cannot_take_the_function_is_refused_before_dispatch(
    nomad_conn, nomad_client, dag_runner, capfd
):
    runner = python_runner_job("not-a-runner", driver="raw_exec", image=None, python="python3")
    del runner["TaskGroups"][0]["Tasks"][0]["DispatchPayload"]
    nomad_client.jobs.register_job({"Job": runner})
    with DAG("task_nomad_bad_runner", schedule=None, start_date=START, catchup=False) as dag:
        task.nomad(job_id="not-a-runner")(rollup.function)(positions())
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "cannot be a python runner" in output
    assert nomad_client.jobs.get_jobs(prefix="not-a-runner/dispatch-") == []


def test_argument_that_is_not_json_fails_before_any_job_is_registered(
    nomad_conn, nomad_client, dag_runner, capfd
):
    @task
    def as_of():
        return pendulum.date(2026, 11, 24)

    with DAG("task_nomad_bad_arg", schedule=None, start_date=START, catchup=False) as dag:
        rollup(as_of())
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "NomadInvalidInputError" in output and "arguments travel as JSON" in output
    assert nomad_client.jobs.get_jobs(prefix="airflow-task_nomad_bad_arg") == []


def _closure():
    limit = 10

    def capped(qty: int) -> int:
        return min(qty, limit)

    return capped


def reads_module_global(amount: float) -> float:
    return amount * FX_RATES["USD"]


async def async_function() -> int:
    return 1


@pytest.mark.parametrize(
    ("function", "args", "message"),
    [
        (lambda rows: rows, ([],), "cannot ship a lambda"),
        (_closure(), (1,), "uses limit from the function it is defined in"),
        (reads_module_global, (1.0,), "refers to FX_RATES"),
        (async_function, (), "async function"),
    ],
    ids=["lambda", "closure", "module-global", "async"],
)
def test_function_that_cannot_be_shipped_is_a_dag_error(function, args, message):
    with (
        DAG("task_nomad_unshippable", schedule=None, start_date=START, catchup=False),
        pytest.raises(NomadInvalidInputError, match=message),
    ):
        task.nomad()(function)(*args)


def test_job_id_with_job_building_arguments_is_refused():
    with pytest.raises(NomadInvalidInputError, match="job_id and image"):
        task.nomad(job_id="py-runner", image="python:3.12-slim")


def test_unknown_resource_is_a_dag_error():
    with (
        DAG("task_nomad_resources", schedule=None, start_date=START, catchup=False),
        pytest.raises(NomadInvalidInputError, match="Unknown resource 'gpu'"),
    ):
        task.nomad(resources={"gpu": 1})(rollup.function)([])


@task.nomad(multiple_outputs=True)
def net(rows: list[dict]) -> dict:
    return {"long": sum(r["qty"] for r in rows if r["qty"] > 0), "count": len(rows)}


def test_mapped_instances_run_one_job_each_and_multiple_outputs_unrolls(
    nomad_conn, nomad_client, dag_runner, capfd
):
    books = [[{"qty": 100}, {"qty": -20}], [{"qty": 40}]]
    with DAG("task_nomad_mapped", schedule=None, start_date=START, catchup=False) as dag:
        net.expand(rows=books)
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "success", output[-3000:]
    # One job per mapped task instance: map_index is part of the identity.
    jobs = nomad_client.jobs.get_jobs(prefix="airflow-task_nomad_mapped-net-af-")
    assert len(jobs) == 2 and len({j["ID"] for j in jobs}) == 2

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter_by(dag_id="task_nomad_mapped", key="long").all()
        longs = sorted(XComModel.deserialize_value(r) for r in rows)
    assert longs == [40, 100]


WORKER_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
sys.path.insert(0, {here!r})
from gated_task_dag import build_dag
from nomad_testlib import run_dag
run_dag(build_dag({release!r}, {runs!r}))
"""


def test_retry_after_the_worker_died_adopts_the_running_function(
    nomad_conn, nomad_client, dag_runner, capfd, tmp_path
):
    """SIGKILL the worker while the function runs on Nomad: the retry follows that same job."""
    from gated_task_dag import DAG_ID, build_dag

    release, runs = tmp_path / "release", tmp_path / "runs"
    script = tmp_path / "worker.py"
    script.write_text(
        WORKER_SCRIPT.format(
            tests=str(Path(__file__).parent.parent),
            here=str(Path(__file__).parent),
            release=str(release),
            runs=str(runs),
        )
    )
    # The worker follows the job once the function's first line reached its task log.
    kill_worker_once_it_prints(script, "rollup started")
    prefix = f"airflow-{DAG_ID}-gated_rollup-af-"
    [job] = nomad_client.jobs.get_jobs(prefix=prefix)
    assert job["Status"] == "running"

    released = act_when_logged(capfd, "Adopting", release.touch)
    result = dag_runner(build_dag(str(release), str(runs)))
    assert released(), "the retry never logged that it adopted the job"
    output = capfd.readouterr().out

    assert result.state == "success", output[-3000:]
    assert f"Adopting {job['ID']}" in output
    # One job for both tries, and the function started once: the retry ran nothing again.
    assert [j["ID"] for j in nomad_client.jobs.get_jobs(prefix=prefix)] == [job["ID"]]
    assert len(runs.read_text().splitlines()) == 1
    assert "rollup finished" in output
    # The value the adopted run returned reached the downstream task.
    assert result.xcom("gated_rollup") == {"desk": "rates", "net": "10448.0"}
    assert result.xcom("book") == "rates 10448.0"
