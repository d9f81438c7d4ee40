"""Contract: ``POST /v1/jobs/parse`` and running what it returns."""

from __future__ import annotations

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
