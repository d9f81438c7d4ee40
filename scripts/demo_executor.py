"""``python scripts/demo.py --executor nomad``: the nightly settlement DAG with every task on Nomad.

``airflow dags test`` runs tasks in its own process, without an executor. Here a real
deployment runs the DAG instead: api-server, scheduler, dag-processor and triggerer, each a
process of its own on a private Airflow home (SQLite), with ``NomadExecutor`` as the only
executor. Before the run, the demo registers the documented ``raw_exec`` runner job
(``example_dags/runners/``) with this interpreter as its command, so each task try becomes a
dispatched child of it: the emulator runs the child as a local process, which runs the workload
exactly as a Nomad client node would, and talks to Airflow only through the api-server's
Execution API. The demo triggers the run through the REST API, reports each task's state as it
changes, then prints every task's Nomad child, each try's log as the REST API serves it, and
the summary of ``make demo``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import demo
import httpx

RUNNER_HCL = demo.ROOT / "example_dags" / "runners" / "airflow-task-runner.raw_exec.nomad.hcl"
RUNNER = "airflow-task-runner"
EXECUTOR = "airflow_provider_nomad.executors.nomad.NomadExecutor"
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: How often the REST API is asked again while waiting (it cannot block).
POLL = 0.5
#: Lines of each try's log printed (the whole log is in the log folder).
LOG_TAIL = 25
FINAL_RUN_STATES = {"success", "failed"}
_T = TypeVar("_T")


def deployment_environment(home: Path, cluster: demo.Cluster, port: int) -> dict[str, str]:
    """``make demo``'s environment, for a deployment whose only executor is NomadExecutor."""
    env = demo.airflow_environment(home, cluster)
    env.update(
        {
            "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
            "AIRFLOW__NOMAD_EXECUTOR__RUNNER_JOB_ID": RUNNER,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            # Only the run the demo triggers: no run of the DAG's own Tokyo schedule.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            # Every component must sign and accept the same task tokens.
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret(),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        }
    )
    return env


def _secret() -> str:
    return secrets.token_hex(32)


def runner_environment(env: dict[str, str]) -> dict[str, str]:
    """What the runner's task process needs: where the DAGs, the logs and the api-server are.

    No connection and no signing secret: a task gets its connections from the api-server
    through the Execution API, with the token in its workload.
    """
    keep = (
        "AIRFLOW_HOME",
        "AIRFLOW__CORE__DAGS_FOLDER",
        "AIRFLOW__CORE__LOAD_EXAMPLES",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
        "PYTHONUNBUFFERED",
    )
    return {key: env[key] for key in keep if key in env}


def register_runner(cluster: demo.Cluster, env: dict[str, str]) -> None:
    """The documented raw_exec runner, parsed by Nomad, run with this interpreter."""
    headers = {"X-Nomad-Token": cluster.nomad_token} if cluster.nomad_token else {}
    with httpx.Client(base_url=cluster.nomad_addr, headers=headers, timeout=30) as nomad:
        parsed = nomad.post(
            "/v1/jobs/parse", json={"JobHCL": RUNNER_HCL.read_text(), "Canonicalize": True}
        )
        if parsed.status_code != 200:
            raise demo.DemoError(f"Nomad could not parse {RUNNER_HCL.name}: {parsed.text}")
        job = parsed.json()
        task = job["TaskGroups"][0]["Tasks"][0]
        task["Config"]["command"] = sys.executable
        task["Env"] = {**(task.get("Env") or {}), **runner_environment(env)}
        # The documented resources stay: the emulator enforces the memory limit on the whole
        # process tree (Airflow's supervisor and the task process), as a cgroup would.
        answer = nomad.post("/v1/jobs", json={"Job": job})
        if answer.status_code != 200:
            raise demo.DemoError(f"Nomad refused the runner job: {answer.text}")
    print(f"demo: registered the runner job {RUNNER} ({RUNNER_HCL.relative_to(demo.ROOT)})")


# -- the deployment -------------------------------------------------------------------------


class Deployment:
    """The four components, each in its own process group, their output in ``home``."""

    def __init__(self, home: Path, env: dict[str, str], port: int, deadline: float) -> None:
        self.home = home
        self.env = env
        self.deadline = deadline
        self.procs: dict[str, subprocess.Popen[Any]] = {}
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)

    def log_path(self, component: str) -> Path:
        return self.home / f"{component}.log"

    def start(self) -> None:
        for component in COMPONENTS:
            with self.log_path(component).open("w") as log:
                self.procs[component] = subprocess.Popen(
                    demo.airflow(component),
                    env=self.env,
                    cwd=self.home,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        print(f"demo: started {', '.join(COMPONENTS)} (logs: {self.home}/<component>.log)")
        self.wait_for(self._healthy, "the api-server to answer")
        token = self.api.get("/auth/token").json()["access_token"]
        self.api.headers["Authorization"] = f"Bearer {token}"

    def stop(self) -> None:
        for component, proc in self.procs.items():
            demo.stop_process_group(proc, component)
        self.api.close()

    def _healthy(self) -> bool:
        try:
            return self.api.get("/api/v2/monitor/health").status_code == 200
        except httpx.HTTPError:
            return False

    def wait_for(self, condition: Callable[[], _T], what: str) -> _T:
        """``condition()``'s first truthy value; fails if a component dies or time is up."""
        while True:
            value = condition()
            if value:
                return value
            for component, proc in self.procs.items():
                if proc.poll() is not None:
                    raise demo.DemoError(
                        f"{component} exited ({proc.returncode}) while waiting for {what}: "
                        f"see {self.log_path(component)}"
                    )
            if time.monotonic() > self.deadline:
                raise demo.DemoError(f"gave up waiting for {what} (--timeout)")
            time.sleep(POLL)

    def get(self, path: str, **params: Any) -> Any:
        response = self.api.get(path, params=params)
        if response.status_code >= 400:
            raise demo.DemoError(f"GET {path}: HTTP {response.status_code}: {response.text}")
        return response.json()


def run_dag(dep: Deployment, conf: dict[str, Any], logical_date: str) -> str:
    """Trigger the DAG, print each task's state changes until the run ends; the run ID."""

    def parsed() -> bool:
        return dep.api.get(f"/api/v2/dags/{demo.DAG_ID}").status_code == 200

    dep.wait_for(parsed, f"the dag-processor to parse {demo.DAG_ID}")
    body = {"logical_date": f"{logical_date}T00:00:00Z", "conf": conf}
    response = dep.api.post(f"/api/v2/dags/{demo.DAG_ID}/dagRuns", json=body)
    if response.status_code >= 400:
        raise demo.DemoError(f"could not trigger {demo.DAG_ID}: {response.text}")
    run_id = response.json()["dag_run_id"]
    print(f"demo: triggered {demo.DAG_ID} run {run_id} --conf '{json.dumps(conf)}'")
    started = time.monotonic()
    seen: dict[str, str] = {}

    def ended() -> str | None:
        tis = dep.get(f"/api/v2/dags/{demo.DAG_ID}/dagRuns/{run_id}/taskInstances")
        for ti in tis["task_instances"]:
            name = _ti_name(ti)
            state = f"{ti['state']} (try {ti['try_number']})"
            if seen.get(name) != state:
                seen[name] = state
                print(f"demo: [{time.monotonic() - started:5.1f} s] {name}: {state}", flush=True)
        run = dep.get(f"/api/v2/dags/{demo.DAG_ID}/dagRuns/{run_id}")
        return run["state"] if run["state"] in FINAL_RUN_STATES else None

    state = dep.wait_for(ended, f"the end of run {run_id}")
    print(f"demo: run {run_id} ended {state} in {time.monotonic() - started:.0f} s")
    return run_id


def _ti_name(ti: dict[str, Any]) -> str:
    return ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else "")


def children_once_ended(cluster: demo.Cluster, deadline: float) -> list[dict[str, Any]]:
    """Every child of the runner, once none is pending or running.

    A child ends a few seconds after its task instance did (Airflow's supervisor inside it
    finishes on its own heartbeat); a blocking query returns as soon as one changes.
    """
    headers = {"X-Nomad-Token": cluster.nomad_token} if cluster.nomad_token else {}
    params = {"prefix": f"{RUNNER}/dispatch-", "meta": "true", "index": "0", "wait": "30s"}
    with httpx.Client(base_url=cluster.nomad_addr, headers=headers, timeout=60) as nomad:
        while True:
            response = nomad.get("/v1/jobs", params=params)
            if response.status_code != 200:
                raise demo.DemoError(f"Nomad could not list the children: {response.text}")
            stubs = response.json()
            if all(stub["Status"] == "dead" for stub in stubs):
                return stubs
            if time.monotonic() > deadline:
                raise demo.DemoError("gave up waiting for the Nomad children to end (--timeout)")
            params["index"] = response.headers.get("X-Nomad-Index", "0")


def print_children(cluster: demo.Cluster, deadline: float) -> None:
    """Each try's Nomad child: the dispatch meta names the task, the job status its end."""
    stubs = children_once_ended(cluster, deadline)
    print()
    print(
        f"Nomad children of {RUNNER} (one per run of a task try; a deferred task resumes "
        "in a new child):"
    )
    for stub in sorted(stubs, key=lambda s: s["CreateIndex"]):
        meta = stub.get("Meta") or {}
        task = meta.get("airflow_task_id", "?")
        if meta.get("airflow_map_index", "-1") != "-1":
            task += f"[{meta['airflow_map_index']}]"
        try_number = meta.get("airflow_try_number", "?")
        print(f"  {task:<28} try {try_number}  {stub['Status']:<8} {stub['ID']}")


def print_logs(dep: Deployment, run_id: str) -> None:
    """The tail of every try's log, read back through the REST API as the UI reads it."""
    tis = dep.get(f"/api/v2/dags/{demo.DAG_ID}/dagRuns/{run_id}/taskInstances")["task_instances"]
    for ti in sorted(tis, key=lambda t: (t["start_date"] or "", _ti_name(t))):
        for try_number in range(1, ti["try_number"] + 1):
            path = (
                f"/api/v2/dags/{demo.DAG_ID}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
                f"{ti['task_id']}/logs/{try_number}"
            )
            params = {"full_content": True}
            if ti["map_index"] >= 0:
                params["map_index"] = ti["map_index"]
            response = dep.api.get(path, params=params)
            print()
            print(f"----- log of {_ti_name(ti)}, try {try_number} (REST API) -----")
            if response.status_code != 200:
                print(f"  (HTTP {response.status_code}: {response.text.strip()[:200]})")
                continue
            lines = [
                (e.get("event", "") if isinstance(e, dict) else str(e))
                for e in response.json()["content"]
            ]
            if len(lines) > LOG_TAIL:
                print(f"  ... {len(lines) - LOG_TAIL} earlier lines")
            for line in lines[-LOG_TAIL:]:
                print(f"  {line}")


@contextlib.contextmanager
def deployment(home: Path, env: dict[str, str], port: int, deadline: float) -> Iterator[Deployment]:
    dep = Deployment(home, env, port, deadline)
    try:
        dep.start()
        yield dep
    finally:
        dep.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(args: argparse.Namespace) -> int:
    """Run the demo with NomadExecutor: 0 when the DAG run succeeded, 1 when it failed, 2 when
    the demo could not run, 130 when interrupted. ``args`` are ``demo.py``'s."""
    home = args.home.resolve() / "executor"
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            cluster = demo.cluster_from_environment()
            emulator_log = None
            if cluster is None:
                emulator_log = home / "emulator.log"
                cluster = stack.enter_context(demo.emulator(emulator_log))
            else:
                # The runner runs this interpreter and calls back 127.0.0.1: a dev agent on
                # this machine (nomad agent -dev) can run it, a remote cluster cannot.
                print(f"demo: using Nomad {cluster.nomad_addr} and Consul {cluster.consul_addr}")
            stack.enter_context(demo.consul_services(cluster))
            # A fresh home each time: the run's children and logs are this run's only.
            airflow_home = home / "airflow"
            shutil.rmtree(airflow_home, ignore_errors=True)
            airflow_home.mkdir(parents=True)
            port = free_port()
            env = deployment_environment(airflow_home, cluster, port)
            demo.migrate(env)
            register_runner(cluster, env)
            since = dt.datetime.now(dt.timezone.utc)
            dep = stack.enter_context(deployment(airflow_home, env, port, started + args.timeout))
            run_id = run_dag(dep, demo.run_conf(args), args.logical_date)
            print_children(cluster, started + args.timeout)
            print_logs(dep, run_id)
            summary = demo.read_run(env, since, [])
            demo.print_summary(summary, emulator_log)
    except demo.DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("demo: interrupted; stopped everything it started", file=sys.stderr)
        return 130
    print(f"demo: finished in {time.monotonic() - started:.0f} s")
    return 0 if summary.state == "success" else 1
