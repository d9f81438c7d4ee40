"""Unmodified python-nomad 2.1.0 against the emulator (or a real Nomad)."""

from __future__ import annotations

from urllib.parse import urlsplit

import nomad
import nomad.api.exceptions as nomad_errors
import pytest
from emulator_testlib import b64, batch_job, sh_task, unique

pytestmark = pytest.mark.real_nomad


@pytest.fixture
def client(nomad_target) -> nomad.Nomad:
    url = urlsplit(nomad_target.addr)
    return nomad.Nomad(host=url.hostname, port=url.port, token=nomad_target.token, timeout=30)


def register_parent(client: nomad.Nomad) -> str:
    job_id = unique("pynomad")
    task = sh_task("work", "echo day=$NOMAD_META_DAY; cat $NOMAD_TASK_DIR/in.txt")
    task["DispatchPayload"] = {"File": "in.txt"}
    body = batch_job(
        job_id,
        [task],
        parameterized={"Payload": "optional", "MetaRequired": ["day"], "MetaOptional": ["dry"]},
    )
    reply = client.job.register_job(job_id, body)
    assert reply["EvalID"] == ""  # a parameterized job is not evaluated
    return job_id


def test_register_dispatch_follow_read_logs_and_deregister(client):
    job_id = register_parent(client)
    assert client.job.get_job(job_id)["ParameterizedJob"]["MetaRequired"] == ["day"]
    reply = client.job.dispatch_job(job_id, meta={"day": "2024-06-30"}, payload=b64("payload!"))
    child = reply["DispatchedJobID"]
    assert child.startswith(f"{job_id}/dispatch-") and reply["EvalID"]

    evaluations = client.job.get_evaluations(child)
    assert [e["ID"] for e in evaluations] == [reply["EvalID"]]
    index = 0
    while True:  # blocking queries through python-nomad's raw request
        response = client.job.request(
            child, "allocations", method="get", params={"index": index, "wait": "5s"}
        )
        allocations = response.json()
        if allocations and allocations[0]["ClientStatus"] in ("complete", "failed"):
            break
        index = int(response.headers["X-Nomad-Index"])
    assert client.job.get_allocations(child)[0]["ID"] == allocations[0]["ID"]
    alloc_id = allocations[0]["ID"]
    assert allocations[0]["ClientStatus"] == "complete"
    assert client.allocation.get_allocation(alloc_id)["JobID"] == child
    logs = client.client.stream_logs.stream(alloc_id, "work", "stdout", plain=True)
    assert logs == "day=2024-06-30\npayload!"
    assert client.evaluation.get_evaluation(reply["EvalID"])["Status"] == "complete"

    client.job.deregister_job(child, purge=True)
    with pytest.raises(nomad_errors.URLNotFoundNomadException):
        client.job.get_job(child)
    client.job.deregister_job(job_id, purge=True)


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"meta": {}}, "Dispatch did not provide required meta keys: [day]"),
        (
            {"meta": {"day": "d", "color": "red"}},
            "Dispatch request included unpermitted metadata keys: [color]",
        ),
        (
            {"meta": {"day": "d"}, "payload": b64(b"x" * 16385)},
            "Payload exceeds maximum size; 16385 > 16384",
        ),
    ],
)
def test_dispatch_errors_arrive_as_exceptions_with_the_response(client, kwargs, text):
    job_id = register_parent(client)
    with pytest.raises(nomad_errors.BaseNomadException) as info:
        client.job.dispatch_job(job_id, **kwargs)
    response = info.value.nomad_resp
    assert (response.status_code, response.text) == (500, text)


def test_dispatch_of_a_missing_parent_and_a_plain_job(client):
    with pytest.raises(nomad_errors.BaseNomadException) as info:
        client.job.dispatch_job(unique("missing"), meta={})
    assert info.value.nomad_resp.text == "parameterized job not found"
    plain = unique("plain")
    client.job.register_job(plain, batch_job(plain, [sh_task("t", "true")]))
    with pytest.raises(nomad_errors.BaseNomadException) as info:
        client.job.dispatch_job(plain)
    assert info.value.nomad_resp.text == f'Specified job "{plain}" is not a parameterized job'


def test_python_nomads_snake_case_token_is_ignored_by_nomad(client):
    job_id = register_parent(client)
    first = client.job.dispatch_job(job_id, meta={"day": "d"}, idempotency_token="k")
    second = client.job.dispatch_job(job_id, meta={"day": "d"}, idempotency_token="k")
    assert first["DispatchedJobID"] != second["DispatchedJobID"]
