"""docker-compose.yml: no Docker engine here, so its wiring is checked by reading it.

The stack must run the very jobspecs and batch programs the emulator demo runs, reach Nomad and
Consul through connections the provider accepts, and register every Consul service the
nightly settlement waits for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import hcl2
import pytest
import yaml
from airflow.dag_processing.dagbag import DagBag
from airflow.models.connection import Connection

from airflow_provider_nomad.connection import (
    consul_settings_from_connection,
    nomad_settings_from_connection,
)
from airflow_provider_nomad.testing.nomad.jobspec import parse_jobspec

ROOT = Path(__file__).resolve().parents[2]
JOBS = ROOT / "example_dags" / "jobs"


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of HCL strings."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [unquote(v) for v in value]
    if isinstance(value, dict):
        return {unquote(k): unquote(v) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def volumes(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (resolved against the repository) of each bind mount."""
    mounts = {}
    for spec in service.get("volumes", []):
        source, target, *_ = spec.split(":")
        mounts[target] = str((ROOT / source).resolve())
    return mounts


def test_three_services_published_on_loopback_only(services: dict[str, Any]) -> None:
    assert set(services) == {"consul", "nomad", "airflow"}
    expected = {"consul": "8500", "nomad": "4646", "airflow": "8080"}
    for name, port in expected.items():
        assert services[name]["ports"] == [f"127.0.0.1:{port}:{port}"]
        if name != "airflow":
            assert services[name]["healthcheck"]["test"][0] == "CMD"


def test_consul_runs_in_dev_mode_with_the_dags_services(services: dict[str, Any]) -> None:
    consul = services["consul"]
    assert consul["image"].startswith("hashicorp/consul:")
    assert consul["command"][:2] == ["agent", "-dev"]
    assert "-client=0.0.0.0" in consul["command"]
    config = volumes(consul)["/consul/config/services.hcl"]
    definitions = unquote(hcl2.loads(Path(config).read_text()))["services"]
    instances: dict[str, int] = {}
    for definition in definitions:
        assert all(check["status"] == "passing" for check in definition["checks"])
        instances[definition["name"]] = instances.get(definition["name"], 0) + 1
    # nightly_settlement's ConsulHealthSensor tasks: service -> min_passing.
    dag = DagBag(dag_folder=str(ROOT / "example_dags")).dags["nightly_settlement"]
    needed = {t.service: t.min_passing for t in dag.tasks if hasattr(t, "min_passing")}
    assert needed and all(instances.get(s, 0) >= n for s, n in needed.items()), instances


def test_nomad_dev_agent_runs_python_tasks_with_raw_exec(services: dict[str, Any]) -> None:
    nomad = services["nomad"]
    context = ROOT / nomad["build"]["context"]
    dockerfile = (context / "Dockerfile").read_text()
    assert "FROM ${NOMAD_IMAGE} AS nomad" in dockerfile and "hashicorp/nomad:" in dockerfile
    assert "FROM python:3" in dockerfile  # python3 for the raw_exec tasks
    assert 'ENTRYPOINT ["nomad", "agent", "-dev"' in dockerfile
    agent = unquote(hcl2.loads((context / "agent.hcl").read_text()))
    assert agent["bind_addr"] == "0.0.0.0"
    (plugin,) = agent["plugin"]
    assert plugin["raw_exec"]["config"][0]["enabled"] is True
    assert nomad["privileged"] is True
    assert nomad["depends_on"]["consul"]["condition"] == "service_healthy"


def test_nomad_mounts_the_jobs_the_demo_runs_where_the_jobspecs_look(
    services: dict[str, Any],
) -> None:
    mounts = volumes(services["nomad"])
    assert mounts["/opt/batch/jobs"] == str(JOBS)
    airflow_env = services["airflow"]["environment"]
    assert airflow_env["AIRFLOW_VAR_NOMAD_BATCH_JOBS_DIR"] == "/opt/batch/jobs"
    for spec in JOBS.glob("*.nomad.hcl"):
        job = parse_jobspec(spec.read_text())
        assert job["Meta"]["jobs_dir"] == "/opt/batch/jobs", spec.name


def test_airflow_mounts_the_example_dags_and_installs_the_provider(
    services: dict[str, Any],
) -> None:
    airflow = services["airflow"]
    assert airflow["command"] == ["standalone"]
    env = airflow["environment"]
    assert volumes(airflow)[env["AIRFLOW__CORE__DAGS_FOLDER"]] == str(ROOT / "example_dags")
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    build = airflow["build"]
    dockerfile = ROOT / build["context"] / build["dockerfile"]
    text = dockerfile.read_text()
    assert "FROM ${AIRFLOW_IMAGE}" in text and "apache/airflow:3." in text
    assert "pip install --no-cache-dir /opt/provider" in text
    ignore = Path(f"{dockerfile}.dockerignore").read_text().splitlines()
    assert "*" in ignore and "!airflow_provider_nomad/" in ignore
    assert {"nomad", "consul"} <= set(airflow["depends_on"])


def test_airflow_connections_point_at_the_stack(services: dict[str, Any]) -> None:
    env = services["airflow"]["environment"]
    nomad = Connection.from_json(env["AIRFLOW_CONN_NOMAD_DEFAULT"], conn_id="nomad_default")
    consul = Connection.from_json(env["AIRFLOW_CONN_CONSUL_DEFAULT"], conn_id="consul_default")
    assert json.loads(env["AIRFLOW_CONN_NOMAD_DEFAULT"])["conn_type"] == "nomad"
    assert json.loads(env["AIRFLOW_CONN_CONSUL_DEFAULT"])["conn_type"] == "consul"
    # The provider turns them into the services' addresses on the compose network.
    assert nomad_settings_from_connection(nomad).base_url == "http://nomad:4646"
    assert consul_settings_from_connection(consul).base_url == "http://consul:8500"
