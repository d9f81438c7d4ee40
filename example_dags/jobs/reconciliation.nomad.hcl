# Reconciliation batch: checks a settlement's books against the ledger of record and exits 1
# when they do not balance.
#
# A parameterized job: each dispatch (the nightly_settlement DAG's `reconcile` task) carries
# the settlement's result as its payload. The program is found through the `jobs_dir` meta
# key, as in settlement.nomad.hcl.
job "reconciliation" {
  type        = "batch"
  datacenters = ["dc1"]

  parameterized {
    payload       = "required" # the settlement batch's result JSON
    meta_required = ["business_date"]
    meta_optional = ["jobs_dir", "dry_run"]
  }

  meta {
    jobs_dir = "/opt/batch/jobs"
    dry_run  = "false"
  }

  group "reconcile" {
    # A break does not go away by running again: fail at once, loudly.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "reconcile" {
      driver = "raw_exec"

      config {
        command = "python3"
        args    = ["${NOMAD_META_jobs_dir}/reconcile.py"]
      }

      dispatch_payload {
        file = "settlement.json"
      }

      env {
        PYTHONDONTWRITEBYTECODE = "1"
        PYTHONUNBUFFERED        = "1"
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
