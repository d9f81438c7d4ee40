"""Stopping jobs: real processes are signalled, tasks report Killing/Terminated/Killed."""

from __future__ import annotations

import os

import pytest
from emulator_testlib import MS, batch_job, event_types, no_reschedule, no_restart, sh_task, unique


def pid_of(api, alloc_id: str, task: str) -> int:
    """The first stdout line of the task (its PID), read by following its log."""
    params = {"task": task, "type": "stdout", "follow": "true", "plain": "true"}
    with api.http.stream("GET", f"/v1/client/fs/logs/{alloc_id}", params=params) as response:
        seen = b""
        for chunk in response.iter_raw():
            seen += chunk
            if b"\n" in seen:
                return int(seen.split(b"\n")[0])
    raise AssertionError("the task printed no PID")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def start_sleeper(api, script: str, setup: str = "", **task_kw) -> tuple[str, dict]:
    """A task that prints its PID once ``setup`` (traps) is done, then runs ``script``."""
    job_id = unique("sleeper")
    task = sh_task("t", f"{setup} echo $$; {script}", **task_kw)
    api.register(batch_job(job_id, [task], restart=no_restart(), reschedule=no_reschedule()))
    alloc = api.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")[0]
    return job_id, alloc


def test_stop_kills_the_process_and_reports_killing_terminated_killed(emu):
    job_id, alloc = start_sleeper(emu, "exec sleep 60")
    pid = pid_of(emu, alloc["ID"], "t")
    assert alive(pid)
    emu.delete(f"/v1/job/{job_id}")
    done = emu.wait(f"/v1/allocation/{alloc['ID']}", lambda a: a["ClientStatus"] == "complete")
    assert done["DesiredStatus"] == "stop"
    assert done["DesiredDescription"] == "alloc not needed due to job update"
    assert event_types(done, "t")[-3:] == ["Killing", "Terminated", "Killed"]
    killing, terminated, killed = done["TaskStates"]["t"]["Events"][-3:]
    assert killing["DisplayMessage"] == "Sent interrupt. Waiting 5s before force killing"
    assert killing["Details"]["kill_timeout"] == "5s"
    assert terminated["DisplayMessage"] == "Exit Code: 130, Signal: 2"
    assert killed["DisplayMessage"] == "Task successfully killed"
    assert done["TaskStates"]["t"]["Failed"] is False
    assert not alive(pid)


def test_a_task_ignoring_the_interrupt_is_killed_after_its_kill_timeout(emu):
    job_id, alloc = start_sleeper(
        emu, "while :; do sleep 0.05; done", "trap '' INT;", KillTimeout=300 * MS
    )
    pid = pid_of(emu, alloc["ID"], "t")
    emu.delete(f"/v1/job/{job_id}")
    done = emu.wait(f"/v1/allocation/{alloc['ID']}", lambda a: a["ClientStatus"] == "complete")
    events = done["TaskStates"]["t"]["Events"]
    assert events[-3]["DisplayMessage"] == "Sent interrupt. Waiting 300ms before force killing"
    assert events[-2]["DisplayMessage"] == "Exit Code: 137, Signal: 9"
    assert not alive(pid)


def test_kill_signal_is_honoured(emu):
    script = "while :; do sleep 0.05; done"
    job_id, alloc = start_sleeper(emu, script, "trap 'exit 7' TERM;", KillSignal="SIGTERM")
    pid_of(emu, alloc["ID"], "t")  # the trap is set once the PID is out
    emu.delete(f"/v1/job/{job_id}")
    done = emu.wait(f"/v1/allocation/{alloc['ID']}", lambda a: a["ClientStatus"] == "complete")
    assert done["TaskStates"]["t"]["Events"][-2]["DisplayMessage"] == "Exit Code: 7"


def test_stopping_a_parent_leaves_its_children_running(emu):
    parent = unique("parent")
    task = sh_task("t", "exec sleep 30")
    emu.register(batch_job(parent, [task], parameterized={"Payload": "optional"}))
    child = emu.dispatch(parent, {}).json()["DispatchedJobID"]
    emu.wait_allocs(child, lambda a: a and a[0]["ClientStatus"] == "running")
    reply = emu.delete(f"/v1/job/{parent}").json()
    assert reply["EvalID"] == ""  # a parameterized job gets no evaluation
    assert emu.get(f"/v1/job/{parent}").json()["Status"] == "dead"
    assert emu.get(f"/v1/job/{child}").json()["Status"] == "running"
    emu.delete(f"/v1/job/{child}")
    emu.wait_dead(child)


def test_garbage_collection_removes_terminal_allocations(emu, nomad_emulator):
    job_id = unique("gc")
    emu.register(batch_job(job_id, [sh_task("t", "echo done")]))
    [alloc] = emu.final_allocs(job_id)
    result = nomad_emulator.control.gc_job(job_id)
    assert result == {"Allocations": [alloc["ID"]], "JobRemoved": True}
    assert emu.get(f"/v1/allocation/{alloc['ID']}").status_code == 404
    assert emu.get(f"/v1/job/{job_id}").status_code == 404
    logs = emu.get(f"/v1/client/fs/logs/{alloc['ID']}", params={"task": "t", "type": "stdout"})
    assert (logs.status_code, logs.text) == (404, f'Unknown allocation "{alloc["ID"]}"')


@pytest.mark.real_nomad
def test_stop_of_a_running_raw_exec_job(api):
    job_id = unique("stopme")
    api.register(batch_job(job_id, [sh_task("t", "exec sleep 60")]))
    [alloc] = api.wait_allocs(job_id, lambda a: a and a[0]["ClientStatus"] == "running")
    api.delete(f"/v1/job/{job_id}")
    done = api.wait(f"/v1/allocation/{alloc['ID']}", lambda a: a["ClientStatus"] == "complete")
    assert "Killed" in event_types(done, "t")
