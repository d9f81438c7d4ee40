"""Names of the waiters compared (kept apart so naming one imports nothing heavy)."""

SYNC = "sync"
DEFERRABLE = "deferrable"
NOMAD_007 = "apache-airflow-providers-nomad==0.0.7"
#: airflow-nomad as it ships (``forward_logs`` off: the batch's output never reaches Airflow).
AIRFLOW_NOMAD_021 = "airflow-nomad==0.2.1"
#: airflow-nomad with ``forward_logs=True``, the setting that shows the batch's output.
AIRFLOW_NOMAD_021_LOGS = "airflow-nomad==0.2.1+forward_logs"
PREFECT_NOMAD_020 = "prefect-nomad==0.2.0"
