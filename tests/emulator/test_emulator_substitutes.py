"""Driver substitutions: docker/podman/java/exec2 tasks run offline as a declared command or mock.

Without a declaration such a task is filtered as ``missing drivers`` (as on a real node without
the driver); the emulator then says how to declare one.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
from emulator_testlib import (
    Nomad,
    batch_job,
    event_types,
    no_reschedule,
    no_restart,
    unique,
)
from test_emulator_cli import first_line, serve

from airflow_provider_nomad.testing import Emulator

# Prints its argv, a few of Nomad's variables and its working directory, one per line.
ECHO = (
    "import os, sys; print(' '.join(sys.argv[1:])); "
    "print(os.environ['NOMAD_ALLOC_ID'], os.environ['NOMAD_META_business_date']); "
    "print(os.environ.get('DESK', '-')); print(os.getcwd())"
)


def docker_task(image: str = "registry.example/settle:2026.05.1") -> dict:
    return {
        "Name": "engine",
        "Driver": "docker",
        "Config": {
            "image": image,
            "args": ["settle", "--business-date", "${NOMAD_META_business_date}"],
        },
    }


def docker_job(job_id: str, task: dict | None = None) -> dict:
    return batch_job(
        job_id,
        [task or docker_task()],
        meta={"business_date": "2026-11-27"},
        restart=no_restart(),
        reschedule=no_reschedule(),
    )


def failed_placement(api: Nomad, eval_id: str) -> dict:
    ev = api.wait(f"/v1/evaluation/{eval_id}", lambda e: e["Status"] == "complete")
    return ev["FailedTGAllocs"]["g"]


def test_an_undeclared_docker_task_fails_placement_saying_how_to_declare(emu, caplog):
    job_id = unique("docker")
    with caplog.at_level(logging.WARNING, logger="airflow_provider_nomad.testing"):
        reply = emu.register(docker_job(job_id))
        metric = failed_placement(emu, reply["EvalID"])
    # Nomad's own metrics, unchanged: clients read them as on a real cluster.
    assert metric["ConstraintFiltered"] == {"missing drivers": 1}
    # Register's warnings (`nomad job run` prints them) and the emulator's log say the cure.
    assert reply["Warnings"].startswith("1 warning(s):\n\n* ")
    for text in (reply["Warnings"], caplog.text):
        assert (
            'task "engine" uses driver "docker" (image "registry.example/settle:2026.05.1")' in text
        )
        assert "control.substitute(driver='docker'" in text
        assert "POST /_emulator/substitutions" in text and "--substitute" in text


def test_a_declared_command_runs_in_place_of_the_docker_task(nomad_emulator, emu):
    nomad_emulator.control.substitute(
        driver="docker",
        image="registry.example/settle:*",
        command=[sys.executable, "-c", ECHO],
        append_args=True,
        env={"DESK": "rates"},
    )
    job_id = unique("docker")
    reply = emu.register(docker_job(job_id))
    assert reply["Warnings"] == ""
    [stub] = emu.final_allocs(job_id)
    assert stub["ClientStatus"] == "complete"
    lines = emu.logs(stub["ID"], "engine").decode().splitlines()
    # The task's own args follow the command, interpolated as the driver would see them.
    assert lines[0] == "settle --business-date 2026-11-27"
    assert lines[1] == f"{stub['ID']} 2026-11-27"
    assert lines[2] == "rates"
    assert lines[3].endswith(f"{stub['ID']}/engine")  # the task directory
    alloc = emu.get(f"/v1/allocation/{stub['ID']}").json()
    assert event_types(alloc, "engine") == [
        "Received",
        "Task Setup",
        "Driver",
        "Started",
        "Terminated",
    ]
    driver_event = alloc["TaskStates"]["engine"]["Events"][2]
    assert driver_event["DisplayMessage"].startswith(
        "emulator substitution for driver docker registry.example/settle:*: runs"
    )


def test_an_image_the_glob_does_not_match_still_fails_placement(nomad_emulator, emu):
    nomad_emulator.control.substitute(image="registry.example/settle:*", run_for=0)
    reply = emu.register(docker_job(unique("docker"), docker_task("docker.io/redis:7")))
    assert failed_placement(emu, reply["EvalID"])["ConstraintFiltered"] == {"missing drivers": 1}
    assert 'image "docker.io/redis:7"' in reply["Warnings"]


def test_a_mock_behaviour_plays_its_output_and_exit_code(nomad_emulator, emu):
    nomad_emulator.control.substitute(
        driver="podman", run_for="50ms", exit_code=3, stdout="out\n", stderr="boom\n"
    )
    task = {"Name": "engine", "Driver": "podman", "Config": {"image": "x"}}
    job_id = unique("podman")
    emu.register(docker_job(job_id, task))
    [stub] = emu.final_allocs(job_id)
    assert stub["ClientStatus"] == "failed"
    terminated = stub["TaskStates"]["engine"]["Events"][-2]
    assert (terminated["Type"], terminated["Details"]["exit_code"]) == ("Terminated", "3")
    assert emu.logs(stub["ID"], "engine") == b"out\n"
    assert emu.logs(stub["ID"], "engine", "stderr") == b"boom\n"


def test_the_latest_matching_declaration_wins_and_can_be_removed(nomad_emulator, emu):
    control = nomad_emulator.control
    control.substitute(driver="java", stdout="general\n")
    specific = control.substitute(driver="java", image="", stdout="specific\n")
    assert [s["mock"]["stdout_string"] for s in control.substitutions()] == [
        "general\n",
        "specific\n",
    ]
    task = {"Name": "engine", "Driver": "java", "Config": {"jar_path": "local/app.jar"}}
    first = unique("java")
    emu.register(docker_job(first, task))
    [stub] = emu.final_allocs(first)
    assert emu.logs(stub["ID"], "engine") == b"specific\n"
    control.remove_substitution(specific)
    second = unique("java")
    emu.register(docker_job(second, task))
    [stub] = emu.final_allocs(second)
    assert emu.logs(stub["ID"], "engine") == b"general\n"


def test_declaring_a_substitution_places_a_blocked_job(nomad_emulator, emu):
    job_id = unique("docker")
    reply = emu.register(docker_job(job_id))
    failed_placement(emu, reply["EvalID"])
    assert emu.get(f"/v1/job/{job_id}").json()["Status"] == "pending"
    nomad_emulator.control.substitute(driver="docker", run_for=0)
    [stub] = emu.final_allocs(job_id)
    assert stub["ClientStatus"] == "complete"


def test_a_reset_forgets_declarations_and_bad_ones_are_refused(nomad_emulator):
    control = nomad_emulator.control
    control.substitute(driver="docker", run_for=0)
    control.reset()
    assert control.substitutions() == []
    with pytest.raises(RuntimeError, match="either a command or a mock behaviour"):
        control.substitute(driver="docker")
    with pytest.raises(RuntimeError, match="names a driver, an image, or both"):
        control.substitute(command=["true"])
    with pytest.raises(RuntimeError, match=r"unknown mock option\(s\) \['run_four'\]"):
        control.substitute(driver="docker", mock={"run_four": "1s"})


def test_under_acls_only_the_management_token_declares(nomad_emulator_acl):
    import httpx

    url = f"{nomad_emulator_acl.nomad_addr}/_emulator/substitutions"
    spec = {"driver": "docker", "mock": {"run_for": "0s"}}
    assert httpx.post(url, json=spec).status_code == 403
    other = nomad_emulator_acl.control.create_token(capabilities=("submit-job",))
    assert httpx.post(url, json=spec, headers={"X-Nomad-Token": other}).status_code == 403
    response = httpx.post(url, json=spec, headers={"X-Nomad-Token": nomad_emulator_acl.token})
    assert response.status_code == 200
    assert [s["id"] for s in nomad_emulator_acl.control.substitutions()] == response.json()["IDs"]


def test_declarations_given_at_start_survive_resets(tmp_path):
    spec = {"driver": "docker", "mock": {"stdout_string": "from start\n"}}
    with Emulator(substitutions=[spec]) as emulator:
        emulator.control.substitute(driver="docker", run_for=0)
        emulator.control.reset()
        [kept] = emulator.control.substitutions()
        assert kept["mock"] == spec["mock"]
        api = Nomad(emulator.nomad_addr)
        job_id = unique("docker")
        api.register(docker_job(job_id))
        [stub] = api.final_allocs(job_id)
        assert api.logs(stub["ID"], "engine") == b"from start\n"
        api.close()
    with pytest.raises(ValueError, match="a substitution is a JSON object"):
        Emulator(substitutions=["docker"])


@pytest.mark.slow
def test_serve_takes_substitutions_from_a_file_and_inline(tmp_path):
    declared = tmp_path / "subs.json"
    declared.write_text(json.dumps([{"driver": "docker", "mock": {"stdout_string": "file\n"}}]))
    inline = json.dumps({"driver": "podman", "mock": {"stdout_string": "inline\n"}})
    process = serve(
        "--nomad-port", "0", "--consul-port", "0", "--substitute", str(declared),
        "--substitute", inline,
    )  # fmt: skip
    try:
        api = Nomad(first_line(process).group(1))
        for driver, text in (("docker", b"file\n"), ("podman", b"inline\n")):
            job_id = unique(driver)
            task = {"Name": "engine", "Driver": driver, "Config": {"image": "x"}}
            api.register(docker_job(job_id, task))
            [stub] = api.final_allocs(job_id)
            assert api.logs(stub["ID"], "engine") == text
        api.close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    bad = subprocess.run(
        [sys.executable, "-m", "airflow_provider_nomad.testing", "serve", "--substitute", "{}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "--substitute: a substitution names a driver, an image, or both" in bad.stderr
