"""Job endpoints past register/read/stop: versions, plan, validate, revert, stable, evaluate,
deployments, and stopping one allocation, as Nomad's job and alloc endpoints answer them."""

from __future__ import annotations

from typing import Any

from emulator_testlib import MS, batch_job, mock_task, unique


def service_job(job_id: str, *, min_healthy_ms: int = 100, count: int = 1) -> dict[str, Any]:
    """A service job with an update strategy: it gets a deployment."""
    return {
        "Job": {
            "ID": job_id,
            "Type": "service",
            "Datacenters": ["*"],
            "Update": {"MaxParallel": 1, "MinHealthyTime": min_healthy_ms * MS},
            "TaskGroups": [
                {"Name": "web", "Count": count, "Tasks": [mock_task("srv", run_for="1h")]}
            ],
        }
    }


def test_versions_list_every_upsert_newest_first(emu):
    job_id = unique("versions")
    body = batch_job(job_id, [mock_task("t", run_for="1h")], parameterized={})
    emu.register(body)
    body["Job"]["Meta"] = {"changed": "yes"}
    emu.register(body)
    assert emu.delete(f"/v1/job/{job_id}").status_code == 200  # a stop is a new version too
    response = emu.get(f"/v1/job/{job_id}/versions")
    assert response.status_code == 200
    reply = response.json()
    assert [v["Version"] for v in reply["Versions"]] == [2, 1, 0]
    assert [v["Stop"] for v in reply["Versions"]] == [True, False, False]
    assert reply["Versions"][1]["Meta"] == {"changed": "yes"}
    assert reply["Diffs"] is None
    assert reply["Index"] == int(response.headers["X-Nomad-Index"])
    assert {"LastContact", "KnownLeader", "NextToken"} <= set(reply)
    missing = emu.get("/v1/job/nope/versions")
    assert (missing.status_code, missing.text) == (404, "job versions not found")


def test_a_batch_job_has_no_deployment(emu):
    job_id = unique("batch")
    emu.register(batch_job(job_id, [mock_task("t", run_for="10ms")]))
    emu.wait_dead(job_id)
    latest = emu.get(f"/v1/job/{job_id}/deployment")
    assert (latest.status_code, latest.json()) == (200, None)
    assert emu.get(f"/v1/job/{job_id}/deployments").json() == []
    assert "X-Nomad-Index" in latest.headers


def test_a_service_deployment_succeeds_once_its_allocs_are_healthy(emu):
    job_id = unique("svc")
    emu.register(service_job(job_id, count=2))
    done = emu.wait(f"/v1/job/{job_id}/deployment", lambda d: d and d["Status"] == "successful", 30)
    assert done["StatusDescription"] == "Deployment completed successfully"
    assert (done["JobID"], done["JobVersion"], done["Namespace"]) == (job_id, 0, "default")
    group = done["TaskGroups"]["web"]
    assert (group["DesiredTotal"], group["PlacedAllocs"], group["HealthyAllocs"]) == (2, 2, 2)
    assert group["UnhealthyAllocs"] == 0
    allocs = emu.get(f"/v1/job/{job_id}/allocations").json()
    assert {a["DeploymentStatus"]["Healthy"] for a in allocs} == {True}
    full = emu.get(f"/v1/allocation/{allocs[0]['ID']}").json()
    assert full["DeploymentID"] == done["ID"]
    assert emu.get(f"/v1/job/{job_id}").json()["Stable"] is True
    assert [d["ID"] for d in emu.get(f"/v1/job/{job_id}/deployments").json()] == [done["ID"]]
    assert emu.get(f"/v1/deployment/{done['ID']}").json()["ID"] == done["ID"]
    listed = emu.get(f"/v1/deployment/allocations/{done['ID']}").json()
    assert sorted(a["ID"] for a in listed) == sorted(a["ID"] for a in allocs)
    # terminal now: actions refuse with Nomad's texts
    failed = emu.post(f"/v1/deployment/fail/{done['ID']}", {"DeploymentID": done["ID"]})
    assert (failed.status_code, failed.text) == (500, "can't fail terminal deployment")
    resume = emu.post(
        f"/v1/deployment/pause/{done['ID']}", {"DeploymentID": done["ID"], "Pause": False}
    )
    assert (resume.status_code, resume.text) == (500, "can't resume terminal deployment")


def test_a_running_deployment_can_be_paused_and_failed(emu):
    job_id = unique("svc")
    emu.register(service_job(job_id, min_healthy_ms=3_600_000))
    running = emu.wait(f"/v1/job/{job_id}/deployment", lambda d: d is not None, 30)
    assert running["Status"] == "running"
    path = f"/v1/deployment/pause/{running['ID']}"
    paused = emu.post(path, {"DeploymentID": running["ID"], "Pause": True})
    assert paused.status_code == 200, paused.text
    assert paused.json()["DeploymentModifyIndex"] == int(paused.headers["X-Nomad-Index"])
    assert emu.get(f"/v1/deployment/{running['ID']}").json()["Status"] == "paused"
    mismatch = emu.post(path, {"DeploymentID": "other", "Pause": True})
    assert (mismatch.status_code, mismatch.text) == (400, "Deployment ID does not match")
    failed = emu.post(f"/v1/deployment/fail/{running['ID']}", {"DeploymentID": running["ID"]})
    assert failed.status_code == 200
    after = emu.get(f"/v1/deployment/{running['ID']}").json()
    assert (after["Status"], after["StatusDescription"]) == (
        "failed",
        "Deployment marked as failed",
    )
    unknown = emu.get("/v1/deployment/00000000-0000-0000-0000-000000000000")
    assert (unknown.status_code, unknown.text) == (404, "deployment not found")


def test_plan_reports_placements_and_placement_failures(emu):
    job_id = unique("plan")
    body = batch_job(job_id, [mock_task("t", run_for="1h")], count=2)
    planned = emu.post(f"/v1/job/{job_id}/plan", {**body, "Diff": True})
    assert planned.status_code == 200, planned.text
    reply = planned.json()
    assert reply["Annotations"]["DesiredTGUpdates"]["g"]["Place"] == 2
    assert reply["FailedTGAllocs"] is None
    assert reply["Diff"]["Type"] == "Added"
    assert reply["JobModifyIndex"] == 0
    assert emu.get(f"/v1/job/{job_id}").status_code == 404  # a plan registers nothing

    impossible = batch_job(
        job_id,
        [mock_task("t", run_for="1h")],
        constraints=[{"LTarget": "${attr.kernel.name}", "RTarget": "plan9", "Operand": "="}],
    )
    failed = emu.post(f"/v1/job/{job_id}/plan", impossible).json()
    metrics = failed["FailedTGAllocs"]["g"]
    assert metrics["ConstraintFiltered"] == {"${attr.kernel.name} = plan9": 1}
    mismatch = emu.post("/v1/job/other/plan", body)
    assert (mismatch.status_code, mismatch.text) == (400, "Job ID does not match")


def test_validate_reports_errors_in_the_body(emu):
    good = emu.post("/v1/validate/job", batch_job(unique("ok"), [mock_task("t")]))
    assert good.status_code == 200
    assert good.json() == {
        "DriverConfigValidated": True,
        "ValidationErrors": None,
        "Error": "",
        "Warnings": "",
    }
    bad = emu.post("/v1/validate/job", {"Job": {"ID": "x", "TaskGroups": []}})
    assert bad.status_code == 200
    assert bad.json()["ValidationErrors"]
    problems = bad.json()["ValidationErrors"]
    assert bad.json()["Error"].startswith(f"{len(problems)} error")  # go-multierror text
    assert all(f"* {p}" in bad.json()["Error"] for p in problems)
    empty = emu.post("/v1/validate/job", {})
    assert (empty.status_code, empty.text) == (400, "Job must be specified")


def test_revert_and_stable(emu):
    job_id = unique("revert")
    body = batch_job(job_id, [mock_task("t", run_for="1h")], parameterized={})
    emu.register(body)
    body["Job"]["Meta"] = {"v": "1"}
    emu.register(body)
    current = emu.post(f"/v1/job/{job_id}/revert", {"JobID": job_id, "JobVersion": 1})
    assert (current.status_code, current.text) == (500, "can't revert to current version")
    enforced = emu.post(
        f"/v1/job/{job_id}/revert", {"JobID": job_id, "JobVersion": 0, "EnforcePriorVersion": 5}
    )
    assert (enforced.status_code, enforced.text) == (
        500,
        "Current job has version 1; enforcing version 5",
    )
    reverted = emu.post(
        f"/v1/job/{job_id}/revert", {"JobID": job_id, "JobVersion": 0, "EnforcePriorVersion": 1}
    )
    assert reverted.status_code == 200, reverted.text
    job = emu.get(f"/v1/job/{job_id}").json()
    assert (job["Version"], job["Meta"]) == (2, None)

    stable = emu.post(
        f"/v1/job/{job_id}/stable", {"JobID": job_id, "JobVersion": 2, "Stable": True}
    )
    assert stable.status_code == 200
    assert stable.json() == {"Index": int(stable.headers["X-Nomad-Index"])}
    assert emu.get(f"/v1/job/{job_id}").json()["Stable"] is True
    missing = emu.post(f"/v1/job/{job_id}/stable", {"JobID": job_id, "JobVersion": 9})
    assert missing.status_code == 500
    assert missing.text == f'job "{job_id}" in namespace "default" at version 9 not found'


def test_evaluate_creates_an_evaluation_except_for_templates(emu):
    job_id = unique("eval")
    emu.register(batch_job(job_id, [mock_task("t", run_for="1h")]))
    reply = emu.post(f"/v1/job/{job_id}/evaluate").json()
    ev = emu.get(f"/v1/evaluation/{reply['EvalID']}").json()
    assert (ev["JobID"], ev["TriggeredBy"]) == (job_id, "job-register")
    template = unique("template")
    emu.register(batch_job(template, [mock_task("t")], parameterized={}))
    refused = emu.post(f"/v1/job/{template}/evaluate")
    assert (refused.status_code, refused.text) == (500, "can't evaluate parameterized job")


def test_stopping_an_allocation_replaces_it(emu):
    job_id = unique("stop")
    emu.register(batch_job(job_id, [mock_task("t", run_for="1h")]))
    [alloc] = emu.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")
    response = emu.post(f"/v1/allocation/{alloc['ID']}/stop")
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["Index"] == int(response.headers["X-Nomad-Index"])
    ev = emu.get(f"/v1/evaluation/{reply['EvalID']}").json()
    assert ev["TriggeredBy"] == "alloc-stop"
    allocs = emu.wait_allocs(
        job_id, lambda a: len(a) == 2 and {x["ClientStatus"] for x in a} == {"complete", "running"}
    )
    old = next(a for a in allocs if a["ID"] == alloc["ID"])
    new = next(a for a in allocs if a["ID"] != alloc["ID"])
    assert (old["DesiredStatus"], old["DesiredDescription"]) == ("stop", "alloc is being migrated")
    assert old["DesiredTransition"]["Migrate"] is True
    assert old["NextAllocation"] == new["ID"]
    assert emu.get(f"/v1/allocation/{new['ID']}").json()["PreviousAllocation"] == alloc["ID"]
    unknown = emu.post("/v1/allocation/00000000-0000-0000-0000-000000000000/stop")
    assert unknown.status_code == 404
