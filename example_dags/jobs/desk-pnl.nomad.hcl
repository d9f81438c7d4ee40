# Desk P&L batch: marks one trading desk's book to the business day's closing prices.
#
# A parameterized job dispatched once per desk (the desk_pnl DAG maps its dispatch over the
# desks). No payload: the desk and the date travel as meta. The program is found through the
# `jobs_dir` meta key, as in settlement.nomad.hcl.
job "desk-pnl" {
  type        = "batch"
  datacenters = ["dc1"]

  parameterized {
    payload       = "forbidden"
    meta_required = ["desk", "business_date"]
    meta_optional = ["jobs_dir"]
  }

  meta {
    jobs_dir = "/opt/batch/jobs"
  }

  group "pnl" {
    restart {
      attempts = 1
      delay    = "5s"
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "pnl" {
      driver = "raw_exec"

      config {
        command = "python3"
        args    = ["${NOMAD_META_jobs_dir}/desk_pnl.py"]
      }

      env {
        PYTHONDONTWRITEBYTECODE = "1"
        PYTHONUNBUFFERED        = "1"
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
