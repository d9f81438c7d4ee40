"""The real Airflow deployment of the tests lives in the package, so the benchmarks use it too."""

from airflow_provider_nomad.testing.airflow_deployment import (  # noqa: F401
    COMPONENTS,
    HANG_BOUND,
    POLL,
    Deployment,
    DeploymentError,
    free_port,
)


def register_on_fresh_emulator(emulator, job: dict) -> None:
    """Reset the emulator (no job, no fault left by an earlier test) and register ``job``."""
    import httpx

    emulator.control.reset()
    with httpx.Client(base_url=emulator.nomad_addr, timeout=30) as nomad:
        nomad.post("/v1/jobs", json={"Job": job}).raise_for_status()


def deployment_for(pristine_db, home, emulator, dag_files: dict, env: dict | None = None):
    """A :class:`Deployment` whose ``nomad_default`` is ``emulator``, with ``dag_files``
    (file name to source) in its DAG folder; use it as a context manager."""
    import json
    import textwrap

    conn = json.dumps({"conn_type": "nomad", "host": emulator.nomad_addr})
    dep = Deployment(home, pristine_db, env={"AIRFLOW_CONN_NOMAD_DEFAULT": conn, **(env or {})})
    for name, source in dag_files.items():
        (dep.dags / name).write_text(textwrap.dedent(source))
    return dep
