"""End-of-day desk P&L: one Nomad batch per trading desk, after the closing price snapshot.

The DAG:

1. registers the ``eod-price-snapshot`` job, a plain (not parameterized) batch job given as a
   dict; Nomad runs it as soon as it is registered;
2. waits for that job's allocation to finish with ``NomadAllocationSensor``, which works on any
   job, whoever started it, and copies its output into the task log;
3. dispatches the ``desk-pnl`` parameterized job once per desk, with dynamic task mapping;
4. sums the desks' P&L;
5. stops and purges the snapshot job, as a teardown: it runs even when a step above failed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, Param, Variable, get_current_context, task

from airflow_provider_nomad.operators.nomad import (
    NomadDispatchJobOperator,
    NomadRegisterJobOperator,
    NomadStopJobOperator,
)
from airflow_provider_nomad.sensors.nomad import NomadAllocationSensor

TOKYO = "Asia/Tokyo"
JOBS_DIR = Path(__file__).resolve().parent / "jobs"
JOBS_DIR_VARIABLE = "nomad_batch_jobs_dir"
DESKS = ["cash-equities", "delta-one", "market-making", "prop-trading"]
SNAPSHOT_JOB_ID = "eod-price-snapshot"

# [START howto_operator_nomad_register_job_dict]
#: Nomad's JSON job (the body of ``POST /v1/jobs``), templated like any operator argument.
SNAPSHOT_JOB = {
    "ID": SNAPSHOT_JOB_ID,
    "Name": SNAPSHOT_JOB_ID,
    "Type": "batch",
    "Datacenters": ["dc1"],
    "Meta": {
        "business_date": "{{ ti.xcom_pull(task_ids='plan_run', key='business_date') }}",
        "jobs_dir": "{{ ti.xcom_pull(task_ids='plan_run', key='jobs_dir') }}",
        # A new value every run makes each registration a new job version, which Nomad runs.
        "airflow_run_id": "{{ run_id }}",
    },
    "TaskGroups": [
        {
            "Name": "snapshot",
            "Count": 1,
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 0, "Unlimited": False},
            "Tasks": [
                {
                    "Name": "snapshot",
                    "Driver": "raw_exec",
                    "Config": {
                        "command": "python3",
                        "args": ["${NOMAD_META_jobs_dir}/price_snapshot.py"],
                    },
                    "Env": {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"},
                    "Resources": {"CPU": 100, "MemoryMB": 64},
                }
            ],
        }
    ],
}
# [END howto_operator_nomad_register_job_dict]


with DAG(
    dag_id="desk_pnl",
    description="Desk P&L on Nomad, one mapped dispatch per desk",
    # 18:00 Tokyo on weekdays, after the close; each run marks the same day's books.
    schedule=CronTriggerTimetable("0 18 * * 1-5", timezone=TOKYO),
    start_date=pendulum.datetime(2026, 1, 5, tz=TOKYO),
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "desk-ops", "retries": 1, "retry_delay": dt.timedelta(minutes=1)},
    params={
        "business_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Business date",
            description="Day to mark. Empty: the run's date in Tokyo.",
        ),
        "desks": Param(
            DESKS,
            type="array",
            items={"type": "string", "enum": DESKS},
            minItems=1,
            title="Desks",
        ),
    },
    tags=["nomad", "pnl"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def plan_run() -> dict[str, Any]:
        context = get_current_context()
        params = context["params"]
        if params["business_date"]:
            business_date = params["business_date"]
        else:
            run_time = context["logical_date"] or context["dag_run"].run_after
            business_date = pendulum.instance(run_time).in_tz(TOKYO).date().isoformat()
        jobs_dir = Variable.get(JOBS_DIR_VARIABLE, default=str(JOBS_DIR))
        return {"business_date": business_date, "jobs_dir": jobs_dir}

    @task
    def desk_meta(business_date: str, jobs_dir: str) -> list[dict[str, str]]:
        """One dispatch meta per desk: the mapped dispatch below expands over this list."""
        desks = get_current_context()["params"]["desks"]
        return [{"desk": d, "business_date": business_date, "jobs_dir": jobs_dir} for d in desks]

    plan = plan_run()
    meta_per_desk = desk_meta(plan["business_date"], plan["jobs_dir"])

    register_snapshot = NomadRegisterJobOperator(task_id="register_snapshot_job", job=SNAPSHOT_JOB)

    # [START howto_sensor_nomad_allocation]
    wait_for_snapshot = NomadAllocationSensor(
        task_id="wait_for_snapshot",
        job_id=SNAPSHOT_JOB_ID,
        # Copy the allocation's stdout/stderr into this task's log once it has ended.
        fetch_logs=True,
        poke_interval=30,
        timeout=dt.timedelta(minutes=30).total_seconds(),
    )
    # [END howto_sensor_nomad_allocation]

    register_desk_pnl = NomadRegisterJobOperator(
        task_id="register_desk_pnl_job", job=str(JOBS_DIR / "desk-pnl.nomad.hcl")
    )

    # [START howto_operator_nomad_dispatch_job_mapped]
    desk_pnl = NomadDispatchJobOperator.partial(
        task_id="desk_pnl",
        job_id="desk-pnl",
        result_file="alloc/desk_pnl.json",
        # Name each mapped task instance after its desk in the UI.
        map_index_template="{{ task.meta['desk'] }}",
    ).expand(meta=meta_per_desk)
    # [END howto_operator_nomad_dispatch_job_mapped]

    @task
    def summarize(results: list[dict[str, Any]]) -> dict[str, int]:
        by_desk = {r["result"]["desk"]: r["result"]["pnl_jpy"] for r in results}
        for desk, pnl in sorted(by_desk.items()):
            print(f"{desk:>15}: {pnl:+,} JPY")
        print(f"{'total':>15}: {sum(by_desk.values()):+,} JPY")
        return by_desk

    # [START howto_operator_nomad_stop_job]
    purge_snapshot = NomadStopJobOperator(
        task_id="purge_snapshot_job",
        job_id=SNAPSHOT_JOB_ID,
        # Gone at once instead of lingering as a dead job until garbage collection.
        purge=True,
    )
    # [END howto_operator_nomad_stop_job]

    summary = summarize(desk_pnl.output)
    plan >> [register_snapshot, register_desk_pnl]
    register_snapshot >> wait_for_snapshot >> desk_pnl
    register_desk_pnl >> desk_pnl
    summary >> purge_snapshot.as_teardown(setups=register_snapshot)
