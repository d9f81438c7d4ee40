"""What a raw_exec task sees: Nomad's environment, directories, payload file and events."""

from __future__ import annotations

import os

from emulator_testlib import (
    MS,
    SECOND,
    b64,
    batch_job,
    event_types,
    no_reschedule,
    no_restart,
    sh_task,
    unique,
)


def dispatch_and_finish(api, task: dict, body: dict, **job_kw) -> tuple[dict, dict]:
    job_id = unique("env")
    job_kw.setdefault("restart", no_restart())
    job = batch_job(
        job_id,
        [task],
        parameterized={
            "Payload": "optional",
            "MetaRequired": ["run-date"],
            "MetaOptional": ["dry"],
        },
        reschedule=no_reschedule(),
        **job_kw,
    )
    api.register(job)
    child = api.dispatch(job_id, body).json()["DispatchedJobID"]
    [alloc] = api.final_allocs(child)
    return alloc, api.get(f"/v1/allocation/{alloc['ID']}").json()


def test_task_environment_directories_and_payload(emu):
    task = sh_task("work", "env; pwd; cat local/input.json")
    task["DispatchPayload"] = {"File": "input.json"}
    task["Env"] = {"GREETING": "hi-${NOMAD_TASK_NAME}"}
    task["Meta"] = {"tier": "gold"}
    stub, alloc = dispatch_and_finish(
        emu,
        task,
        {"Meta": {"run-date": "2024-05-06"}, "Payload": b64('{"n":1}')},
        meta={"team": "ops"},
    )
    out = emu.logs(stub["ID"], "work").decode()
    env = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    child = alloc["Job"]
    assert env["NOMAD_ALLOC_ID"] == stub["ID"]
    assert env["NOMAD_JOB_ID"] == child["ID"] == env["NOMAD_JOB_NAME"]
    assert env["NOMAD_JOB_PARENT_ID"] == child["ParentID"]
    assert (env["NOMAD_TASK_NAME"], env["NOMAD_GROUP_NAME"]) == ("work", "g")
    assert env["NOMAD_NAMESPACE"] == "default" and env["NOMAD_REGION"] == "global"
    assert env["NOMAD_ALLOC_NAME"] == f"{child['ID']}.g[0]" and env["NOMAD_ALLOC_INDEX"] == "0"
    assert env["NOMAD_DC"] == "dc1" and env["NOMAD_MEMORY_LIMIT"] == "300"
    # Meta reaches the task under its own name (cleaned) and upper-cased, as Nomad does.
    assert env["NOMAD_META_run_date"] == env["NOMAD_META_RUN_DATE"] == "2024-05-06"
    assert env["NOMAD_META_team"] == env["NOMAD_META_TEAM"] == "ops"
    assert env["NOMAD_META_TIER"] == "gold"
    # Optional meta a dispatch left out is still defined, empty.
    assert env["NOMAD_META_DRY"] == "" and env["NOMAD_META_dry"] == ""
    assert env["GREETING"] == "hi-work"
    task_dir = env["NOMAD_TASK_DIR"]
    assert task_dir.endswith(os.path.join(stub["ID"], "work", "local"))
    assert env["NOMAD_ALLOC_DIR"].endswith(os.path.join(stub["ID"], "alloc"))
    assert env["NOMAD_SECRETS_DIR"].endswith(os.path.join("work", "secrets"))
    lines = out.splitlines()
    assert lines[-2] == os.path.dirname(task_dir)  # cwd is the task directory
    assert lines[-1] == '{"n":1}'


def test_agent_secrets_do_not_reach_raw_exec_tasks(emu, monkeypatch):
    monkeypatch.setenv("VAULT_TOKEN", "s.secret")
    monkeypatch.setenv("EMULATOR_VISIBLE", "yes")
    stub, _ = dispatch_and_finish(
        emu,
        sh_task("t", "echo ${VAULT_TOKEN:-unset} $EMULATOR_VISIBLE"),
        {"Meta": {"run-date": "d"}},
    )
    assert emu.logs(stub["ID"], "t") == b"unset yes\n"


def test_a_successful_task_event_sequence(emu):
    _stub, alloc = dispatch_and_finish(emu, sh_task("t", "exit 0"), {"Meta": {"run-date": "d"}})
    assert event_types(alloc, "t") == ["Received", "Task Setup", "Started", "Terminated"]
    events = alloc["TaskStates"]["t"]["Events"]
    assert events[1]["DisplayMessage"] == "Building Task Directory"
    terminated = events[-1]
    assert terminated["DisplayMessage"] == "Exit Code: 0"
    assert terminated["Details"] == {"exit_code": "0", "signal": "0", "oom_killed": "false"}
    assert all(isinstance(e["Time"], int) and e["Time"] > 1e18 for e in events)
    assert (alloc["ClientStatus"], alloc["ClientDescription"]) == (
        "complete",
        "All tasks have completed",
    )
    state = alloc["TaskStates"]["t"]
    assert state["State"] == "dead" and state["Failed"] is False and state["Restarts"] == 0
    assert state["StartedAt"] <= state["FinishedAt"]


def test_a_missing_command_is_an_unrecoverable_driver_failure(emu):
    task = {"Name": "t", "Driver": "raw_exec", "Config": {"command": "no-such-binary-here"}}
    restart = {"Attempts": 3, "Delay": 100 * MS, "Interval": 10 * SECOND, "Mode": "fail"}
    _stub, alloc = dispatch_and_finish(emu, task, {"Meta": {"run-date": "d"}}, restart=restart)
    events = alloc["TaskStates"]["t"]["Events"]
    assert [e["Type"] for e in events] == [
        "Received",
        "Task Setup",
        "Driver Failure",
        "Not Restarting",
    ]
    assert "no-such-binary-here not found" in events[2]["DisplayMessage"]
    assert events[3]["DisplayMessage"] == "Error was unrecoverable"
    assert alloc["ClientStatus"] == "failed"
