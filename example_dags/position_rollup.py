"""End-of-day position roll-up: extract positions with a Nomad batch job, roll them up in Python
on Nomad.

The DAG:

1. extracts the positions of an account range at the close with ``NomadRunJobOperator``: a
   whole (not parameterized) batch job from ``jobs/position-extract.nomad.hcl``, registered
   under an ID of this task instance, followed to its end with its log in the task log, its
   ``positions.json`` read back through Nomad's fs API;
2. rolls them up per instrument and per account with ``@task.nomad``: the function below runs
   inside a Nomad batch job, and its return value is this task's XCom;
3. reports the largest exposures, in Airflow.

The roll-up runs with ``raw_exec`` and the worker's own Python, so the DAG runs as is against
``python -m airflow_provider_nomad.testing serve``. On a cluster, give it an image
(``@task.nomad(image="python:3.12-slim")``), or dispatch it to the platform team's python runner
job (``@task.nomad(job_id="airflow-python-runner")``): see docs/run-job-and-task-nomad.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, Param, Variable, get_current_context, task

from airflow_provider_nomad.operators.nomad import NomadRunJobOperator

TOKYO = "Asia/Tokyo"
JOBS_DIR = Path(__file__).resolve().parent / "jobs"
JOBS_DIR_VARIABLE = "nomad_batch_jobs_dir"


# [START howto_decorator_task_nomad]
@task.nomad(resources={"cpu": 200, "memory": 256})
def rollup_positions(extract_run: dict[str, Any], top: int = 5) -> dict[str, Any]:
    """Runs on Nomad: net quantity and market value per instrument and per account (JPY).

    Self-contained, as a @task.nomad function must be: imports inside, data in as arguments
    (JSON), a JSON result out.

    :param extract_run: what the extract task returned; its ``result`` is the batch's
        positions.json.
    """
    from collections import defaultdict

    extract = extract_run["result"]
    close = extract["close_jpy"]
    quantity: dict[str, int] = defaultdict(int)
    by_account: dict[int, int] = defaultdict(int)
    for position in extract["positions"]:
        value = position["quantity"] * close[position["instrument"]]
        quantity[position["instrument"]] += position["quantity"]
        by_account[position["account"]] += value
    by_instrument = {
        code: {"quantity": qty, "value_jpy": qty * close[code]}
        for code, qty in sorted(quantity.items())
    }
    total = sum(v["value_jpy"] for v in by_instrument.values())
    largest = sorted(by_account.items(), key=lambda item: item[1], reverse=True)[:top]
    print(f"{len(extract['positions'])} positions, {len(by_account)} accounts, {total:,} JPY")
    return {
        "business_date": extract["business_date"],
        "total_value_jpy": total,
        "by_instrument": by_instrument,
        "largest_accounts": [{"account": a, "value_jpy": v} for a, v in largest],
    }


# [END howto_decorator_task_nomad]


with DAG(
    dag_id="position_rollup",
    description="End-of-day positions: a whole Nomad batch job, then a Python roll-up on Nomad",
    # 18:30 Tokyo on weekdays, after the close.
    schedule=CronTriggerTimetable("30 18 * * 1-5", timezone=TOKYO),
    start_date=pendulum.datetime(2026, 1, 5, tz=TOKYO),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "middle-office", "retries": 1, "retry_delay": dt.timedelta(minutes=1)},
    params={
        "business_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Business date",
            description="Day to roll up. Empty: the run's date in Tokyo.",
        ),
        "accounts": Param(
            "1000-1019",
            type="string",
            pattern=r"^\d+-\d+$",
            title="Account range",
            description="First and last account, both included.",
        ),
    },
    tags=["nomad", "positions"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def plan_run() -> dict[str, Any]:
        context = get_current_context()
        if context["params"]["business_date"]:
            business_date = context["params"]["business_date"]
        else:
            run_time = context["logical_date"] or context["dag_run"].run_after
            business_date = pendulum.instance(run_time).in_tz(TOKYO).date().isoformat()
        jobs_dir = Variable.get(JOBS_DIR_VARIABLE, default=str(JOBS_DIR))
        return {"business_date": business_date, "jobs_dir": jobs_dir}

    # [START howto_operator_nomad_run_job]
    extract = NomadRunJobOperator(
        task_id="extract_positions",
        # A jobspec file (or HCL text, or Nomad's JSON job as a dict).
        job=str(JOBS_DIR / "position-extract.nomad.hcl"),
        # This run's values, over the jobspec's meta defaults; the batch reads NOMAD_META_*.
        meta={
            "business_date": "{{ ti.xcom_pull(task_ids='plan_run', key='business_date') }}",
            "accounts": "{{ params.accounts }}",
            "jobs_dir": "{{ ti.xcom_pull(task_ids='plan_run', key='jobs_dir') }}",
        },
        # Written by the batch to $NOMAD_ALLOC_DIR/positions.json, returned under "result".
        result_file="alloc/positions.json",
    )
    # [END howto_operator_nomad_run_job]

    @task
    def report(rollup: dict[str, Any]) -> int:
        print(f"Positions at the close of {rollup['business_date']}")
        for code, line in rollup["by_instrument"].items():
            print(f"{code:>6}: {line['quantity']:>10,} shares {line['value_jpy']:>18,} JPY")
        for entry in rollup["largest_accounts"]:
            print(f"account {entry['account']}: {entry['value_jpy']:,} JPY")
        return rollup["total_value_jpy"]

    plan_run() >> extract
    report(rollup_positions(extract.output))
