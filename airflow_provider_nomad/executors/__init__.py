"""Run Airflow's own task workloads as Nomad dispatched jobs (:class:`NomadExecutor`)."""
