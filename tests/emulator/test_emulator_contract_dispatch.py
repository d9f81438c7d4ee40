"""Contract: dispatching parameterized jobs, idempotency, and every validation error."""

from __future__ import annotations

import base64
import re

import pytest
from emulator_testlib import b64, batch_job, sh_task, unique

from airflow_provider_nomad.nomad import snappy

pytestmark = pytest.mark.real_nomad

PLAIN = "text/plain; charset=utf-8"


def parent(api, payload: str = "optional", required=(), optional=(), meta=None) -> str:
    job_id = unique("batch")
    parameterized = {
        "Payload": payload,
        "MetaRequired": list(required) or None,
        "MetaOptional": list(optional) or None,
    }
    task = sh_task("work", "cat $NOMAD_TASK_DIR/input.json; echo $NOMAD_META_DAY")
    task["DispatchPayload"] = {"File": "input.json"}
    api.register(batch_job(job_id, [task], parameterized=parameterized, meta=meta))
    return job_id


def assert_error(response, status: int, text: str) -> None:
    assert (response.status_code, response.text) == (status, text)
    assert response.headers["Content-Type"] == PLAIN


def test_dispatch_creates_a_child_with_merged_meta_and_payload(api):
    job_id = parent(api, required=["day"], optional=["dry"], meta={"team": "ops", "day": "x"})
    response = api.dispatch(job_id, {"Meta": {"day": "2024-01-02"}, "Payload": b64('{"a":1}')})
    assert response.status_code == 200
    reply = response.json()
    assert set(reply) == {"DispatchedJobID", "EvalID", "EvalCreateIndex", "JobCreateIndex", "Index"}
    assert re.fullmatch(
        rf"{re.escape(job_id)}/dispatch-\d+-[0-9a-f]{{8}}", reply["DispatchedJobID"]
    )
    assert reply["EvalID"] and reply["EvalCreateIndex"] == reply["Index"] > reply["JobCreateIndex"]
    assert response.headers["X-Nomad-Index"] == str(reply["Index"])
    child = api.get(f"/v1/job/{reply['DispatchedJobID']}").json()
    assert child["ParentID"] == job_id and child["Dispatched"] is True
    assert child["Meta"] == {"team": "ops", "day": "2024-01-02"}
    # Stored and served snappy-compressed, as Nomad's dispatch does (snappy.Encode).
    assert snappy.decompress(base64.b64decode(child["Payload"])) == b'{"a":1}'
    assert child["Status"] in ("pending", "running", "dead")


def test_id_prefix_template_goes_into_the_child_id(api):
    job_id = parent(api)
    reply = api.dispatch(job_id, {"IdPrefixTemplate": "af-k1"}).json()
    assert re.fullmatch(
        rf"{re.escape(job_id)}/dispatch-af-k1-\d+-[0-9a-f]{{8}}", reply["DispatchedJobID"]
    )
    listed = api.get("/v1/jobs", params={"prefix": f"{job_id}/dispatch-af-k1"}).json()
    assert [j["ID"] for j in listed] == [reply["DispatchedJobID"]]


def test_idempotency_token_as_query_parameter_returns_the_same_child(api):
    job_id = parent(api)
    first = api.dispatch(job_id, {}, idempotency_token="run-1").json()
    again = api.dispatch(job_id, {}, idempotency_token="run-1")
    reply = again.json()
    assert again.status_code == 200
    assert reply["DispatchedJobID"] == first["DispatchedJobID"]
    assert reply["EvalID"] == "" and reply["EvalCreateIndex"] == 0
    assert reply["JobCreateIndex"] == first["JobCreateIndex"]
    children = api.get("/v1/jobs", params={"prefix": f"{job_id}/dispatch"}).json()
    assert len(children) == 1


def test_idempotency_token_in_the_body_works_too_but_not_in_snake_case(api):
    job_id = parent(api)
    first = api.dispatch(job_id, {"IdempotencyToken": "tok"}).json()
    second = api.dispatch(job_id, {"IdempotencyToken": "tok"}).json()
    assert second["DispatchedJobID"] == first["DispatchedJobID"]
    snake = api.dispatch(job_id, {"idempotency_token": "tok"}).json()
    assert snake["DispatchedJobID"] != first["DispatchedJobID"]


def test_idempotency_holds_for_a_dead_child(api):
    job_id = parent(api)
    first = api.dispatch(job_id, {}, idempotency_token="done").json()
    api.wait_dead(first["DispatchedJobID"])
    again = api.dispatch(job_id, {}, idempotency_token="done").json()
    assert again["DispatchedJobID"] == first["DispatchedJobID"] and again["EvalID"] == ""


def test_dispatch_of_missing_parent(api):
    assert_error(api.dispatch(unique("nope"), {}), 500, "parameterized job not found")


def test_dispatch_of_parent_in_another_namespace_is_not_found(api, nomad_target):
    nomad_target.control.create_namespace("other")
    job_id = unique("elsewhere")
    task = sh_task("t", "true")
    body = batch_job(job_id, [task], parameterized={"Payload": "optional"})
    api.register(body, namespace="other")
    assert_error(api.dispatch(job_id, {}), 500, "parameterized job not found")
    assert api.dispatch(job_id, {}, namespace="other").status_code == 200


def test_dispatch_of_a_plain_job(api):
    job_id = unique("plain")
    api.register(batch_job(job_id, [sh_task("t", "true")]))
    assert_error(
        api.dispatch(job_id, {}), 500, f'Specified job "{job_id}" is not a parameterized job'
    )


def test_dispatch_of_a_stopped_parent(api):
    job_id = parent(api)
    api.delete(f"/v1/job/{job_id}")
    assert_error(api.dispatch(job_id, {}), 500, f'Specified job "{job_id}" is stopped')


def test_payload_required(api):
    job_id = parent(api, payload="required")
    assert_error(
        api.dispatch(job_id, {}), 500, "Payload is not provided but required by parameterized job"
    )


def test_payload_forbidden(api):
    job_id = parent(api, payload="forbidden")
    assert_error(
        api.dispatch(job_id, {"Payload": b64("x")}),
        500,
        "Payload provided but forbidden by parameterized job",
    )


def test_payload_too_large(api):
    job_id = parent(api)
    assert api.dispatch(job_id, {"Payload": b64(b"x" * 16384)}).status_code == 200
    assert_error(
        api.dispatch(job_id, {"Payload": b64(b"x" * 16385)}),
        500,
        "Payload exceeds maximum size; 16385 > 16384",
    )


def test_unpermitted_meta(api):
    job_id = parent(api, optional=["dry"])
    assert_error(
        api.dispatch(job_id, {"Meta": {"color": "red"}}),
        500,
        "Dispatch request included unpermitted metadata keys: [color]",
    )
    response = api.dispatch(job_id, {"Meta": {"a": "1", "b": "2"}})
    assert response.status_code == 500
    prefix = "Dispatch request included unpermitted metadata keys: "
    assert response.text in (prefix + "[a b]", prefix + "[b a]")


def test_missing_required_meta(api):
    job_id = parent(api, required=["day"])
    assert_error(
        api.dispatch(job_id, {"Meta": {}}),
        500,
        "Dispatch did not provide required meta keys: [day]",
    )


def test_empty_body_and_job_id_mismatch(api):
    job_id = parent(api)
    assert_error(api.post(f"/v1/job/{job_id}/dispatch"), 400, "Request body is empty")
    assert_error(api.dispatch(job_id, {"JobID": "other"}), 400, "Job ID does not match")


def test_dispatch_needs_put_or_post(api):
    job_id = parent(api)
    assert_error(api.get(f"/v1/job/{job_id}/dispatch"), 405, "Invalid method")


def test_bad_meta_and_payload_types_are_json_errors(api):
    job_id = parent(api)
    response = api.dispatch(job_id, {"Meta": {"day": 1}})
    assert response.status_code == 400
    assert response.text.startswith("json: cannot unmarshal number into Go struct field")
    response = api.dispatch(job_id, {"Payload": "not base64!"})
    assert response.status_code == 400
    assert response.text.startswith("illegal base64 data at input byte")
