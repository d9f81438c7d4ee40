"""Task templates render into the task directory before the task starts."""

from __future__ import annotations

from emulator_testlib import batch_job, no_reschedule, no_restart, sh_task, unique


def template(dest: str, data: str, **extra) -> dict:
    return {"DestPath": dest, "EmbeddedTmpl": data, "ChangeMode": "noop", **extra}


def run(emu, task: dict) -> tuple[dict, dict]:
    job_id = unique("tmpl")
    emu.register(batch_job(job_id, [task], restart=no_restart(), reschedule=no_reschedule()))
    [stub] = emu.final_allocs(job_id)
    return stub, emu.get(f"/v1/allocation/{stub['ID']}").json()


def test_static_env_and_nomad_var_parts_render_and_env_templates_reach_the_task(emu):
    put = emu.put("/v1/var/nomad/jobs/settle", {"Items": {"db": "postgres://ledger"}})
    assert put.status_code == 200, put.text
    task = sh_task("t", 'cat local/app.conf; echo "DB=$DB_URL"')
    task["Templates"] = [
        template(
            "local/app.conf",
            'static\nalloc={{ env "NOMAD_ALLOC_ID" }}\nhome=[{{ env "HOME" }}]\n',
        ),
        template(
            "secrets/app.env",
            '{{ with nomadVar "nomad/jobs/settle" }}DB_URL={{ .db }}{{ end }}\n',
            Envvars=True,
        ),
    ]
    stub, _ = run(emu, task)
    assert stub["ClientStatus"] == "complete"
    # Host variables are masked out of templates, as Nomad does.
    assert emu.logs(stub["ID"], "t").decode().splitlines() == [
        "static",
        f"alloc={stub['ID']}",
        "home=[]",
        "DB=postgres://ledger",
    ]


def test_an_unsupported_function_fails_the_task_naming_it(emu):
    task = sh_task("t", "true")
    task["Templates"] = [template("local/x", '{{ key "service/db" }}')]
    stub, alloc = run(emu, task)
    assert stub["ClientStatus"] == "failed"
    state = alloc["TaskStates"]["t"]
    killing = next(e for e in state["Events"] if e["Type"] == "Killing")
    assert killing["FailsTask"] is True
    assert killing["DisplayMessage"].startswith("Template failed: (dynamic): execute: ")
    assert 'does not support the function "key"' in killing["DisplayMessage"]
    assert state["Failed"] is True and "Started" not in [e["Type"] for e in state["Events"]]


def test_a_missing_variable_blocks_the_task_until_it_exists(emu):
    task = sh_task("t", "cat local/x")
    task["Templates"] = [template("local/x", '{{ with nomadVar "later" }}{{ .k }}{{ end }}')]
    job_id = unique("tmpl")
    emu.register(batch_job(job_id, [task], restart=no_restart(), reschedule=no_reschedule()))
    [stub] = emu.wait_allocs(
        job_id,
        lambda allocs: (
            allocs
            and allocs[0]["TaskStates"]
            and any(e["Type"] == "Template" for e in allocs[0]["TaskStates"]["t"]["Events"])
        ),
    )
    event = next(e for e in stub["TaskStates"]["t"]["Events"] if e["Type"] == "Template")
    assert event["DisplayMessage"] == "Missing: nomad.var.block(later@default.global)"
    assert stub["ClientStatus"] == "pending"
    assert emu.put("/v1/var/later", {"Items": {"k": "v"}}).status_code == 200
    [stub] = emu.final_allocs(job_id)
    assert stub["ClientStatus"] == "complete"
    assert emu.logs(stub["ID"], "t") == b"v"


def test_a_declared_vault_secret_renders(nomad_emulator, emu):
    nomad_emulator.control.vault_secret("database/creds/x", {"username": "u1"})
    task = sh_task("t", "cat local/x")
    task["Templates"] = [
        template("local/x", '{{ with secret "database/creds/x" }}{{ .Data.username }}{{ end }}')
    ]
    stub, _ = run(emu, task)
    assert emu.logs(stub["ID"], "t") == b"u1"


def test_a_destination_may_not_escape_the_task_directory(emu):
    task = sh_task("t", "true")
    task["Templates"] = [template("../../../x", "no")]
    _stub, alloc = run(emu, task)
    killing = next(e for e in alloc["TaskStates"]["t"]["Events"] if e["Type"] == "Killing")
    assert killing["DisplayMessage"] == (
        "Template failed: template destination path escapes alloc directory"
    )
