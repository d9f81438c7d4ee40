"""Names of the four waiters compared (kept apart so naming one imports nothing heavy)."""

SYNC = "sync"
DEFERRABLE = "deferrable"
NOMAD_007 = "apache-airflow-providers-nomad==0.0.7"
AIRFLOW_NOMAD_021 = "airflow-nomad==0.2.1"
