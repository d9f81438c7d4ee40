"""Request builders: paths, query parameters and bodies both hooks send."""

from __future__ import annotations

import base64

import pytest

from airflow_provider_nomad.nomad import requests as api
from airflow_provider_nomad.nomad.requests import ApiRequest


def test_dispatch_sends_token_as_query_parameter_and_payload_base64():
    req = api.dispatch_job(
        "settle",
        meta={"business_date": "2026-05-04"},
        payload=b'{"accounts":[1,2]}',
        id_prefix_template="af-1a2b3c4d",
        idempotency_token="af-1a2b3c4d-try1",
        namespace="batch",
        region="eu",
    )
    assert req == ApiRequest(
        method="POST",
        path="/v1/job/settle/dispatch",
        params={"namespace": "batch", "region": "eu", "idempotency_token": "af-1a2b3c4d-try1"},
        json={
            "Meta": {"business_date": "2026-05-04"},
            "Payload": base64.b64encode(b'{"accounts":[1,2]}').decode(),
            "IdPrefixTemplate": "af-1a2b3c4d",
        },
        idempotent=True,
        answer=dict,
        answer_keys=("DispatchedJobID",),
    )
    # Nomad ignores a body key for the token: it must not be relied on.
    assert "IdempotencyToken" not in req.json and "idempotency_token" not in req.json


def test_dispatch_without_token_is_not_idempotent_and_has_minimal_body():
    req = api.dispatch_job("settle", meta={}, payload=None)
    assert req.json == {"Meta": {}}
    assert req.params == {}
    assert req.idempotent is False


def test_ids_are_escaped_as_one_path_segment():
    child = "settle/dispatch-af-1a2b-1714780800-0a1b2c3d"
    assert api.get_job(child).path == "/v1/job/settle%2Fdispatch-af-1a2b-1714780800-0a1b2c3d"
    assert api.get_job_allocations(child).path.endswith(
        "%2Fdispatch-af-1a2b-1714780800-0a1b2c3d/allocations"
    )
    assert api.stop_job("a b?c").path == "/v1/job/a%20b%3Fc"
    with pytest.raises(ValueError, match="must not be empty"):
        api.get_job("")


def test_namespace_on_evaluation_endpoints():
    # python-nomad leaves the namespace off /v1/evaluation: the builders never do.
    assert api.get_evaluation("e1", namespace="batch").params == {"namespace": "batch"}


@pytest.mark.parametrize(
    ("wait", "text"),
    [(30, "30s"), (300, "300s"), (1.5, "1500ms"), (0.0004, "1ms"), (900, "300s")],
)
def test_format_wait(wait, text):
    assert api.format_wait(wait) == text


def test_blocking_reads_carry_index_and_wait():
    req = api.get_job_allocations("j", index=42, wait=120, namespace="default")
    assert req.params == {"namespace": "default", "index": "42", "wait": "120s"}
    assert req.wait == 120
    assert api.get_allocation("a", wait=10).params == {"index": "0", "wait": "10s"}
    assert api.get_job_evaluations("j", index=5).params == {"index": "5"}
    assert api.get_evaluation("e").params == {}
    assert api.get_evaluation("e", wait=1000).wait == 300  # Nomad's cap
    with pytest.raises(ValueError):
        api.get_evaluation("e", index=-1, wait=1)


def test_blocking_read_timeout_covers_nomads_jitter():
    assert api.blocking_read_timeout(160, 10) == 160 + 10 + 10
    assert api.blocking_read_timeout(1000, 5) == 300 + 300 / 16 + 5


def test_stream_logs_params():
    req = api.stream_logs("a1", "batch", "stderr", offset=1234, follow=True, namespace="ns")
    assert req.path == "/v1/client/fs/logs/a1"
    assert req.stream is True
    assert req.params == {
        "namespace": "ns",
        "task": "batch",
        "type": "stderr",
        "origin": "start",
        "offset": "1234",
        "follow": "true",
        "plain": "false",
    }
    with pytest.raises(ValueError, match="stdout"):
        api.stream_logs("a1", "batch", "stdlog", offset=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="offset"):
        api.stream_logs("a1", "batch", "stdout", offset=-1)


def test_other_builders():
    assert api.list_jobs("settle/dispatch-af-1", namespace="n").params == {
        "namespace": "n",
        "prefix": "settle/dispatch-af-1",
    }
    parse = api.parse_jobspec('job "x" {}')
    assert (parse.method, parse.path, parse.json) == (
        "POST",
        "/v1/jobs/parse",
        {"JobHCL": 'job "x" {}', "Canonicalize": True},
    )
    register = api.register_job({"ID": "x"}, namespace="n")
    assert (register.path, register.json, register.params) == (
        "/v1/jobs",
        {"Job": {"ID": "x"}},
        {"namespace": "n"},
    )
    assert api.stop_job("x", purge=True).params == {"purge": "true"}
    assert api.stop_job("x").params == {"purge": "false"}
    cat = api.read_alloc_file("a1", "alloc/data/result.json")
    assert (cat.path, cat.params) == ("/v1/client/fs/cat/a1", {"path": "alloc/data/result.json"})


def test_description_has_no_query():
    req = api.dispatch_job("p", meta={}, idempotency_token="secret-ish")
    assert req.description == "POST /v1/job/p/dispatch"


def test_job_ui_url():
    assert (
        api.job_ui_url("https://nomad.internal:4646/", "settle/dispatch-af-1", "batch")
        == "https://nomad.internal:4646/ui/jobs/settle%2Fdispatch-af-1@batch"
    )
    assert api.job_ui_url("http://h:4646", "x", None) == "http://h:4646/ui/jobs/x@default"
