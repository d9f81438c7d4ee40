"""``.`` and ``..`` are refused as IDs and service names (issue #11, finding 7).

URL normalisation drops them as path steps, so ``NomadAllocationSensor(job_id="..")`` read
``/v1/allocations`` and judged every allocation of the namespace. They are refused before any
request, with a message naming the bad value.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from canned_server_testlib import CannedServer, serve, use_connection

from airflow_provider_nomad.consul import requests as consul_api
from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad import requests as nomad_api
from airflow_provider_nomad.sensors.consul import ConsulHealthSensor
from airflow_provider_nomad.sensors.nomad import NomadAllocationSensor

PATH_STEPS = [".", "..", "settle/..", "../settle", "settle/./dispatch-1"]

NOMAD_BUILDERS = {
    "get_job": nomad_api.get_job,
    "stop_job": nomad_api.stop_job,
    "dispatch_job": nomad_api.dispatch_job,
    "get_job_allocations": nomad_api.get_job_allocations,
    "get_job_evaluations": nomad_api.get_job_evaluations,
    "get_evaluation": nomad_api.get_evaluation,
    "get_allocation": nomad_api.get_allocation,
    "read_alloc_file": lambda alloc_id: nomad_api.read_alloc_file(alloc_id, "alloc/out.json"),
    "stream_logs": lambda alloc_id: nomad_api.stream_logs(alloc_id, "main", "stdout"),
}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[CannedServer]:
    """``nomad_default`` and ``consul_default`` pointing at a server that only counts what
    reaches it."""
    with serve() as canned:
        use_connection(monkeypatch, "nomad_default", "nomad", canned.address)
        use_connection(monkeypatch, "consul_default", "consul", canned.address)
        yield canned


@pytest.mark.parametrize("value", PATH_STEPS)
@pytest.mark.parametrize("build", NOMAD_BUILDERS.values(), ids=NOMAD_BUILDERS.keys())
def test_nomad_builders_refuse_path_steps_as_ids(build, value):
    with pytest.raises(ValueError) as raised:
        build(value)
    message = str(raised.value)
    assert repr(value) in message
    assert "path steps" in message


@pytest.mark.parametrize("value", PATH_STEPS)
def test_consul_builders_refuse_path_steps_as_service_names(value):
    for build in (consul_api.health_service, consul_api.catalog_service):
        with pytest.raises(ValueError, match="cannot be a Consul service name"):
            build(value)


def test_ordinary_ids_with_dots_are_kept():
    assert nomad_api.get_job("settle.v2").path == "/v1/job/settle.v2"
    assert nomad_api.get_job("settle/dispatch-..x").path == "/v1/job/settle%2Fdispatch-..x"
    assert consul_api.health_service("ledger.db").path == "/v1/health/service/ledger.db"


@pytest.mark.parametrize("job_id", [".", ".."])
@pytest.mark.parametrize("deferrable", [False, True])
def test_allocation_sensor_refuses_a_path_step_before_any_request(server, job_id, deferrable):
    sensor = NomadAllocationSensor(
        task_id="wait", job_id=job_id, poke_interval=1, timeout=5, deferrable=deferrable
    )
    with pytest.raises(NomadInvalidInputError) as raised:
        sensor.execute({})
    assert f"job_id: {job_id!r} cannot be a Nomad job ID" in str(raised.value)
    assert server.requests() == []


@pytest.mark.parametrize("service", [".", ".."])
@pytest.mark.parametrize("deferrable", [False, True])
def test_consul_sensor_refuses_a_path_step_before_any_request(server, service, deferrable):
    sensor = ConsulHealthSensor(
        task_id="wait", service=service, poke_interval=1, timeout=5, deferrable=deferrable
    )
    with pytest.raises(ValueError) as raised:
        sensor.execute({})
    assert f"{service!r} cannot be a Consul service name" in str(raised.value)
    assert server.requests() == []
