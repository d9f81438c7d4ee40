"""``make demo``: run the nightly settlement DAG with real Airflow against Nomad and Consul.

Without a cluster, the bundled emulator of the Nomad and Consul HTTP APIs is started on free
loopback ports; with ``NOMAD_ADDR`` and ``CONSUL_HTTP_ADDR`` set, that cluster is used instead.
The demo registers the Consul services the DAG waits for, gives Airflow its connections through
``AIRFLOW_CONN_*`` variables, keeps its own Airflow home (SQLite) under ``.demo/``, runs
``airflow db migrate`` and ``airflow dags test nightly_settlement``, streaming the run's output,
and ends with a summary: the run's state, each task's state, the reconciliation's result and
where the logs are. It exits 0 when the run succeeded.

    python scripts/demo.py                  # the weekday before today's run, accounts 1000-1099
    python scripts/demo.py --business-date 2026-11-24 --inject-break   # watch it fail
    python scripts/demo.py --dag position_rollup   # NomadRunJobOperator and @task.nomad
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "nightly_settlement"
#: The example DAGs the demo runs (``--dag``); the default is the one ``make demo`` shows.
DEMO_DAGS = (DAG_ID, "position_rollup")
DAGS_FOLDER = ROOT / "example_dags"
#: The Consul services the DAG waits for, with stand-in instances (service -> ports).
SERVICES = {"ledger-db": [5432], "market-data": [9001, 9002], "trade-capture": [8443]}
EMULATOR_START_TIMEOUT = 60.0
STOP_GRACE_SECONDS = 10.0


class DemoError(Exception):
    """The demo could not run (not: the DAG run failed)."""


@dataclass(frozen=True)
class Cluster:
    nomad_addr: str
    consul_addr: str
    nomad_token: str | None = None
    consul_token: str | None = None
    emulated: bool = True


# -- processes ------------------------------------------------------------------------------


def stop_process_group(proc: subprocess.Popen[Any], name: str) -> None:
    """Stop the process group ``proc`` leads: SIGTERM, then SIGKILL for whatever is left.

    The SIGKILL also reaches members that outlived their leader, so nothing is orphaned.
    """
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            print(f"demo: {name} ignored SIGTERM for {STOP_GRACE_SECONDS:g} s", file=sys.stderr)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def raise_on_termination() -> None:
    """Turn SIGINT, SIGTERM and SIGHUP into KeyboardInterrupt, so every ``finally`` cleans up.

    SIGINT too: a shell starts background jobs with SIGINT ignored, and Python then never
    raises KeyboardInterrupt.
    """

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def pump_lines(stream: Any, sink: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):
        sink.put(line)
    sink.put(None)


@contextlib.contextmanager
def emulator(log_path: Path) -> Iterator[Cluster]:
    """Start the emulator CLI on free ports; yield its addresses; stop it (and its tasks)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_nomad.testing",
            "serve",
            "--nomad-port",
            "0",
            "--consul-port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
        cwd=ROOT,
    )
    try:
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=pump_lines, args=(proc.stdout, lines), daemon=True).start()
        try:
            first = lines.get(timeout=EMULATOR_START_TIMEOUT)
        except queue.Empty:
            raise DemoError(
                f"the emulator printed no address within {EMULATOR_START_TIMEOUT:g} s "
                f"(log: {log_path})"
            ) from None
        if first is None:
            raise DemoError(f"the emulator exited with {proc.wait()} (log: {log_path})")
        addresses = dict(part.split("=", 1) for part in first.split())
        if not {"nomad", "consul"} <= set(addresses):
            raise DemoError(f"unexpected first line from the emulator: {first.strip()!r}")
        print(f"demo: emulator up: Nomad {addresses['nomad']}, Consul {addresses['consul']}")
        yield Cluster(addresses["nomad"], addresses["consul"])
    finally:
        stop_process_group(proc, "the emulator")
        log.close()


def cluster_from_environment() -> Cluster | None:
    nomad, consul = os.environ.get("NOMAD_ADDR"), os.environ.get("CONSUL_HTTP_ADDR")
    if not (nomad and consul):
        return None
    if "://" not in consul:  # Consul's variable is often host:port
        consul = f"http://{consul}"
    return Cluster(
        nomad_addr=nomad,
        consul_addr=consul,
        nomad_token=os.environ.get("NOMAD_TOKEN"),
        consul_token=os.environ.get("CONSUL_HTTP_TOKEN"),
        emulated=False,
    )


# -- Consul services ------------------------------------------------------------------------


@contextlib.contextmanager
def consul_services(cluster: Cluster) -> Iterator[None]:
    """Register stand-in instances, with passing checks, of services that have none healthy.

    On a real cluster, services that are already healthy are left alone, and what the demo
    registered is deregistered at the end.
    """
    headers = {"X-Consul-Token": cluster.consul_token} if cluster.consul_token else {}
    registered: list[str] = []
    with httpx.Client(base_url=cluster.consul_addr, headers=headers, timeout=10) as consul:
        try:
            for service, ports in SERVICES.items():
                healthy = consul.get(f"/v1/health/service/{service}", params={"passing": ""})
                healthy.raise_for_status()
                if len(healthy.json()) >= len(ports):
                    print(f"demo: Consul service {service} already healthy")
                    continue
                for number, port in enumerate(ports, start=1):
                    service_id = f"demo-{service}-{number}"
                    response = consul.put(
                        "/v1/agent/service/register",
                        json={
                            "ID": service_id,
                            "Name": service,
                            "Address": "127.0.0.1",
                            "Port": port,
                            "Tags": ["demo"],
                            "Check": {
                                "CheckID": f"{service_id}-ttl",
                                "Name": f"{service} heartbeat",
                                "TTL": "30m",
                                "Status": "passing",
                            },
                        },
                    )
                    if response.status_code != 200:
                        raise DemoError(
                            f"Consul refused to register {service}: "
                            f"{response.status_code} {response.text.strip()}"
                        )
                    registered.append(service_id)
                print(f"demo: registered Consul service {service} ({len(ports)} passing)")
            yield
        finally:
            if not cluster.emulated:
                for service_id in registered:
                    with contextlib.suppress(httpx.HTTPError):
                        consul.put(f"/v1/agent/service/deregister/{service_id}")


# -- Airflow --------------------------------------------------------------------------------


def connection_json(conn_type: str, address: str, token: str | None, **extra: str) -> str:
    url = urlsplit(address)
    conn: dict[str, Any] = {
        "conn_type": conn_type,
        "host": url.hostname,
        "port": url.port,
        "schema": url.scheme or "http",
    }
    if token:
        conn["password"] = token
    extra = {key: value for key, value in extra.items() if value}
    if extra:
        conn["extra"] = extra
    return json.dumps(conn)


def airflow_environment(home: Path, cluster: Cluster) -> dict[str, str]:
    """The environment of every Airflow command: a private home, SQLite, our connections."""
    env = {
        key: value
        for key, value in os.environ.items()
        # Nothing of the user's own Airflow set-up leaks into the demo.
        if not key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
        and key != "AIRFLOW_HOME"
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW_CONN_NOMAD_DEFAULT": connection_json(
                "nomad",
                cluster.nomad_addr,
                cluster.nomad_token,
                namespace=os.environ.get("NOMAD_NAMESPACE", "") if not cluster.emulated else "",
                ca_cert=os.environ.get("NOMAD_CACERT", "") if not cluster.emulated else "",
            ),
            "AIRFLOW_CONN_CONSUL_DEFAULT": connection_json(
                "consul",
                cluster.consul_addr,
                cluster.consul_token,
                ca_cert=os.environ.get("CONSUL_CACERT", "") if not cluster.emulated else "",
            ),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def airflow(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


def migrate(env: dict[str, str]) -> None:
    print("demo: airflow db migrate")
    done = subprocess.run(airflow("db", "migrate"), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise DemoError(f"airflow db migrate failed with exit code {done.returncode}")


#: Output lines of the reconciliation batch worth repeating in the summary.
BREAK_MARKERS = ("BREAK ", "RECONCILIATION FAILED")


def run_dag(
    env: dict[str, str],
    logical_date: str,
    conf: dict[str, Any],
    timeout: float,
    dag_id: str = DAG_ID,
) -> list[str]:
    """``airflow dags test``, its output streamed; killed (with its group) past ``timeout``.

    Returns the reconciliation's break lines seen in the output.
    """
    command = airflow("dags", "test", dag_id, logical_date, "--conf", json.dumps(conf))
    print(f"demo: airflow dags test {dag_id} {logical_date} --conf '{json.dumps(conf)}'")
    proc = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=ROOT,
    )
    watchdog = threading.Timer(timeout, stop_process_group, args=(proc, "airflow dags test"))
    watchdog.daemon = True
    watchdog.start()
    breaks: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            marker = next((m for m in BREAK_MARKERS if m in line), None)
            if marker and len(breaks) < 20:
                breaks.append(line[line.index(marker) :].strip())
        proc.wait()
        return breaks
    finally:
        watchdog.cancel()
        stop_process_group(proc, "airflow dags test")


# -- summary --------------------------------------------------------------------------------


@dataclass
class RunSummary:
    run_id: str
    state: str
    tasks: list[tuple[str, str]]
    reconciliation: dict[str, Any] | None
    breaks: list[str]
    log_folder: Path
    dag_id: str = DAG_ID


def read_run(
    env: dict[str, str], since: dt.datetime, breaks: list[str], dag_id: str = DAG_ID
) -> RunSummary:
    """The run ``airflow dags test`` made (after ``since``), its tasks and what ``report``
    returned (both example DAGs end with a ``report`` task)."""
    script = f"""
import datetime as dt
import json
from sqlalchemy import select
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

with create_session() as session:
    run = session.scalars(
        select(DagRun)
        .where(DagRun.dag_id == {dag_id!r})
        .where(DagRun.run_after >= dt.datetime.fromisoformat({since.isoformat()!r}))
        .order_by(DagRun.id.desc())
        .limit(1)
    ).first()
    if run is None:
        print(json.dumps(None))
        raise SystemExit(0)
    tis = session.scalars(
        select(TaskInstance).where(
            TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id
        )
    ).all()
    row = session.scalars(
        XComModel.get_many(
            run_id=run.run_id, key="return_value", dag_ids=run.dag_id, task_ids="report"
        )
    ).first()
    print(json.dumps({{
        "run_id": run.run_id,
        "state": str(run.state),
        "tasks": sorted(
            (ti.task_id + (f"[{{ti.map_index}}]" if ti.map_index >= 0 else ""), str(ti.state))
            for ti in tis
        ),
        "reconciliation": XComModel.deserialize_value(row) if row is not None else None,
    }}))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=ROOT
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise DemoError("could not read the DAG run from Airflow's database")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    if data is None:
        raise DemoError(f"airflow dags test created no {dag_id} run: see its output above")
    return RunSummary(
        run_id=data["run_id"],
        state=data["state"],
        tasks=[tuple(t) for t in data["tasks"]],
        reconciliation=data["reconciliation"],
        breaks=breaks,
        log_folder=Path(env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"]),
        dag_id=dag_id,
    )


def print_summary(summary: RunSummary, emulator_log: Path | None) -> None:
    width = max(len(task) for task, _ in summary.tasks) if summary.tasks else 10
    print()
    print("=" * 72)
    print(f"DAG run {summary.dag_id} / {summary.run_id}: {summary.state.upper()}")
    for task, state in summary.tasks:
        print(f"  {task:<{width}}  {state}")
    result = summary.reconciliation
    if summary.dag_id != DAG_ID:
        # position_rollup's report returns the total market value of the positions rolled up.
        print(
            f"Positions rolled up on Nomad: {result:,} JPY"
            if result is not None
            else "Positions: no result (the run did not get that far; see the output above)"
        )
    elif result:
        print(
            f"Reconciliation of {result['business_date']} (accounts "
            f"{result['accounts']['first']}-{result['accounts']['last']}): "
            f"{result['status'].upper()}"
        )
        for check in result["checks"]:
            print(f"  {'ok   ' if check['ok'] else 'BREAK'}  {check['name']}: {check['detail']}")
    elif summary.breaks:
        print("Reconciliation FAILED: the books do not balance")
        for line in summary.breaks:
            print(f"  {line}")
    else:
        print("Reconciliation: no result (the run did not get that far; see the output above)")
    run_logs = summary.log_folder / f"dag_id={summary.dag_id}" / f"run_id={summary.run_id}"
    if run_logs.is_dir():
        print(f"Task logs: {run_logs}")
    else:
        print(
            "Task logs: printed above (`airflow dags test` runs each task in-process); "
            f"Airflow's log folder is {summary.log_folder}"
        )
    if emulator_log is not None:
        print(f"Emulator log: {emulator_log}")
    print("=" * 72)


# -- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--logical-date",
        default=dt.datetime.now(dt.timezone.utc).date().isoformat(),
        help="the DAG run's logical date (default: today)",
    )
    parser.add_argument(
        "--dag", choices=DEMO_DAGS, default=DAG_ID, help=f"example DAG to run ({DAG_ID})"
    )
    parser.add_argument("--business-date", help="settle this day (default: the DAG's rule)")
    parser.add_argument("--accounts", default="1000-1099", help="account range (1000-1099)")
    parser.add_argument("--dry-run", action="store_true", help="settle without posting")
    parser.add_argument(
        "--inject-break", action="store_true", help="leave a cash leg unbooked: reconcile fails"
    )
    parser.add_argument(
        "--home", type=Path, default=ROOT / ".demo", help="demo state folder (.demo)"
    )
    parser.add_argument("--timeout", type=float, default=300, help="give up after (seconds)")
    parser.add_argument(
        "--executor",
        choices=("dags-test", "nomad"),
        default="dags-test",
        help="dags-test: `airflow dags test` (default); nomad: a scheduler whose NomadExecutor "
        "runs every task as a Nomad child (scripts/demo_executor.py)",
    )
    args = parser.parse_args(argv)
    if args.executor == "nomad" and args.dag != DAG_ID:
        parser.error(f"--executor nomad runs {DAG_ID} only; leave out --dag {args.dag}")
    return args


def run_conf(args: argparse.Namespace) -> dict[str, Any]:
    if args.dag != DAG_ID:
        if args.dry_run or args.inject_break:
            raise DemoError("--dry-run and --inject-break are options of nightly_settlement")
        rollup = {"accounts": args.accounts}
        if args.business_date:
            rollup["business_date"] = args.business_date
        return rollup
    first, _, last = args.accounts.partition("-")
    conf: dict[str, Any] = {
        "first_account": int(first),
        "last_account": int(last or first),
        "dry_run": args.dry_run,
        "inject_break": args.inject_break,
    }
    if args.business_date:
        conf["business_date"] = args.business_date
    return conf


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_on_termination()
    if args.executor == "nomad":
        import demo_executor

        return demo_executor.main(args)
    home = args.home.resolve()
    started = time.monotonic()
    try:
        # Options that do not fit the DAG are refused before anything is started.
        conf = run_conf(args)
        with contextlib.ExitStack() as stack:
            cluster = cluster_from_environment()
            emulator_log = None
            if cluster is None:
                emulator_log = home / "emulator.log"
                cluster = stack.enter_context(emulator(emulator_log))
            else:
                print(f"demo: using Nomad {cluster.nomad_addr} and Consul {cluster.consul_addr}")
            stack.enter_context(consul_services(cluster))
            env = airflow_environment(home / "airflow", cluster)
            migrate(env)
            since = dt.datetime.now(dt.timezone.utc)
            breaks = run_dag(env, args.logical_date, conf, args.timeout, args.dag)
            summary = read_run(env, since, breaks, args.dag)
            print_summary(summary, emulator_log)
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("demo: interrupted; stopped everything it started", file=sys.stderr)
        return 130
    print(f"demo: finished in {time.monotonic() - started:.0f} s")
    return 0 if summary.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
