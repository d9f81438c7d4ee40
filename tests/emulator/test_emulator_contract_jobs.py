"""Contract: registering, reading, listing and stopping jobs.

These run against a real Nomad when NOMAD_ADDR is set (raw_exec jobs only), else the emulator.
"""

from __future__ import annotations

import pytest
from emulator_testlib import MS, SECOND, batch_job, sh_task, unique

pytestmark = pytest.mark.real_nomad


def template(job_id: str, **params) -> dict:
    return batch_job(
        job_id,
        [sh_task("work", "echo $NOMAD_META_day")],
        parameterized={"Payload": "optional", "MetaRequired": ["day"]},
        **params,
    )


def test_register_answers_indexes_and_eval(api):
    job_id = unique("reg")
    response = api.post("/v1/jobs", batch_job(job_id, [sh_task("t", "true")]))
    assert response.status_code == 200
    reply = response.json()
    assert reply["EvalID"]
    assert reply["JobModifyIndex"] == reply["EvalCreateIndex"] == reply["Index"] > 0
    assert response.headers["X-Nomad-Index"] == str(reply["Index"])


def test_registering_an_unchanged_job_changes_nothing_but_evaluates_again(api):
    job_id = unique("same")
    body = batch_job(job_id, [sh_task("t", "true")])
    first = api.register(body)
    second = api.register(body)
    assert second["JobModifyIndex"] == first["JobModifyIndex"]
    assert second["EvalID"] and second["EvalID"] != first["EvalID"]
    assert second["EvalCreateIndex"] > first["JobModifyIndex"]
    assert api.get(f"/v1/job/{job_id}").json()["Version"] == 0


def test_registering_an_unchanged_parameterized_job_is_a_no_op(api):
    job_id = unique("tmpl")
    first = api.register(template(job_id))
    response = api.post("/v1/jobs", template(job_id))
    reply = response.json()
    assert reply["EvalID"] == "" and reply["EvalCreateIndex"] == 0
    assert reply["JobModifyIndex"] == first["JobModifyIndex"]
    assert reply["Index"] == 0 and response.headers["X-Nomad-Index"] == "0"


def test_a_changed_job_gets_a_new_version(api):
    job_id = unique("ver")
    first = api.register(template(job_id))
    second = api.register(template(job_id, meta={"owner": "ops"}))
    assert second["JobModifyIndex"] > first["JobModifyIndex"]
    assert api.get(f"/v1/job/{job_id}").json()["Version"] == 1


def test_get_job_returns_the_canonical_job(api):
    job_id = unique("canon")
    api.register(template(job_id))
    response = api.get(f"/v1/job/{job_id}")
    job = response.json()
    assert response.headers["X-Nomad-Index"] == str(job["ModifyIndex"])
    assert response.headers["X-Nomad-KnownLeader"] == "true"
    assert response.headers["X-Nomad-LastContact"] == "0"
    assert (job["ID"], job["Name"], job["Namespace"], job["Region"]) == (
        job_id,
        job_id,
        "default",
        "global",
    )
    assert job["Priority"] == 50 and job["Status"] == "running" and job["Stop"] is False
    assert job["ParameterizedJob"] == {
        "Payload": "optional",
        "MetaRequired": ["day"],
        "MetaOptional": None,
    }
    group = job["TaskGroups"][0]
    restart = group["RestartPolicy"]
    assert (restart["Attempts"], restart["Delay"], restart["Interval"], restart["Mode"]) == (
        3,
        15 * SECOND,
        24 * 3600 * SECOND,
        "fail",
    )
    reschedule = group["ReschedulePolicy"]
    assert (reschedule["Attempts"], reschedule["Delay"], reschedule["DelayFunction"]) == (
        1,
        5 * SECOND,
        "constant",
    )
    assert reschedule["Unlimited"] is False
    task = group["Tasks"][0]
    assert task["KillTimeout"] == 5 * SECOND
    assert (task["LogConfig"]["MaxFiles"], task["LogConfig"]["MaxFileSizeMB"]) == (10, 10)
    assert (task["Resources"]["CPU"], task["Resources"]["MemoryMB"]) == (100, 300)
    assert group["EphemeralDisk"]["SizeMB"] == 300


def test_unknown_job_is_404_with_index_headers(api):
    response = api.get(f"/v1/job/{unique('nope')}")
    assert response.status_code == 404
    assert response.text == "job not found"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert int(response.headers["X-Nomad-Index"]) > 0
    assert api.get(f"/v1/job/{unique('nope')}/summary").text == "job not found"


def test_allocations_of_unknown_job_is_an_empty_list(api):
    response = api.get(f"/v1/job/{unique('nope')}/allocations")
    assert response.status_code == 200 and response.json() == []
    assert api.get(f"/v1/job/{unique('nope')}/evaluations").json() == []


def test_parameterized_parent_summary_counts_children(api):
    job_id = unique("parent")
    api.register(template(job_id))
    summary = api.get(f"/v1/job/{job_id}/summary").json()
    assert summary["JobID"] == job_id
    assert summary["Children"] == {"Pending": 0, "Running": 0, "Dead": 0}
    assert set(summary["Summary"]["g"]) == {
        "Queued",
        "Complete",
        "Failed",
        "Running",
        "Starting",
        "Lost",
        "Unknown",
    }
    assert api.dispatch(job_id, {"Meta": {"day": "1"}}).status_code == 200
    summary = api.wait(f"/v1/job/{job_id}/summary", lambda s: sum(s["Children"].values()) == 1)
    assert (
        summary["Children"]["Pending"]
        + summary["Children"]["Running"]
        + summary["Children"]["Dead"]
        == 1
    )


def test_list_jobs_by_prefix_gives_stubs(api):
    prefix = unique("list")
    for suffix in ("a", "b"):
        api.register(template(f"{prefix}-{suffix}"))
    api.register(template(unique("other")))
    response = api.get("/v1/jobs", params={"prefix": prefix})
    stubs = response.json()
    assert [s["ID"] for s in stubs] == [f"{prefix}-a", f"{prefix}-b"]
    stub = stubs[0]
    assert stub["ParameterizedJob"] is True and stub["Type"] == "batch"
    assert stub["Status"] == "running" and stub["JobSummary"]["JobID"] == f"{prefix}-a"
    assert "Meta" not in stub
    assert int(response.headers["X-Nomad-Index"]) >= stub["ModifyIndex"]
    with_meta = api.get("/v1/jobs", params={"prefix": prefix, "meta": "true"}).json()
    assert "Meta" in with_meta[0]


def test_stop_keeps_the_job_stopped_and_dead(api):
    job_id = unique("stop")
    api.register(batch_job(job_id, [sh_task("t", "exec sleep 30")]))
    api.wait_allocs(job_id, lambda allocs: allocs and allocs[0]["ClientStatus"] == "running")
    response = api.delete(f"/v1/job/{job_id}")
    reply = response.json()
    assert reply["EvalID"] and reply["JobModifyIndex"] == reply["Index"] > 0
    job = api.wait_dead(job_id)
    assert job["Stop"] is True
    allocs = api.wait_allocs(job_id, lambda a: a[0]["ClientStatus"] == "complete")
    assert allocs[0]["DesiredStatus"] == "stop"


def test_purge_removes_the_job_at_once_but_not_its_allocations(api):
    job_id = unique("purge")
    api.register(batch_job(job_id, [sh_task("t", "exec sleep 30")]))
    api.wait_allocs(job_id, lambda allocs: len(allocs) == 1)
    reply = api.delete(f"/v1/job/{job_id}", params={"purge": "true"}).json()
    assert reply["EvalID"]
    assert api.get(f"/v1/job/{job_id}").status_code == 404
    allocs = api.wait_allocs(job_id, lambda a: a and a[0]["DesiredStatus"] == "stop")
    assert allocs[0]["JobID"] == job_id


def test_stopping_an_unknown_job_answers_an_empty_reply(api):
    response = api.delete(f"/v1/job/{unique('ghost')}")
    assert response.status_code == 200
    assert response.json()["EvalID"] == "" and response.json()["Index"] == 0


def test_bad_purge_value_is_an_error(api):
    response = api.delete(f"/v1/job/{unique('x')}", params={"purge": "maybe"})
    assert response.status_code == 500
    assert response.text == (
        'Failed to parse value of "purge" (maybe) as a bool: '
        'strconv.ParseBool: parsing "maybe": invalid syntax'
    )


def test_unknown_region_has_no_path(api):
    for response in (
        api.get("/v1/jobs", params={"region": "mars"}),
        api.get(f"/v1/job/{unique('x')}", params={"region": "mars"}),
        api.post("/v1/jobs", template(unique("x")), params={"region": "mars"}),
    ):
        assert response.status_code == 500
        assert response.text == "No path to region"


def test_jobs_are_scoped_by_namespace(api, nomad_target):
    ctl = nomad_target.control
    ctl.create_namespace("batch")
    job_id = unique("ns")
    api.register(template(job_id), namespace="batch")
    assert api.get(f"/v1/job/{job_id}").status_code == 404
    assert (
        api.get(f"/v1/job/{job_id}", params={"namespace": "batch"}).json()["Namespace"] == "batch"
    )
    assert api.get("/v1/jobs", params={"prefix": job_id}).json() == []
    everywhere = api.get("/v1/jobs", params={"prefix": job_id, "namespace": "*"}).json()
    assert [(j["ID"], j["Namespace"]) for j in everywhere] == [(job_id, "batch")]


def test_registering_into_a_missing_namespace_fails(api):
    job_id = unique("nons")
    response = api.post("/v1/jobs", template(job_id), params={"namespace": "nowhere-x"})
    assert response.status_code == 500
    assert response.text == f'job "{job_id}" is in nonexistent namespace "nowhere-x"'


def test_changing_a_job_type_is_refused(api):
    job_id = unique("type")
    api.register(batch_job(job_id, [sh_task("t", "true")]))
    body = batch_job(job_id, [sh_task("t", "true")], Type="service")
    response = api.post("/v1/jobs", body)
    assert response.status_code == 500
    assert response.text == 'cannot update job from type "batch" to "service"'


def test_status_leader_and_agent_self(api):
    leader = api.get("/v1/status/leader")
    assert leader.status_code == 200 and ":" in leader.json()
    me = api.get("/v1/agent/self")
    assert me.status_code == 200
    assert me.json()["config"]["Region"] == "global"


def test_restart_delay_fields_are_nanoseconds(api):
    job_id = unique("ns-dur")
    restart = {"Attempts": 1, "Delay": 100 * MS, "Interval": 10 * SECOND, "Mode": "fail"}
    api.register(batch_job(job_id, [sh_task("t", "true")], restart=restart))
    group = api.get(f"/v1/job/{job_id}").json()["TaskGroups"][0]
    assert group["RestartPolicy"]["Delay"] == 100 * MS
    assert group["Tasks"][0]["RestartPolicy"]["Delay"] == 100 * MS
