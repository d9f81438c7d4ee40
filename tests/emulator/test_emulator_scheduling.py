"""Placement: failures with Nomad's metrics, blocked evaluations, constraints, lost nodes."""

from __future__ import annotations

import pytest
from emulator_testlib import batch_job, mock_task, no_reschedule, no_restart, sh_task, unique


def register(api, tasks, **kw) -> tuple[str, dict]:
    job_id = unique("sched")
    reply = api.register(batch_job(job_id, tasks, **kw))
    return job_id, reply


def failed_eval(api, eval_id: str) -> dict:
    return api.wait(f"/v1/evaluation/{eval_id}", lambda e: e["Status"] == "complete")


@pytest.mark.real_nomad
def test_a_task_bigger_than_any_node_fails_placement_on_memory(api):
    task = sh_task("t", "true", Resources={"CPU": 100, "MemoryMB": 10_000_000})
    job_id, reply = register(api, [task])
    ev = failed_eval(api, reply["EvalID"])
    assert ev["QueuedAllocations"] == {"g": 1}
    metric = ev["FailedTGAllocs"]["g"]
    assert metric["NodesEvaluated"] >= 1 and metric["NodesExhausted"] >= 1
    assert metric["DimensionExhausted"] == {"memory": metric["NodesExhausted"]}
    assert sum(metric["NodesAvailable"].values()) >= 1
    blocked = api.get(f"/v1/evaluation/{ev['BlockedEval']}").json()
    assert (blocked["Status"], blocked["TriggeredBy"]) == ("blocked", "queued-allocs")
    assert blocked["PreviousEval"] == ev["ID"]
    assert api.get(f"/v1/job/{job_id}/allocations").json() == []
    assert api.get(f"/v1/job/{job_id}").json()["Status"] == "pending"
    assert api.get(f"/v1/job/{job_id}/summary").json()["Summary"]["g"]["Queued"] == 1
    api.delete(f"/v1/job/{job_id}", params={"purge": "true"})


@pytest.mark.real_nomad
def test_a_missing_driver_filters_every_node(api):
    task = {"Name": "t", "Driver": "no-such-driver", "Config": {}}
    job_id, reply = register(api, [task])
    metric = failed_eval(api, reply["EvalID"])["FailedTGAllocs"]["g"]
    assert metric["ConstraintFiltered"] == {"missing drivers": metric["NodesFiltered"]}
    assert metric["NodesFiltered"] == metric["NodesEvaluated"] >= 1
    api.delete(f"/v1/job/{job_id}", params={"purge": "true"})


def test_exact_metrics_on_the_default_node(emu):
    task = mock_task("t")
    task["Resources"] = {"CPU": 9000, "MemoryMB": 100}
    _, reply = register(emu, [task])
    metric = failed_eval(emu, reply["EvalID"])["FailedTGAllocs"]["g"]
    assert metric["NodesEvaluated"] == 1 and metric["NodesInPool"] == 1
    assert metric["NodesAvailable"] == {"dc1": 1}
    assert metric["NodesExhausted"] == 1 and metric["DimensionExhausted"] == {"cpu": 1}
    assert metric["ResourcesExhausted"]["t"]["CPU"] == 9000
    assert metric["NodesFiltered"] == 0 and metric["ConstraintFiltered"] is None


def test_a_constraint_nobody_meets_is_reported_as_written(emu):
    constraint = {"LTarget": "${attr.kernel.name}", "Operand": "=", "RTarget": "windows"}
    _, reply = register(emu, [mock_task("t")], constraints=[constraint])
    metric = failed_eval(emu, reply["EvalID"])["FailedTGAllocs"]["g"]
    assert metric["ConstraintFiltered"] == {"${attr.kernel.name} = windows": 1}


def test_a_blocked_job_is_placed_when_a_node_that_fits_joins(emu, nomad_emulator):
    task = mock_task("t")
    task["Resources"] = {"CPU": 100, "MemoryMB": 12000}
    job_id, reply = register(emu, [task])
    blocked_id = failed_eval(emu, reply["EvalID"])["BlockedEval"]
    node_id = nomad_emulator.control.add_node("big", memory=16384)
    [alloc] = emu.final_allocs(job_id)
    assert alloc["NodeID"] == node_id and alloc["NodeName"] == "big"
    assert alloc["EvalID"] == blocked_id
    assert emu.get(f"/v1/evaluation/{blocked_id}").json()["Status"] == "complete"


def test_a_blocked_job_is_placed_when_capacity_frees_up(emu):
    hog = mock_task("t", run_for="300ms")
    hog["Resources"] = {"CPU": 100, "MemoryMB": 6000}
    first, _ = register(emu, [hog])
    emu.wait_allocs(first, lambda a: len(a) == 1)
    second, reply = register(emu, [hog])
    ev = failed_eval(emu, reply["EvalID"])
    assert ev["FailedTGAllocs"]["g"]["DimensionExhausted"] == {"memory": 1}
    [alloc] = emu.final_allocs(second)
    assert alloc["ClientStatus"] == "complete"


def test_node_name_and_meta_constraints_pick_the_node(emu, nomad_emulator):
    nomad_emulator.control.add_node("gpu-1", meta={"rack": "r7"})
    for constraint in (
        {"LTarget": "${node.unique.name}", "Operand": "=", "RTarget": "gpu-1"},
        {"LTarget": "${meta.rack}", "Operand": "=", "RTarget": "r7"},
        {"LTarget": "${node.datacenter}", "Operand": "=", "RTarget": "dc1"},
    ):
        job_id, _ = register(emu, [mock_task("t")], constraints=[constraint])
        [alloc] = emu.final_allocs(job_id)
        if constraint["LTarget"] != "${node.datacenter}":
            assert alloc["NodeName"] == "gpu-1"


def test_a_down_node_loses_its_allocations_and_they_are_replaced(emu, nomad_emulator):
    job_id, _ = register(
        emu,
        [mock_task("t", run_for="30s")],
        restart=no_restart(),
        reschedule=no_reschedule(),
    )
    [running] = emu.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")
    nomad_emulator.control.add_node("node-2")
    [eval_id] = nomad_emulator.control.node_down(running["NodeID"])
    allocs = emu.wait_allocs(job_id, lambda a: len(a) == 2)
    lost = emu.get(f"/v1/allocation/{running['ID']}").json()
    assert (lost["ClientStatus"], lost["DesiredStatus"]) == ("lost", "stop")
    assert lost["DesiredDescription"] == "alloc is lost since its node is down"
    replacement = next(a for a in allocs if a["ID"] != running["ID"])
    assert replacement["NodeName"] == "node-2"
    full = emu.get(f"/v1/allocation/{replacement['ID']}").json()
    assert full["PreviousAllocation"] == running["ID"]
    assert emu.get(f"/v1/evaluation/{eval_id}").json()["TriggeredBy"] == "node-update"
    summary = emu.get(f"/v1/job/{job_id}/summary").json()["Summary"]["g"]
    assert summary["Lost"] == 1
