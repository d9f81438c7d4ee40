"""Nodes (drain, eligibility), agent members, ACL tokens and policies, search, client stats
and file streams, and routes still not served, as Nomad answers them."""

from __future__ import annotations

import pytest
from emulator_testlib import (
    Nomad,
    batch_job,
    decode_frames,
    mock_task,
    no_reschedule,
    no_restart,
    sh_task,
    unique,
)


def the_node(emu) -> dict:
    [node] = emu.get("/v1/nodes").json()
    return node


def test_node_list_stubs_and_full_node(emu):
    stub = the_node(emu)
    assert stub["Name"] == "node-1"
    assert (stub["Drain"], stub["SchedulingEligibility"], stub["Status"]) == (
        False,
        "eligible",
        "ready",
    )
    assert "NodeResources" not in stub and "Attributes" not in stub
    rich = emu.get("/v1/nodes", params={"resources": "true", "os": "true"}).json()[0]
    assert rich["NodeResources"]["Cpu"]["CpuShares"] == 4000
    assert rich["Attributes"] == {"os.name": "linux", "os.version": "emulated"}
    assert emu.get("/v1/nodes", params={"prefix": stub["ID"][:4]}).json() == [stub]
    assert emu.get("/v1/nodes", params={"prefix": "zzzz"}).json() == []

    node = emu.get(f"/v1/node/{stub['ID']}").json()
    assert "Drain" not in node  # only list stubs carry it since Nomad 1.x
    assert node["DrainStrategy"] is None
    assert node["Events"][0]["Message"] == "Node registered"
    missing = emu.get("/v1/node/00000000-0000-0000-0000-000000000000")
    assert (missing.status_code, missing.text) == (404, "node not found")


def test_drain_migrates_service_allocations_then_completes(emu):
    job_id = unique("svc")
    emu.register(
        {
            "Job": {
                "ID": job_id,
                "Type": "service",
                "TaskGroups": [{"Name": "g", "Tasks": [mock_task("t", run_for="1h")]}],
            }
        }
    )
    [alloc] = emu.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")
    node_id = the_node(emu)["ID"]
    reply = emu.post(f"/v1/node/{node_id}/drain", {"DrainSpec": {"Deadline": 0}}).json()
    assert len(reply["EvalIDs"]) == 1
    node = emu.wait(f"/v1/node/{node_id}", lambda n: n["DrainStrategy"] is None)
    assert node["SchedulingEligibility"] == "ineligible"
    assert node["LastDrain"]["Status"] == "complete"
    assert [e["Message"] for e in node["Events"]][-2:] == [
        "Node drain strategy set",
        "Node drain complete",
    ]
    stopped = emu.get(f"/v1/allocation/{alloc['ID']}").json()
    assert (stopped["DesiredStatus"], stopped["DesiredDescription"]) == (
        "stop",
        "alloc is being migrated",
    )
    # the replacement waits for an eligible node
    blocked = [
        e for e in emu.get(f"/v1/job/{job_id}/evaluations").json() if e["Status"] == "blocked"
    ]
    assert blocked
    eligible = emu.post(
        f"/v1/node/{node_id}/eligibility", {"NodeID": node_id, "Eligibility": "eligible"}
    )
    assert eligible.status_code == 200, eligible.text
    emu.wait_allocs(job_id, lambda a: any(x["ClientStatus"] == "running" for x in a))


def test_a_drain_can_be_cancelled_and_eligibility_is_checked(emu):
    job_id = unique("batch")
    emu.register(batch_job(job_id, [mock_task("t", run_for="1h")]))
    emu.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")
    node_id = the_node(emu)["ID"]
    emu.post(f"/v1/node/{node_id}/drain", {"DrainSpec": {"Deadline": 0}})
    draining = emu.get(f"/v1/node/{node_id}").json()
    assert draining["DrainStrategy"]["Deadline"] == 0  # a batch alloc is left to finish
    assert the_node(emu)["Drain"] is True
    refused = emu.post(f"/v1/node/{node_id}/eligibility", {"Eligibility": "eligible"})
    assert (refused.status_code, refused.text) == (
        500,
        "can not set node's scheduling eligibility to eligible while it is draining",
    )
    bad = emu.post(f"/v1/node/{node_id}/eligibility", {"Eligibility": "maybe"})
    assert (bad.status_code, bad.text) == (500, 'invalid scheduling eligibility "maybe"')
    cancelled = emu.post(f"/v1/node/{node_id}/drain", {"DrainSpec": None, "MarkEligible": True})
    assert cancelled.status_code == 200
    node = emu.get(f"/v1/node/{node_id}").json()
    assert (node["DrainStrategy"], node["SchedulingEligibility"]) == (None, "eligible")
    assert node["LastDrain"]["Status"] == "canceled"


def test_node_evaluate_and_allocations(emu):
    job_id = unique("on-node")
    emu.register(batch_job(job_id, [mock_task("t", run_for="1h")]))
    [alloc] = emu.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")
    node_id = the_node(emu)["ID"]
    on_node = emu.get(f"/v1/node/{node_id}/allocations").json()
    assert [a["ID"] for a in on_node] == [alloc["ID"]]
    assert on_node[0]["Job"]["ID"] == job_id  # full allocations, not stubs
    reply = emu.post(f"/v1/node/{node_id}/evaluate").json()
    [eval_id] = reply["EvalIDs"]
    assert emu.get(f"/v1/evaluation/{eval_id}").json()["TriggeredBy"] == "node-update"


def test_agent_members_servers_and_join(emu):
    members = emu.get("/v1/agent/members").json()
    assert members["ServerName"] == "node-1.global"
    assert members["ServerRegion"] == "global"
    [member] = members["Members"]
    assert (member["Status"], member["Port"], member["Tags"]["role"]) == ("alive", 4648, "nomad")
    assert emu.get("/v1/agent/servers").json() == ["127.0.0.1:4647"]
    joined = emu.post("/v1/agent/join", params={"address": "nope"}).json()
    assert joined["num_joined"] == 0 and joined["error"]
    assert emu.post("/v1/agent/force-leave", params={"node": "nope"}).status_code == 200
    assert emu.post("/v1/agent/force-leave").text == "missing node to force leave"


def test_acl_bootstrap_tokens_and_policies():
    from airflow_provider_nomad.testing import Emulator

    with Emulator(acl=True, acl_bootstrapped=False) as emulator:
        anonymous = Nomad(emulator.nomad_addr)
        try:
            assert anonymous.get("/v1/jobs").status_code == 403
            boot = anonymous.post("/v1/acl/bootstrap")
            assert boot.status_code == 200, boot.text
            token = boot.json()
            assert (token["Name"], token["Type"], token["SecretID"]) == (
                "Bootstrap Token",
                "management",
                emulator.token,
            )
            again = anonymous.post("/v1/acl/bootstrap")
            assert again.status_code == 400
            assert again.text.startswith("ACL bootstrap already done (reset index: ")
        finally:
            anonymous.close()
        admin = Nomad(emulator.nomad_addr, token["SecretID"])
        try:
            assert admin.get("/v1/acl/token/self").json()["AccessorID"] == token["AccessorID"]
            rules = 'namespace "default" { policy = "read" }'
            policy = admin.post(
                "/v1/acl/policy/readonly", {"Name": "readonly", "Description": "ro", "Rules": rules}
            )
            assert policy.status_code == 200, policy.text
            assert admin.get("/v1/acl/policies").json()[0]["Name"] == "readonly"
            created = admin.post(
                "/v1/acl/token", {"Name": "reader", "Type": "client", "Policies": ["readonly"]}
            ).json()
            assert created["Policies"] == ["readonly"] and created["SecretID"]
            assert [t["Name"] for t in admin.get("/v1/acl/tokens").json()].count("reader") == 1
            listed = admin.get("/v1/acl/tokens").json()
            assert all("SecretID" not in t for t in listed)
            reader = Nomad(emulator.nomad_addr, created["SecretID"])
            try:
                assert reader.get("/v1/jobs").status_code == 200  # read policy: list-jobs
                job = batch_job(unique("j"), [mock_task("t")])
                assert reader.post("/v1/jobs", job).status_code == 403
                assert reader.get("/v1/acl/tokens").status_code == 403
                assert reader.get("/v1/acl/token/self").json()["Name"] == "reader"
            finally:
                reader.close()
            renamed = admin.post(
                f"/v1/acl/token/{created['AccessorID']}",
                {
                    "AccessorID": created["AccessorID"],
                    "Name": "renamed",
                    "Type": "client",
                    "Policies": ["readonly"],
                },
            )
            assert renamed.json()["Name"] == "renamed"
            invalid = admin.post("/v1/acl/token", {"Name": "x", "Type": "client"})
            assert invalid.status_code == 400
            assert "client token missing policies or roles" in invalid.text
            assert admin.delete(f"/v1/acl/token/{created['AccessorID']}").status_code == 200
            gone = admin.get(f"/v1/acl/token/{created['AccessorID']}")
            assert (gone.status_code, gone.text) == (404, "ACL token not found")
            assert admin.delete("/v1/acl/policy/readonly").status_code == 200
            assert admin.get("/v1/acl/policy/readonly").status_code == 404
        finally:
            admin.close()


def test_acl_endpoints_say_acls_are_disabled(emu):
    response = emu.get("/v1/acl/tokens")
    assert (response.status_code, response.text) == (400, "ACL support disabled")


def test_search_by_prefix_and_fuzzy(emu):
    job_id = unique("findme")
    emu.register(batch_job(job_id, [mock_task("needle", run_for="1h")], group="haystack"))
    found = emu.post("/v1/search", {"Prefix": "findme", "Context": "jobs"}).json()
    assert found["Matches"] == {"jobs": [job_id]}
    assert found["Truncations"] == {"jobs": False}
    fuzzy = emu.post("/v1/search/fuzzy", {"Text": "eedl", "Context": "all"}).json()
    assert fuzzy["Matches"]["tasks"] == [{"ID": "needle", "Scope": ["default", job_id, "haystack"]}]
    bad = emu.post("/v1/search", {"Prefix": "x", "Context": "job"})
    assert (bad.status_code, bad.text) == (400, 'context "job" is not available')


def test_client_allocation_stats_and_signals(emu):
    job_id = unique("stats")
    task = sh_task("t", "echo ready; sleep 60")
    emu.register(batch_job(job_id, [task], restart=no_restart(), reschedule=no_reschedule()))
    [alloc] = emu.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")
    stats = emu.get(f"/v1/client/allocation/{alloc['ID']}/stats").json()
    rss = stats["Tasks"]["t"]["ResourceUsage"]["MemoryStats"]["RSS"]
    assert rss > 0  # read from /proc for the real process
    assert stats["ResourceUsage"]["MemoryStats"]["RSS"] == rss
    bad = emu.post(f"/v1/client/allocation/{alloc['ID']}/signal", {"Signal": "NOPE"})
    assert (bad.status_code, bad.text) == (
        500,
        "Failed to signal task: t, err: invalid signal: NOPE",
    )
    sent = emu.post(f"/v1/client/allocation/{alloc['ID']}/signal", {"Signal": "SIGTERM"})
    assert sent.status_code == 200
    dead = emu.wait_allocs(job_id, lambda a: a[0]["ClientStatus"] == "failed")
    events = [e["Type"] for e in dead[0]["TaskStates"]["t"]["Events"]]
    assert "Signaling" in events
    host = emu.get("/v1/client/stats").json()
    assert host["Memory"]["Total"] > 0 and host["CPU"]


def test_fs_stream_frames_a_file_and_refuses_a_missing_one(emu):
    job_id = unique("stream")
    emu.register(batch_job(job_id, [sh_task("t", "echo hello > $NOMAD_ALLOC_DIR/out.txt")]))
    [alloc] = emu.final_allocs(job_id)
    stream = emu.get(
        f"/v1/client/fs/stream/{alloc['ID']}", params={"path": "alloc/out.txt", "follow": "false"}
    )
    assert stream.status_code == 200
    [frame] = decode_frames(stream.content)
    assert (frame["Offset"], frame["File"]) == (0, "alloc/out.txt")
    import base64

    assert base64.b64decode(frame["Data"]) == b"hello\n"
    missing = emu.get(f"/v1/client/fs/stream/{alloc['ID']}", params={"path": "/redis/executor"})
    assert missing.status_code == 400
    assert missing.text.endswith("redis/executor: no such file or directory")


@pytest.mark.parametrize(
    "route", ["/v1/volumes", "/v1/job/x/scale", "/v1/client/allocation/x/restart"]
)
def test_routes_still_not_served_say_so_with_501(emu, route):
    response = emu.get(route)
    assert response.status_code == 501
    assert response.text.startswith("the Nomad emulator does not implement GET /v1/")
