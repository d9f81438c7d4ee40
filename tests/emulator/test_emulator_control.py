"""The control API: request counters, injected faults, reset, nodes."""

from __future__ import annotations

import time

import httpx
import psutil
import pytest
from emulator_testlib import batch_job, sh_task, unique


@pytest.fixture
def ctl(nomad_emulator):
    return nomad_emulator.control


def test_requests_are_counted_by_route_template(emu, ctl):
    job_id = unique("count")
    emu.register(batch_job(job_id, [sh_task("t", "true")]))
    ctl.reset_counts()
    emu.get(f"/v1/job/{job_id}")
    emu.get(f"/v1/job/{job_id}/allocations")
    emu.get(f"/v1/job/{job_id}/allocations")
    emu.get("/v1/nope")
    ctl.health()  # control calls are never counted
    counts = ctl.request_counts("nomad")
    assert counts == {
        "GET /v1/job/:job_id": 1,
        "GET /v1/job/:job_id/allocations": 2,
        "GET /v1/nope": 1,
    }
    assert ctl.total_requests("nomad") == 4
    ctl.reset_counts()
    assert ctl.total_requests("nomad") == 0


def test_a_fault_answers_its_status_for_its_count(emu, ctl):
    ctl.inject_fault("GET /v1/jobs", status=500, body="No cluster leader", count=2)
    for _ in range(2):
        response = emu.get("/v1/jobs")
        assert (response.status_code, response.text) == (500, "No cluster leader")
    assert emu.get("/v1/jobs").status_code == 200
    assert ctl.request_counts()["GET /v1/jobs"] == 3


def test_a_wildcard_fault_hits_any_v1_route(emu, ctl):
    ctl.inject_fault("*", status=503, body="", count=None)
    assert emu.get("/v1/status/leader").status_code == 503
    assert emu.get(f"/v1/job/{unique('x')}").status_code == 503
    ctl.clear_faults()
    assert emu.get("/v1/status/leader").status_code == 200


def test_a_dropped_connection_gets_no_response(emu, ctl):
    ctl.inject_fault("GET /v1/status/leader", drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        emu.get("/v1/status/leader")
    assert emu.get("/v1/status/leader").status_code == 200


def test_latency_is_added_before_answering(emu, ctl):
    ctl.inject_fault("GET /v1/status/leader", status=None, delay=0.3)
    started = time.monotonic()
    response = emu.get("/v1/status/leader")
    assert response.status_code == 200 and time.monotonic() - started >= 0.3


def test_probability_with_a_seed_is_reproducible(emu, ctl):
    def pattern() -> list[int]:
        ctl.clear_faults()
        ctl.inject_fault("GET /v1/status/leader", status=500, count=None, probability=0.5, seed=3)
        return [emu.get("/v1/status/leader").status_code for _ in range(20)]

    first, second = pattern(), pattern()
    assert first == second
    assert 500 in first and 200 in first


def test_faults_apply_to_consul_separately(nomad_emulator, ctl):
    ctl.inject_fault("*", status=500, body="boom", service="consul")
    consul = httpx.get(f"{nomad_emulator.consul_addr}/v1/health/service/web")
    assert (consul.status_code, consul.text) == (500, "boom")
    assert httpx.get(f"{nomad_emulator.nomad_addr}/v1/status/leader").status_code == 200
    assert ctl.total_requests("consul") == 1


def test_reset_forgets_jobs_nodes_and_faults(emu, ctl):
    job_id = unique("gone")
    emu.register(batch_job(job_id, [sh_task("t", "true")]))
    ctl.add_node("extra")
    ctl.inject_fault("GET /v1/jobs", count=None)
    ctl.reset()
    assert emu.get(f"/v1/job/{job_id}").status_code == 404
    assert [n["Name"] for n in ctl.nodes()] == ["node-1"]
    assert emu.get("/v1/jobs").status_code == 200


def test_nodes_can_be_resized(emu, ctl):
    node = ctl.nodes()[0]
    assert (
        node["NodeResources"]["Cpu"]["CpuShares"],
        node["NodeResources"]["Memory"]["MemoryMB"],
    ) == (
        4000,
        8192,
    )
    resized = ctl.set_node(node["ID"], memory=512, drivers=["raw_exec"])
    assert resized["NodeResources"]["Memory"]["MemoryMB"] == 512
    assert set(resized["Drivers"]) == {"raw_exec"}
    # Node list stubs carry NodeResources only when asked for (`json:",omitempty"`).
    assert "NodeResources" not in emu.get("/v1/nodes").json()[0]
    listed = emu.get("/v1/nodes", params={"resources": "true"}).json()
    assert listed[0]["NodeResources"]["Memory"]["MemoryMB"] == 512


def test_reset_kills_running_tasks(emu, ctl):
    job_id = unique("busy")
    emu.register(batch_job(job_id, [sh_task("t", "exec sleep 60")]))
    emu.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")
    [pid] = ctl.live_pids()
    process = psutil.Process(pid)
    ctl.reset()
    _, alive = psutil.wait_procs([process], timeout=10)
    assert alive == []
