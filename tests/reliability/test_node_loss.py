"""The client node goes down while a batch runs (``control.node_down``).

With a second node the lost allocation is replaced there and the follower follows the chain to
its end; without one, the task fails with the cause (the allocation was lost). A batch the task
reported as failed must not run later behind Airflow's back once capacity comes back: its
replacement (or, for a placement failure, its first allocation) is blocked, waiting for a node.
"""

from __future__ import annotations

import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import batch_job
from reliability_testlib import OutputTrigger, children_of_task, executions, streamed_lines

from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARENT = "positions-rollup"

GATED_BATCH = """
    import os, time
    with open(os.path.join(os.environ["NOMAD_META_ledger"], "rollup"), "a") as ledger:
        ledger.write(os.environ["NOMAD_ALLOC_ID"] + "\\n")
    print("attempt started", flush=True)
    while not os.path.exists(os.environ["NOMAD_META_release"]):
        time.sleep(0.02)
    for i in range(10):
        print(f"rolled up {i}")
"""


@pytest.fixture
def ledger(tmp_path):
    path = tmp_path / "ledger"
    path.mkdir()
    return path


def node_id(control, name: str) -> str:
    return next(n["ID"] for n in control.nodes() if n["Name"] == name)


def register(nomad_client, **job_kwargs) -> None:
    nomad_client.jobs.register_job(
        {"Job": batch_job(PARENT, GATED_BATCH, meta_required=("ledger", "release"), **job_kwargs)}
    )


def rollup_dag(dag_id: str, ledger, release, **kwargs) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        NomadDispatchJobOperator(
            task_id="rollup",
            job_id=PARENT,
            meta={"ledger": str(ledger), "release": str(release)},
            **kwargs,
        )
    return dag


@pytest.mark.parametrize("deferrable", [False, True], ids=["worker", "deferred"])
def test_node_down_with_a_second_node_is_followed_to_the_replacement(
    deferrable, nomad_conn, nomad_client, dag_runner, capfd, ledger, tmp_path
):
    register(nomad_client, reschedule_attempts=1)
    release = tmp_path / "release"
    control = nomad_conn.control

    node_1 = node_id(control, "node-1")

    def lose_node_1() -> None:
        control.add_node("node-2")
        assert control.node_down(node_1), "no evaluation: nothing was running on node-1"
        release.touch()

    dag_id = f"node_down_{'deferred' if deferrable else 'worker'}"
    dag = rollup_dag(dag_id, ledger, release, deferrable=deferrable)
    with OutputTrigger(capfd, "stdout] attempt started", lose_node_1) as node_loss:
        result = dag_runner(dag)
    output = node_loss.output()

    assert node_loss.fired.is_set(), output[-3000:]
    assert result.task_states == {"rollup": "success"}, output[-3000:]
    [child] = children_of_task(nomad_client, PARENT, dag_id, "rollup", result.run_id)
    allocs = {a["ID"]: a for a in nomad_client.job.get_allocations(child["ID"])}
    lost = next(a for a in allocs.values() if a["ClientStatus"] == "lost")
    replacement = allocs[lost["NextAllocation"]]
    assert (lost["NodeName"], replacement["NodeName"]) == ("node-1", "node-2")
    assert replacement["ClientStatus"] == "complete"
    summary = result.xcom("rollup")
    assert summary["status"] == "succeeded"
    assert sorted(summary["alloc_ids"]) == sorted(allocs)
    assert summary["final_alloc_ids"] == [replacement["ID"]]
    lines = streamed_lines(output)
    assert lines.by_alloc[lost["ID"][:8]]["stdout"] == ["attempt started"]
    assert lines.by_alloc[replacement["ID"][:8]]["stdout"] == ["attempt started"] + [
        f"rolled up {i}" for i in range(10)
    ]
    # The node went down mid-run: the batch started twice, once per allocation, never more.
    assert (ledger / "rollup").read_text().split() == [lost["ID"], replacement["ID"]]


def test_node_down_without_a_place_to_go_fails_as_lost(
    nomad_conn, nomad_client, dag_runner, capfd, ledger, tmp_path
):
    register(nomad_client)
    release = tmp_path / "release"
    dag = rollup_dag("node_down_alone", ledger, release)
    node_1 = node_id(nomad_conn.control, "node-1")
    with OutputTrigger(
        capfd, "stdout] attempt started", lambda: nomad_conn.control.node_down(node_1)
    ) as node_loss:
        result = dag_runner(dag)
    output = node_loss.output()
    release.touch()

    assert node_loss.fired.is_set(), output[-3000:]
    assert result.task_states == {"rollup": "failed"}
    [child] = children_of_task(nomad_client, PARENT, "node_down_alone", "rollup", result.run_id)
    [alloc] = nomad_client.job.get_allocations(child["ID"])
    assert alloc["ClientStatus"] == "lost"
    assert (
        f"NomadJobFailedError: Nomad job {child['ID']} was lost: allocation {alloc['ID'][:8]} "
        "was lost"
    ) in output
    assert result.xcom("rollup") is None
    assert result.xcom("rollup", "nomad_alloc_ids") == [alloc["ID"]]
    assert executions(ledger, "rollup") == 1


@pytest.mark.parametrize("cause", ["lost", "placement"])
def test_batch_reported_failed_does_not_run_later_unobserved(
    cause, nomad_conn, nomad_client, dag_runner, capfd, ledger, tmp_path
):
    control = nomad_conn.control
    release = tmp_path / "release"
    release.touch()  # once it runs, it runs to success
    dag_id = f"reported_failed_{cause}"
    if cause == "lost":
        register(nomad_client)
        release.unlink()
        node_1 = node_id(control, "node-1")
        trigger = OutputTrigger(capfd, "stdout] attempt started", lambda: control.node_down(node_1))
    else:
        register(nomad_client, memory_mb=16000)  # more than node-1 has
        trigger = OutputTrigger(capfd, "NomadPlacementError", lambda: None)
    with trigger:
        result = dag_runner(rollup_dag(dag_id, ledger, release))
    output = trigger.output()
    assert result.task_states == {"rollup": "failed"}, output[-3000:]
    [child] = children_of_task(nomad_client, PARENT, dag_id, "rollup", result.run_id)
    runs_when_reported = executions(ledger, "rollup")
    allocs_when_reported = len(nomad_client.job.get_allocations(child["ID"]))

    # Capacity comes back after Airflow has reported the failure. What the provider left behind
    # is decided once no evaluation of the child is blocked any more: either it was cancelled
    # (the child was stopped) or it was unblocked, placing the batch again.
    evaluations = nomad_client.job.get_evaluations(child["ID"])
    blocked = [e["ID"] for e in evaluations if e["Status"] == "blocked"]
    release.touch()
    control.add_node("node-big", memory=32000)
    for eval_id in blocked:
        control.wait_eval_status(eval_id, ["complete", "canceled", "failed"])

    assert len(nomad_client.job.get_allocations(child["ID"])) == allocs_when_reported, (
        f"Nomad placed {child['ID']} again after the task reported it failed ({cause}): the "
        "batch runs without Airflow following it"
    )
    assert executions(ledger, "rollup") == runs_when_reported


def test_node_down_by_name_loses_the_allocations_like_by_id(nomad_conn, nomad_client, ledger):
    """The control API takes a node's name wherever it takes its ID (``set_node`` does)."""
    register(nomad_client)
    child = nomad_client.job.dispatch_job(
        PARENT, meta={"ledger": str(ledger), "release": str(ledger / "never")}
    )["DispatchedJobID"]
    control = nomad_conn.control
    control.wait_allocations(
        child, lambda allocs: allocs and allocs[0]["ClientStatus"] == "running"
    )
    evals = control.node_down("node-1")
    assert len(evals) == 1
    control.wait_allocations(child, lambda allocs: allocs[0]["ClientStatus"] == "lost")
