"""NomadRunJobOperator: a whole batch job, registered per task instance, followed to its end."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import act_when_logged
from process_testlib import kill_worker_once_it_prints

from airflow_provider_nomad.exceptions import NomadInvalidInputError, NomadJobFailedError
from airflow_provider_nomad.nomad.run_job import META_TRY, check_runnable
from airflow_provider_nomad.operators.nomad import NomadRunJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
TESTS_DIR = Path(__file__).parent.parent


def jobspec(name: str, script: str) -> str:
    """An HCL batch job whose task runs ``script`` with this interpreter (raw_exec)."""
    code = textwrap.dedent(script).strip().replace("\\", "\\\\").replace('"', '\\"')
    code = code.replace("\n", "\\n")
    return textwrap.dedent(
        f"""
        job "{name}" {{
          type        = "batch"
          datacenters = ["dc1"]
          meta {{
            desk = "rates"
          }}
          group "rollup" {{
            restart {{
              attempts = 0
              mode     = "fail"
            }}
            reschedule {{
              attempts  = 0
              unlimited = false
            }}
            task "main" {{
              driver = "raw_exec"
              config {{
                command = "{sys.executable}"
                args    = ["-u", "-c", "{code}"]
              }}
            }}
          }}
        }}
        """
    )


def jobs_of(client, name: str) -> list[dict]:
    return [j for j in client.jobs.get_jobs(prefix=f"{name}-af-")]


def test_hcl_jobspec_runs_to_success_under_a_task_instance_id(
    nomad_conn, nomad_client, dag_runner, batch_log
):
    script = """
        import os, sys
        print("rolling up positions for", os.environ["NOMAD_META_desk"])
        print("rolled up 3 books", file=sys.stderr)
    """
    with DAG("run_job_ok", schedule=None, start_date=START, catchup=False) as dag:
        NomadRunJobOperator(
            task_id="rollup",
            job=jobspec("positions", script),
            # Templated, and set over the jobspec's own meta (desk = "rates").
            meta={"desk": "{{ dag.dag_id.split('_')[0] }}-credit"},
        )
    result = dag_runner(dag)
    assert result.state == "success", batch_log.text[-3000:]

    summary = result.xcom("rollup")
    [job] = jobs_of(nomad_client, "positions")
    assert summary["job_id"] == job["ID"]
    assert summary["status"] == "succeeded" and summary["exit_codes"]
    assert job["ID"].startswith("positions-af-") and job["ID"].endswith("-try1")
    full = nomad_client.job.get_job(job["ID"])
    assert full["Name"] == "positions"
    assert full["Meta"]["desk"] == "run-credit" and full["Meta"][META_TRY] == "1"
    assert full["Meta"]["airflow_task_id"] == "rollup"
    assert result.xcom("rollup", key="nomad_job_id") == job["ID"]
    assert batch_log.lines["stdout"] == ["rolling up positions for run-credit"]
    assert batch_log.lines["stderr"] == ["rolled up 3 books"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_exit_3_fails_with_exit_code_and_stderr_tail(
    nomad_conn, nomad_client, dag_runner, capfd, deferrable
):
    script = """
        import sys
        print("rolling up")
        print("position break: ACC-7 off by 100 shares", file=sys.stderr)
        sys.exit(3)
    """
    raised: list[BaseException] = []
    with DAG("run_job_fail", schedule=None, start_date=START, catchup=False) as dag:
        NomadRunJobOperator(
            task_id="rollup",
            job=jobspec("breaks", script),
            deferrable=deferrable,
            on_failure_callback=lambda context: raised.append(context["exception"]),
        )
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "failed", output[-3000:]
    [error] = raised
    assert isinstance(error, NomadJobFailedError), repr(error)
    assert error.exit_code == 3
    assert "position break: ACC-7 off by 100 shares" in (error.stderr_tail or "")
    assert "exited with code 3" in str(error)
    # stop_on_failure (the default) leaves the failed job stopped, not waiting for a reschedule.
    [job] = jobs_of(nomad_client, "breaks")
    assert nomad_client.job.get_job(job["ID"])["Stop"] is True


def test_purge_on_success_removes_the_job(nomad_conn, nomad_client, dag_runner, capfd):
    with DAG("run_job_purge", schedule=None, start_date=START, catchup=False) as dag:
        NomadRunJobOperator(
            task_id="rollup", job=jobspec("purged", "print('ok')"), purge_on_success=True
        )
    result = dag_runner(dag)
    assert result.state == "success", capfd.readouterr().out[-3000:]
    assert result.xcom("rollup")["status"] == "succeeded"
    assert jobs_of(nomad_client, "purged") == []


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ({"ID": "svc", "Type": "service", "TaskGroups": []}, "never ends by itself"),
        (
            {"ID": "p", "Type": "batch", "ParameterizedJob": {"Payload": "optional"}},
            "NomadDispatchJobOperator",
        ),
        ({"ID": "c", "Type": "batch", "Periodic": {"Spec": "@daily"}}, "periodic"),
        ({"Type": "batch"}, "no ID"),
    ],
)
def test_jobs_that_cannot_be_run_whole_are_refused(job, message):
    with pytest.raises(NomadInvalidInputError, match=message):
        check_runnable(job)


def test_bad_jobspec_fails_before_anything_is_registered(
    nomad_conn, nomad_client, dag_runner, capfd
):
    service = jobspec("svc", "print(1)").replace('type        = "batch"', 'type = "service"')
    with DAG("run_job_bad", schedule=None, start_date=START, catchup=False) as dag:
        NomadRunJobOperator(task_id="rollup", job=service)
    result = dag_runner(dag)
    output = capfd.readouterr().out
    assert result.state == "failed"
    assert "NomadInvalidInputError" in output and "never ends by itself" in output
    assert nomad_client.jobs.get_jobs(prefix="svc") == []


WORKER_SCRIPT = """
import sys
sys.path.insert(0, {here!r})
import pendulum
from airflow.sdk import DAG
from nomad_testlib import run_dag
from airflow_provider_nomad.operators.nomad import NomadRunJobOperator

with DAG("run_job_adopt", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         catchup=False) as dag:
    NomadRunJobOperator(task_id="rollup", job={spec!r})
run_dag(dag)
"""


def test_retry_after_the_worker_died_adopts_the_running_job(
    nomad_conn, nomad_client, dag_runner, capfd, tmp_path
):
    release = tmp_path / "release"
    spec = jobspec(
        "gated",
        f"""
        import os, time
        print("batch started", flush=True)
        while not os.path.exists({str(release)!r}):
            time.sleep(0.02)
        print("batch finished")
        """,
    )
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER_SCRIPT.format(here=str(TESTS_DIR), spec=spec)))
    # The worker follows the job once the batch's first line reached its task log.
    kill_worker_once_it_prints(script, "batch started")
    [job] = jobs_of(nomad_client, "gated")
    assert job["Status"] == "running"

    with DAG("run_job_adopt", schedule=None, start_date=START, catchup=False) as dag:
        NomadRunJobOperator(task_id="rollup", job=spec)
    released = act_when_logged(capfd, "Adopting", release.touch)
    result = dag_runner(dag)
    assert released(), "the retry never logged that it adopted the job"
    output = capfd.readouterr().out

    assert result.state == "success", output[-3000:]
    assert f"Adopting {job['ID']}" in output
    assert [j["ID"] for j in jobs_of(nomad_client, "gated")] == [job["ID"]]
    assert "batch finished" in output
    assert result.xcom("rollup")["adopted"] == "running"
