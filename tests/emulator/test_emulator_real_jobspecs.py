"""Users' real jobspecs, registered from HCL, run offline with a declared substitution."""

from __future__ import annotations

import sys
from pathlib import Path

from emulator_testlib import b64

JOBSPECS = Path(__file__).parent / "jobspecs"

# Prints its argv and what the rendered env template put in its environment.
ENGINE = (
    "import os, sys; print('args', ' '.join(sys.argv[1:])); "
    "print('LEDGER_DB_URL', os.environ['LEDGER_DB_URL']); "
    "print('LEDGER_DB_USER', os.environ['LEDGER_DB_USER']); print('DESK', os.environ['DESK']); "
    "print('payload', open(os.environ['NOMAD_TASK_DIR'] + '/instructions.json').read())"
)


def parse(emu, name: str, **variables: str) -> dict:
    body = {"JobHCL": (JOBSPECS / name).read_text(), "Canonicalize": True}
    if variables:
        body["Variables"] = "\n".join(f"{k} = {v}" for k, v in variables.items())
    response = emu.post("/v1/jobs/parse", body)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_settlement_jobspec_runs_offline_with_its_template_rendered(nomad_emulator, emu):
    control = nomad_emulator.control
    control.create_namespace("finance")
    control.substitute(
        driver="docker",
        image="registry.internal.example.com/settlement/engine:*",
        command=[sys.executable, "-c", ENGINE],
        append_args=True,
    )
    control.vault_secret("database/creds/settlement-uat", {"username": "u", "password": "p"})
    items = {"ledger_db_url": "postgres://ledger", "swift_gateway": "swift.example"}
    put = emu.put(
        "/v1/var/nomad/jobs/settlement", {"Items": items}, params={"namespace": "finance"}
    )
    assert put.status_code == 200, put.text
    job = parse(emu, "settlement.nomad.hcl", datacenters='["dc1"]')
    emu.register({"Job": job})
    dispatch = emu.dispatch(
        "settlement",
        {"Meta": {"business_date": "2026-11-27", "account_range": "A-K"}, "Payload": b64("{}")},
        namespace="finance",
    )
    assert dispatch.status_code == 200, dispatch.text
    child = dispatch.json()["DispatchedJobID"]
    emu.wait_dead(child, namespace="finance")
    [stub] = emu.get(f"/v1/job/{child}/allocations", params={"namespace": "finance"}).json()
    assert stub["ClientStatus"] == "complete", stub["TaskStates"]
    out = emu.logs(stub["ID"], "engine").decode().splitlines()
    assert out[0].startswith("args settle --business-date 2026-11-27 --accounts A-K --input ")
    assert out[1:5] == [
        "LEDGER_DB_URL postgres://ledger",
        "LEDGER_DB_USER u",
        "DESK FIXED-INCOME",
        "payload {}",
    ]


def test_the_job_init_jobspec_registers_and_runs_the_substituted_command(nomad_emulator, emu):
    nomad_emulator.control.substitute(
        driver="docker", image="redis:*", command=[sys.executable, "-c", "print('redis up')"]
    )
    job = parse(emu, "example.nomad.hcl")
    emu.register({"Job": job})
    [stub] = emu.wait_allocs(
        "example",
        lambda allocs: (
            allocs
            and allocs[0]["TaskStates"]
            and allocs[0]["TaskStates"]["redis"]["Events"][-1]["Type"]
            in ("Terminated", "Restarting")
        ),
    )
    assert emu.logs(stub["ID"], "redis") == b"redis up\n"
