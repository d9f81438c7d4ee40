# Position extract: every position of an account range at the business day's close.
#
# A whole batch job (not parameterized), run once per DAG run by the position_rollup DAG with
# NomadRunJobOperator, which registers it under an ID of its task instance
# (position-extract-af-<key>-try<n>) and follows it to its end. The DAG sets the meta of its
# run (business date, accounts, jobs_dir) over the defaults below; `nomad job run` of this file
# as is extracts the accounts below for the date given.
job "position-extract" {
  type        = "batch"
  datacenters = ["dc1"]

  meta {
    business_date = "2026-11-24"
    accounts      = "1000-1019"
    jobs_dir      = "/opt/batch/jobs"
  }

  group "extract" {
    # A failed extract is retried by Airflow (retries), never behind its back.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "extract" {
      driver = "raw_exec"

      config {
        command = "python3"
        args    = ["${NOMAD_META_jobs_dir}/position_extract.py"]
      }

      env {
        PYTHONDONTWRITEBYTECODE = "1"
        PYTHONUNBUFFERED        = "1"
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
