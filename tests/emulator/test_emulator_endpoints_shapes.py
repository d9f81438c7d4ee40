"""Answer shapes fixed against Nomad's structs: allocation lists with resources, task states,
allocation metrics and signing key, and the keys every stored job carries (and those it never
carries)."""

from __future__ import annotations

from emulator_testlib import batch_job, mock_task, unique


def finished_alloc(emu) -> tuple[str, dict]:
    job_id = unique("shape")
    body = batch_job(job_id, [mock_task("t", run_for="10ms")])
    body["Job"]["ConsulToken"] = "consul-secret"
    body["Job"]["VaultToken"] = "vault-secret"
    emu.register(body)
    [stub] = emu.final_allocs(job_id)
    return job_id, stub


def test_allocation_list_carries_allocated_resources_only_when_asked(emu):
    _, stub = finished_alloc(emu)
    plain = emu.get("/v1/allocations").json()
    assert "AllocatedResources" not in plain[0]
    [rich] = emu.get("/v1/allocations", params={"resources": "true"}).json()
    resources = rich["AllocatedResources"]
    assert resources["Tasks"]["t"]["Memory"]["MemoryMB"] == 300  # the canonical default
    assert resources["Shared"]["DiskMB"] == 300
    assert rich["ID"] == stub["ID"]


def test_task_states_carry_paused_and_no_task_handle(emu):
    _, stub = finished_alloc(emu)
    state = stub["TaskStates"]["t"]
    assert state["Paused"] == ""
    assert "TaskHandle" not in state
    assert set(state) == {
        "State",
        "Failed",
        "Restarts",
        "LastRestart",
        "StartedAt",
        "FinishedAt",
        "Events",
        "Paused",
    }


def test_allocations_name_their_node_pool_and_signing_key(emu):
    _, stub = finished_alloc(emu)
    alloc = emu.get(f"/v1/allocation/{stub['ID']}").json()
    assert alloc["Metrics"]["NodePool"] == "default"
    assert alloc["Metrics"]["NodesInPool"] == 1
    key = alloc["SigningKeyID"]
    assert len(key) == 36 and key.count("-") == 4
    assert "TaskHandle" not in alloc["TaskStates"]["t"]


def test_stored_jobs_have_every_key_and_no_tokens(emu):
    job_id, stub = finished_alloc(emu)
    job = emu.get(f"/v1/job/{job_id}").json()
    assert "ConsulToken" not in job and "VaultToken" not in job
    assert job["UI"] is None and job["VersionTag"] is None
    [group] = job["TaskGroups"]
    for key in (
        "Consul",
        "Disconnect",
        "MaxClientDisconnect",
        "MaxRunDuration",
        "ShutdownDelay",
        "Scaling",
        "StopAfterClientDisconnect",
    ):
        assert key in group and group[key] is None, key
    assert group["PreventRescheduleOnLost"] is False
    [task] = group["Tasks"]
    for key in ("Identities", "Actions", "Secrets", "VolumeMounts", "Schedule", "Consul"):
        assert key in task and task[key] is None, key
    assert task["Identity"]["Name"] == "default"
    assert task["Identity"]["Audience"] == ["nomadproject.io"]
    embedded = emu.get(f"/v1/allocation/{stub['ID']}").json()["Job"]
    assert "ConsulToken" not in embedded and embedded["TaskGroups"][0]["Consul"] is None


def test_a_given_default_identity_moves_to_task_identity(emu):
    job_id = unique("identity")
    task = mock_task("t", run_for="10ms")
    task["Identities"] = [{"Name": "default", "Env": True}, {"Name": "vault_default"}]
    emu.register(batch_job(job_id, [task]))
    stored = emu.get(f"/v1/job/{job_id}").json()["TaskGroups"][0]["Tasks"][0]
    assert stored["Identity"]["Env"] is True
    assert [i["Name"] for i in stored["Identities"]] == ["vault_default"]
