# The runner job of NomadExecutor (raw_exec): each Airflow task try is dispatched to it, its
# payload being the task's workload JSON. Register it once per namespace with
#   nomad job run airflow-task-runner.raw_exec.nomad.hcl
# on nodes where Airflow, the provider and the DAGs' dependencies are installed under
# /opt/airflow/venv (the same versions as the scheduler's), and where the DAG bundle is
# available at the same path as on the dag-processor.
job "airflow-task-runner" {
  type        = "batch"
  datacenters = ["dc1"]

  parameterized {
    # The workload JSON (holds the try's short-lived token: see docs/executor.md).
    payload = "required"
    # Set by the executor on every child; add your own keys here for executor_config meta.
    meta_optional = [
      "airflow_dag_id",
      "airflow_task_id",
      "airflow_run_id",
      "airflow_try_number",
      "airflow_map_index",
    ]
  }

  group "runner" {
    count = 1

    # A try runs once: Airflow retries a failed try as a new try (a new child). Restarting or
    # rescheduling the same try would start it a second time with the same token.
    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "airflow-task" {
      driver = "raw_exec"

      dispatch_payload {
        file = "workload.json"
      }

      config {
        command = "/opt/airflow/venv/bin/python"
        args = [
          "-m", "airflow.sdk.execution_time.execute_workload",
          "--json-path", "${NOMAD_TASK_DIR}/workload.json",
        ]
      }

      env {
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL = "http://airflow-api.service.consul:8080/execution/"
      }

      resources {
        cpu    = 500
        memory = 1024
      }
    }
  }
}
