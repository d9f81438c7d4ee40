"""Twenty seeded DAG runs against a Nomad that fails 10 % of requests.

Each run is one DAG of four independent tasks (two followed on the worker, two deferred to the
trigger; in each pair one batch succeeds and one exits with a seed-dependent code) while:

* the emulator answers 4 % of all Nomad requests with 500 ``No cluster leader``, drops the
  connection of 3 % before handling them and delays 3 % by 0.3 s (10 % in all, each fault type
  drawn from its own seeded generator);
* a proxy in front of it loses the answer of the first dispatch request of about half the tasks
  (chosen by seed) *after* Nomad created the child: the retried request must get the same child.

Why the right outcome is expected every time: every request gets 6 attempts (the shared retry
policy; only its pauses are shortened here), and 7 % of attempts fail, so a request runs out of
attempts with probability 0.07**6 ~ 1e-7 (0.07**5 for a dispatch whose first answer was lost);
a run makes about a hundred requests, so twenty runs exhaust a retry budget with a probability
below 1e-4. The log streams and the allocation watch reconnect without a bound. If a run still
runs out, the assertion message quotes the retry warnings, ending in ``attempt 6 of 6``.

Checked for every task of every run: the task state (failures fail with their exit code, and
successes succeed), every batch line in the task log exactly once and in order, exactly one
child for the task identity, and exactly one execution of the batch (a ledger file).
"""

from __future__ import annotations

import re

import pendulum
import pytest
from airflow.sdk import DAG
from nomad_testlib import batch_job
from reliability_testlib import (
    AnswerLosingProxy,
    children_of_task,
    executions,
    lose_first_answer_for,
    retry_warnings,
    streamed_lines,
)

from airflow_provider_nomad.nomad.identity import TaskIdentity
from airflow_provider_nomad.operators.nomad import NomadDispatchJobOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
PARENT = "settlement-batch"
STDOUT_LINES = 40
SEEDS = range(1, 21)
LOST_ANSWER_SHARE = 0.5

BATCH = f"""
    import os, sys, time
    label = os.environ["NOMAD_META_label"]
    with open(os.path.join(os.environ["NOMAD_META_ledger"], label), "a") as ledger:
        ledger.write("started\\n")
    for i in range({STDOUT_LINES}):
        print(f"{{label}} out {{i:03d}}")
        if i % 10 == 9:
            print(f"{{label}} err {{i // 10}}", file=sys.stderr)
            sys.stdout.flush()
            time.sleep(0.02)
    sys.exit(int(os.environ["NOMAD_META_exit_code"]))
"""


def expected_stdout(label: str) -> list[str]:
    return [f"{label} out {i:03d}" for i in range(STDOUT_LINES)]


def expected_stderr(label: str) -> list[str]:
    return [f"{label} err {j}" for j in range(STDOUT_LINES // 10)]


def tasks_for(seed: int) -> dict[str, tuple[bool, int]]:
    """task_id -> (deferrable, exit code) for one run."""
    return {
        "book_sync": (False, 0),
        "recon_sync": (False, 2 + seed % 5),
        "book_deferred": (True, 0),
        "recon_deferred": (True, 10 + seed % 5),
    }


def inject_ten_percent_of_faults(control, seed: int) -> None:
    # One of each kind for certain, so no run can pass without meeting faults...
    control.inject_fault("GET /v1/job/:job_id/allocations", status=500, body="No cluster leader")
    control.inject_fault("GET /v1/client/fs/logs/:alloc_id", drop=True)
    # ...then the seeded mix. The emulator applies the first fault whose own draw hits:
    # 0.04 + 0.96 * 0.03 / 0.96 + 0.93 * 0.03 / 0.93 = 0.10 of all requests.
    control.inject_fault(
        "*", status=500, body="No cluster leader", count=None, probability=0.04, seed=seed
    )
    control.inject_fault("*", drop=True, count=None, probability=0.03 / 0.96, seed=seed + 1000)
    control.inject_fault(
        "*", status=None, delay=0.3, count=None, probability=0.03 / 0.93, seed=seed + 2000
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_seeded_faulty_run_reports_every_batch_once_and_right(
    seed, nomad_emulator, nomad_client, dag_runner, fast_backoff, capfd, tmp_path, monkeypatch
):
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    nomad_client.jobs.register_job(
        {"Job": batch_job(PARENT, BATCH, meta_required=("label", "exit_code", "ledger"))}
    )
    tasks = tasks_for(seed)
    dag_id = f"seeded_faults_{seed}"
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        for task_id, (deferrable, code) in tasks.items():
            NomadDispatchJobOperator(
                task_id=task_id,
                job_id=PARENT,
                meta={"label": task_id, "exit_code": str(code), "ledger": str(ledger)},
                deferrable=deferrable,
            )

    lose = lose_first_answer_for(seed, LOST_ANSWER_SHARE)
    upstream = nomad_emulator.nomad_addr.removeprefix("http://")
    with AnswerLosingProxy(upstream, lose) as proxy:
        monkeypatch.setenv(
            "AIRFLOW_CONN_NOMAD_DEFAULT", f'{{"conn_type": "nomad", "host": "{proxy.address}"}}'
        )
        inject_ten_percent_of_faults(nomad_emulator.control, seed)
        try:
            result = dag_runner(dag)
        finally:
            nomad_emulator.control.clear_faults()
    output = capfd.readouterr().out
    warnings = retry_warnings(output)
    why = "\n".join(warnings[-12:]) or "(no retry warnings)"
    assert any("No cluster leader" in w for w in warnings), "no 500 was met"
    assert any("dropped during" in w for w in warnings), "no dropped connection was met"

    expected_states = {t: "success" if code == 0 else "failed" for t, (_, code) in tasks.items()}
    assert result.task_states == expected_states, f"seed {seed}; retries:\n{why}"
    assert result.state == "failed"

    lines = streamed_lines(output)
    for task_id, (_, code) in tasks.items():
        children = children_of_task(nomad_client, PARENT, dag_id, task_id, result.run_id)
        assert len(children) == 1, (task_id, [c["ID"] for c in children])
        child = children[0]["ID"]
        assert executions(ledger, task_id) == 1, task_id
        [alloc] = nomad_client.job.get_allocations(child)
        assert lines.allocs_with(task_id) == {alloc["ID"][:8]}, task_id
        assert lines.of("stdout", task_id) == expected_stdout(task_id), task_id
        assert lines.of("stderr", task_id) == expected_stderr(task_id), task_id
        assert result.xcom(task_id, "nomad_job_id") == child
        assert result.xcom(task_id, "nomad_alloc_ids") == [alloc["ID"]]
        if code == 0:
            summary = result.xcom(task_id)
            assert summary["status"] == "succeeded" and summary["job_id"] == child
            assert summary["exit_codes"] == {f"{alloc['ID']}/main": 0}
        else:
            assert result.xcom(task_id) is None
            assert (
                f'NomadJobFailedError: Nomad job {child} failed: task "main" of allocation '
                f"{alloc['ID'][:8]} exited with code {code}"
            ) in output, task_id

    # The answers the proxy lost are exactly those it was told to lose, each retried into the
    # same child (Nomad's replay of an idempotent dispatch has no evaluation).
    tokens = {TaskIdentity(dag_id, t, result.run_id).idempotency_token(1): t for t in tasks}
    chosen = {
        t
        for token, t in tokens.items()
        if lose_first_answer_for(seed, LOST_ANSWER_SHARE)(
            f"/v1/job/{PARENT}/dispatch?idempotency_token={token}"
        )
    }
    lost = {tokens[re.search(r"idempotency_token=([^&]+)", p)[1]] for p in proxy.lost}
    assert lost == chosen
    for task_id in chosen:
        [child] = children_of_task(nomad_client, PARENT, dag_id, task_id, result.run_id)
        assert f"Dispatched {child['ID']} (evaluation -)" in output
    dispatches = nomad_emulator.control.request_counts()["POST /v1/job/:job_id/dispatch"]
    assert dispatches >= len(tasks) + len(chosen)
