"""Nightly settlement and reconciliation of the business day's trades, run as Nomad batch jobs.

Each business night the DAG:

1. works out the business date and the account range (from the schedule, or from the trigger
   form's parameters);
2. waits until the services the batches read from are healthy in Consul;
3. registers the two parameterized batch jobs from their jobspecs in ``jobs/`` (an unchanged
   jobspec changes nothing in Nomad);
4. dispatches the settlement batch: business date as meta, account range as payload; its result
   file comes back through XCom;
5. dispatches the reconciliation batch with the settlement's result as payload, waiting for it
   in the triggerer (``deferrable=True``); it fails loudly when the books do not balance;
6. reports the reconciliation's checks.

Trigger it from the UI with "Inject a break" ticked to see the reconciliation fail.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, Param, Variable, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_nomad.operators.nomad import (
    NomadDispatchJobOperator,
    NomadRegisterJobOperator,
)
from airflow_provider_nomad.sensors.consul import ConsulHealthSensor

TOKYO = "Asia/Tokyo"
#: The jobspecs and batch programs, next to this file.
JOBS_DIR = Path(__file__).resolve().parent / "jobs"
#: Where the Nomad clients find the batch programs, when not at the path above (e.g. they are
#: deployed to the clients rather than shared with the Airflow workers).
JOBS_DIR_VARIABLE = "nomad_batch_jobs_dir"
#: What the batches read from: Consul service name -> healthy instances needed.
REQUIRED_SERVICES = {"ledger-db": 1, "market-data": 2, "trade-capture": 1}
#: One settlement dispatch covers at most this many accounts (its result must fit in the
#: reconciliation's 16 KiB dispatch payload).
MAX_ACCOUNTS = 500


def previous_business_day(day: dt.date) -> dt.date:
    day -= dt.timedelta(days=1)
    while day.weekday() >= 5:
        day -= dt.timedelta(days=1)
    return day


with DAG(
    dag_id="nightly_settlement",
    description="Settle and reconcile the business day's trades on Nomad",
    # Business nights in Tokyo: 01:30 JST, Tuesday to Saturday, each run settling the weekday
    # before it. CronTriggerTimetable fires at the cron times and makes each run's logical
    # date that fire time; a data-interval timetable would instead stretch the Saturday->Tuesday
    # interval over the weekend, and its interval start is not the business date anyway. The
    # business date is derived explicitly (see plan_run). Exchange holidays are not in cron: a
    # firm with the JPX calendar would register a custom Timetable through a plugin.
    schedule=CronTriggerTimetable("30 1 * * 2-6", timezone=TOKYO),
    start_date=pendulum.datetime(2026, 1, 6, tz=TOKYO),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=dt.timedelta(hours=4),
    default_args={
        "owner": "settlement-ops",
        "retries": 1,
        "retry_delay": dt.timedelta(minutes=2),
    },
    params={
        "business_date": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Business date",
            description="Trading day to settle. Empty: the weekday before the run (Tokyo).",
        ),
        "first_account": Param(
            1000, type="integer", minimum=1000, maximum=9999, title="First account"
        ),
        "last_account": Param(
            1099,
            type="integer",
            minimum=1000,
            maximum=9999,
            title="Last account",
            description=f"At most {MAX_ACCOUNTS} accounts per run.",
        ),
        "dry_run": Param(
            False,
            type="boolean",
            title="Dry run",
            description="Settle and reconcile without posting to the ledger.",
        ),
        "inject_break": Param(
            False,
            type="boolean",
            title="Inject a break",
            description="Leave one cash leg unbooked so that reconciliation fails. For demos.",
        ),
    },
    tags=["nomad", "consul", "settlement"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def plan_run() -> dict[str, Any]:
        """Business date, account range and flags of this run, as the batches take them."""
        context = get_current_context()
        params = context["params"]
        if params["business_date"]:
            business_date = dt.date.fromisoformat(params["business_date"])
        else:
            run_time = context["logical_date"] or context["dag_run"].run_after
            business_date = previous_business_day(pendulum.instance(run_time).in_tz(TOKYO).date())
        first, last = params["first_account"], params["last_account"]
        if not 0 < last - first + 1 <= MAX_ACCOUNTS:
            # A bad range does not get better on retry.
            raise AirflowFailException(
                f"Account range {first}-{last} must hold 1 to {MAX_ACCOUNTS} accounts."
            )
        jobs_dir = Variable.get(JOBS_DIR_VARIABLE, default=str(JOBS_DIR))
        flags = {
            "dry_run": str(params["dry_run"]).lower(),
            "business_date": business_date.isoformat(),
            "jobs_dir": jobs_dir,
        }
        return {
            "business_date": business_date.isoformat(),
            # Dispatch meta values are strings, checked against the jobspec's meta keys.
            "settlement_meta": {**flags, "inject_break": str(params["inject_break"]).lower()},
            "reconciliation_meta": flags,
            "accounts": {"accounts": {"first": first, "last": last}},
        }

    plan = plan_run()

    # [START howto_sensor_consul_health]
    services_healthy = [
        ConsulHealthSensor(
            task_id=f"wait_for_{service.replace('-', '_')}",
            service=service,
            min_passing=min_passing,
            # Each poke is a Consul blocking query of up to poke_interval: a check turning
            # green ends the wait at once, without hammering Consul in between.
            poke_interval=60,
            timeout=dt.timedelta(hours=1).total_seconds(),
        )
        for service, min_passing in REQUIRED_SERVICES.items()
    ]
    # [END howto_sensor_consul_health]

    # [START howto_operator_nomad_register_job]
    register_settlement = NomadRegisterJobOperator(
        task_id="register_settlement_job",
        job=str(JOBS_DIR / "settlement.nomad.hcl"),
    )
    register_reconciliation = NomadRegisterJobOperator(
        task_id="register_reconciliation_job",
        job=str(JOBS_DIR / "reconciliation.nomad.hcl"),
    )
    # [END howto_operator_nomad_register_job]

    # [START howto_operator_nomad_dispatch_job]
    settle = NomadDispatchJobOperator(
        task_id="settle",
        job_id="settlement",
        meta=plan["settlement_meta"],
        payload=plan["accounts"],
        # Read back through Nomad's fs API once the batch succeeded; returned under "result".
        result_file="alloc/settlement.json",
        # A settlement must never run twice: a retry after the batch already succeeded adopts
        # that run instead of dispatching again.
        adopt_succeeded_child=True,
        execution_timeout=dt.timedelta(hours=2),
    )
    # [END howto_operator_nomad_dispatch_job]

    # [START howto_operator_nomad_dispatch_job_deferrable]
    reconcile = NomadDispatchJobOperator(
        task_id="reconcile",
        job_id="reconciliation",
        meta=plan["reconciliation_meta"],
        payload="{{ ti.xcom_pull(task_ids='settle')['result'] | tojson }}",
        result_file="alloc/reconciliation.json",
        # Wait in the triggerer, not in a worker slot; logs still stream into the task log.
        deferrable=True,
        # A break does not go away on retry.
        retries=0,
        execution_timeout=dt.timedelta(hours=1),
    )
    # [END howto_operator_nomad_dispatch_job_deferrable]

    @task
    def report(reconciliation: dict[str, Any]) -> dict[str, Any]:
        """Log the reconciliation's checks; return its result for whoever reads the run."""
        result = reconciliation["result"]
        for check in result["checks"]:
            print(f"{'OK   ' if check['ok'] else 'BREAK'} {check['name']}: {check['detail']}")
        print(
            f"Reconciliation of {result['business_date']}: {result['status']} "
            f"(Nomad job {reconciliation['job_id']})"
        )
        return result

    plan >> services_healthy >> register_settlement >> settle
    services_healthy >> register_reconciliation >> reconcile
    settle >> reconcile
    report(reconcile.output)
