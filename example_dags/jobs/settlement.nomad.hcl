# Settlement batch: settles one business day's trades for a range of accounts.
#
# A parameterized job: registering it runs nothing; each dispatch (the nightly_settlement DAG's
# `settle` task) starts one child with its own meta and payload.
#
# The program is found through the `jobs_dir` meta key, so this file stays the same wherever
# the batch programs live: the DAG passes the directory it knows at dispatch time, and the
# default below is where a Nomad client of the bundled docker-compose stack mounts them.
job "settlement" {
  type        = "batch"
  datacenters = ["dc1"]

  parameterized {
    payload       = "required" # {"accounts": {"first": 1000, "last": 1099}}
    meta_required = ["business_date"]
    meta_optional = ["jobs_dir", "dry_run", "inject_break"]
  }

  meta {
    jobs_dir     = "/opt/batch/jobs"
    dry_run      = "false"
    inject_break = "false"
  }

  group "settle" {
    # Nomad does not retry a settlement: its failures are deterministic (bad input, a break),
    # and a retry is the Airflow task's decision, which adopts or re-dispatches safely.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "settle" {
      driver = "raw_exec"

      config {
        command = "python3"
        args    = ["${NOMAD_META_jobs_dir}/settle.py"]
      }

      dispatch_payload {
        file = "accounts.json"
      }

      env {
        PYTHONDONTWRITEBYTECODE = "1"
        PYTHONUNBUFFERED        = "1"
      }

      resources {
        cpu    = 500
        memory = 256
      }

      logs {
        max_files     = 3
        max_file_size = 10
      }
    }
  }
}
