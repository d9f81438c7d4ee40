"""Contract: ``POST /v1/jobs/parse`` and running what it returns."""

from __future__ import annotations

from pathlib import Path

import pytest
from emulator_testlib import unique

pytestmark = pytest.mark.real_nomad

JOBSPEC = """
job "%s" {
  type = "batch"
  parameterized {
    meta_required = ["day"]
  }
  group "g" {
    count = 2
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo day=${NOMAD_META_day}"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
"""


def test_parse_then_register_then_dispatch(api):
    job_id = unique("hcl")
    response = api.post("/v1/jobs/parse", {"JobHCL": JOBSPEC % job_id, "Canonicalize": True})
    assert response.status_code == 200
    job = response.json()
    assert job["ID"] == job_id and job["Type"] == "batch"
    assert job["ParameterizedJob"]["MetaRequired"] == ["day"]
    assert job["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMB"] == 32
    api.register({"Job": job})
    child = api.dispatch(job_id, {"Meta": {"day": "mon"}}).json()["DispatchedJobID"]
    allocs = api.final_allocs(child)
    assert sorted(a["Name"] for a in allocs) == [f"{child}.g[0]", f"{child}.g[1]"]
    for alloc in allocs:
        assert api.logs(alloc["ID"], "t") == b"day=mon\n"


def test_parse_errors(api):
    empty = api.post("/v1/jobs/parse", {"JobHCL": ""})
    assert (empty.status_code, empty.text) == (400, "Job spec is empty")
    broken = api.post("/v1/jobs/parse", {"JobHCL": "job {"})
    assert broken.status_code == 400
    assert broken.text.startswith("Failed to parse job: input.hcl:1,")
    assert api.get("/v1/jobs/parse").status_code == 405


# -- real jobspecs over HTTP --------------------------------------------------------------------

JOBSPECS = Path(__file__).parent / "jobspecs"
SECOND = 1_000_000_000


def parse(api, name: str, **extra) -> dict:
    body = {"JobHCL": (JOBSPECS / name).read_text(), **extra}
    response = api.post("/v1/jobs/parse", body)
    assert response.status_code == 200, response.text
    return response.json()


def test_parse_takes_variables_as_var_file_text(api):
    hcl = (
        'variable "day" {\n  type = string\n}\n\njob "vars" {\n  type = "batch"\n'
        "  meta {\n    day = upper(var.day)\n  }\n}\n"
    )
    job = api.post("/v1/jobs/parse", {"JobHCL": hcl, "Variables": 'day = "mon"\n'}).json()
    assert job["Meta"] == {"day": "MON"}
    unset = api.post("/v1/jobs/parse", {"JobHCL": hcl})
    assert unset.status_code == 400
    assert unset.text.startswith('Failed to parse job: <nil>: Unset variable "day";')
    broken = api.post("/v1/jobs/parse", {"JobHCL": hcl, "Variables": "day = \n"})
    assert broken.status_code == 400
    assert broken.text.startswith("Failed to parse job: unable to parse var content: input.hcl:")


def test_init_jobspec_registers_as_parsed(api):
    job = parse(api, "example.nomad.hcl", Canonicalize=True)
    job["ID"] = job["Name"] = unique("init")
    api.register({"Job": job})
    stored = api.get(f"/v1/job/{job['ID']}").json()
    [group] = stored["TaskGroups"]
    assert group["Update"]["HealthyDeadline"] == 180 * SECOND
    assert group["Migrate"]["MaxParallel"] == 1
    assert group["Networks"][0]["DynamicPorts"][0]["Label"] == "db"
    assert group["Networks"][0]["DynamicPorts"][0]["To"] == 6379
    assert [(s["Name"], s["PortLabel"], s["Provider"]) for s in group["Services"]] == [
        ("redis-cache", "db", "nomad")
    ]
    assert group["Tasks"][0]["Config"]["image"] == "redis:7"


def test_registering_an_uncanonicalized_parse_gives_the_same_group_strategies(api):
    # The server canonicalizes what it registers (ApiJobToStructJob), as the parse endpoint does
    # when asked: the group inherits the job's update and migrate strategies either way.
    job = parse(api, "example.nomad.hcl")
    job["ID"] = job["Name"] = unique("raw")
    assert job["TaskGroups"][0]["Update"] is None
    api.register({"Job": job})
    [group] = api.get(f"/v1/job/{job['ID']}").json()["TaskGroups"]
    assert group["Update"]["MaxParallel"] == 1
    assert group["Update"]["Stagger"] == 30 * SECOND
    assert group["Update"]["HealthyDeadline"] == 180 * SECOND
    assert group["Migrate"]["HealthyDeadline"] == 300 * SECOND


def test_settlement_jobspec_registers_and_its_parameters_gate_dispatch(api, nomad_target):
    nomad_target.control.create_namespace("finance")
    job = parse(api, "settlement.nomad.hcl", Canonicalize=True)
    api.register({"Job": job})
    stored = api.get("/v1/job/settlement", params={"namespace": "finance"}).json()
    task = stored["TaskGroups"][0]["Tasks"][0]
    assert task["Templates"][0]["DestPath"] == "secrets/settlement.env"
    assert task["Vault"]["Role"] == "settlement-uat"
    missing = api.dispatch("settlement", {"Meta": {}}, namespace="finance")
    assert (missing.status_code, missing.text) == (
        500,
        "Dispatch did not provide required meta keys: [business_date]",
    )
    dispatched = api.dispatch(
        "settlement", {"Meta": {"business_date": "2026-05-04"}}, namespace="finance"
    )
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json()["DispatchedJobID"].startswith("settlement/dispatch-")
