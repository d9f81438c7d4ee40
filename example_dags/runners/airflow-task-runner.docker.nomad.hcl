# The runner job of NomadExecutor in a container (docker driver): the image holds Airflow, the
# provider, the DAGs' dependencies and the DAG bundle (or fetches it, for a git bundle).
# Register it once per namespace with: nomad job run airflow-task-runner.docker.nomad.hcl
job "airflow-task-runner" {
  type        = "batch"
  datacenters = ["dc1"]

  parameterized {
    payload = "required"
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

    restart {
      attempts = 0
      mode     = "fail"
    }

    reschedule {
      attempts  = 0
      unlimited = false
    }

    task "airflow-task" {
      driver = "docker"

      dispatch_payload {
        file = "workload.json"
      }

      config {
        image = "registry.example.internal/airflow-tasks:3.3.0"
        # The task directory is mounted at /local inside the container.
        command = "python"
        args = [
          "-m", "airflow.sdk.execution_time.execute_workload",
          "--json-path", "/local/workload.json",
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
