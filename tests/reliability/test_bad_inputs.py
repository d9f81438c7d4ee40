"""A table of bad inputs, each with the exact error it must give, and nothing dispatched.

Rows cover operator arguments, connection settings, jobspecs, Nomad answers that are malformed
or truncated (the emulator answers ``200`` with the broken body in place of the real handler, so
the request never reaches Nomad's state) and the pure interpreters fed malformed data. For every
row that goes through the operator, the emulator's request counters prove that no dispatch was
sent and the parents have no new child.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from nomad_testlib import batch_job

from airflow_provider_nomad.exceptions import (
    NomadApiError,
    NomadConnectionError,
    NomadInvalidInputError,
    NomadLogStreamError,
)
from airflow_provider_nomad.nomad.logs import FrameDecoder
from airflow_provider_nomad.nomad.outcome import assess, task_outcome
from airflow_provider_nomad.nomad.states import UnknownStatusError
from airflow_provider_nomad.operators.nomad import (
    NomadDispatchJobOperator,
    NomadRegisterJobOperator,
)

DISPATCH_ROUTE = "POST /v1/job/:job_id/dispatch"
REGISTER_ROUTE = "POST /v1/jobs"
PARENTS = ("settle", "no-payload", "needs-payload", "plain", "stopped", "fanout")
MOCK = {"driver": "mock_driver", "config": {"run_for": "10ms"}}


@dataclass
class FakeTaskInstance:
    """What the operator reads of its task instance before and while dispatching."""

    dag_id: str = "bad_inputs"
    task_id: str = "settle"
    run_id: str = "manual__2026-11-24"
    map_index: int = -1
    try_number: int = 1

    def xcom_push(self, key: str, value: Any) -> None:
        raise AssertionError(f"nothing may be pushed for bad input (got {key}={value!r})")


@dataclass
class Cluster:
    control: Any
    client: Any
    addr: str
    child: str
    children_before: dict[str, list[str]]

    def assert_nothing_dispatched(self, *, dispatch_answered_by_fault: bool = False) -> None:
        """No dispatch request reached Nomad and no parent has a new child."""
        sent = self.control.request_counts().get(DISPATCH_ROUTE, 0)
        assert sent == (1 if dispatch_answered_by_fault else 0)
        assert {p: children(self.client, p) for p in PARENTS} == self.children_before


@pytest.fixture
def cluster(nomad_conn, nomad_client) -> Cluster:
    """Parents of every kind, one dispatched child, then request counters reset."""
    jobs = [
        batch_job("settle", "", meta_required=("business_date",), meta_optional=("desk",), **MOCK),
        batch_job("no-payload", "", payload="forbidden", **MOCK),
        batch_job("needs-payload", "", payload="required", **MOCK),
        batch_job("plain", "", parameterized=False, **MOCK),
        batch_job("stopped", "", **MOCK),
        fanout_job(),
    ]
    for job in jobs:
        nomad_client.jobs.register_job({"Job": job})
    nomad_client.job.deregister_job("stopped")
    child = nomad_client.job.dispatch_job("settle", meta={"business_date": "2026-11-24"})
    before = {p: children(nomad_client, p) for p in PARENTS}
    nomad_conn.control.reset_counts()
    return Cluster(
        nomad_conn.control, nomad_client, nomad_conn.nomad_addr, child["DispatchedJobID"], before
    )


def fanout_job() -> dict:
    """A parameterized job whose one group runs three allocations."""
    job = batch_job("fanout", "", **MOCK)
    job["TaskGroups"][0]["Count"] = 3
    return job


def children(client, parent: str) -> list[str]:
    return sorted(j["ID"] for j in client.jobs.get_jobs(prefix=f"{parent}/dispatch-"))


def run_dispatch(**kwargs: Any) -> None:
    kwargs.setdefault("job_id", "settle")
    operator = NomadDispatchJobOperator(task_id="settle", **kwargs)
    operator.execute({"ti": FakeTaskInstance()})


GOOD_META = {"business_date": "2026-11-24"}

OPERATOR_CASES = [
    pytest.param(
        {"job_id": ""},
        "job_id must be the ID of a parameterized Nomad job, got ''.",
        id="empty-job-id",
    ),
    pytest.param(
        {"job_id": "   "},
        "job_id must be the ID of a parameterized Nomad job, got '   '.",
        id="blank-job-id",
    ),
    pytest.param(
        {"job_id": None},
        "job_id must be the ID of a parameterized Nomad job, got None.",
        id="none-job-id",
    ),
    pytest.param(
        {"job_id": "no-such-batch", "meta": GOOD_META},
        "Nomad has no job 'no-such-batch' in namespace 'default'. Register the parameterized "
        "job first",
        id="unknown-parent",
    ),
    pytest.param(
        {"meta": GOOD_META, "namespace": "treasury"},
        "Nomad has no job 'settle' in namespace 'treasury'.",
        id="parent-in-other-namespace",
    ),
    pytest.param(
        {"meta": ["business_date"]},
        "dispatch meta must be a dict of strings, got list",
        id="meta-not-a-dict",
    ),
    pytest.param(
        {"meta": {"business_date": 20261124}},
        "not strings: 'business_date' (int)",
        id="meta-int-value",
    ),
    pytest.param(
        {"meta": {"business_date": "2026-11-24", "desk": True}},
        "not strings: 'desk' (bool)",
        id="meta-bool-value",
    ),
    pytest.param(
        {"meta": {"business_date": None}},
        "not strings: 'business_date' (NoneType)",
        id="meta-none-value",
    ),
    pytest.param(
        {"meta": {"": "x", "business_date": "2026-11-24"}},
        "dispatch meta keys must be non-empty strings; these are not: ''",
        id="meta-empty-key",
    ),
    pytest.param(
        {"meta": {7: "x", "business_date": "2026-11-24"}},
        "dispatch meta keys must be non-empty strings; these are not: 7",
        id="meta-int-key",
    ),
    pytest.param(
        {"meta": {}},
        "Cannot dispatch Nomad job 'settle': required meta keys missing: ['business_date']; "
        "pass them in meta.",
        id="meta-required-missing",
    ),
    pytest.param(
        {"meta": {"business_date": "2026-11-24", "book": "fx", "amount": "1"}},
        "meta keys not allowed by the job: ['amount', 'book'] (allowed: ['business_date', 'desk'])",
        id="meta-unknown-keys",
    ),
    pytest.param(
        {"meta": {"book": "fx"}},
        "required meta keys missing: ['business_date']; pass them in meta; meta keys not "
        "allowed by the job: ['book']",
        id="meta-missing-and-unknown",
    ),
    pytest.param(
        {"meta": GOOD_META, "payload": "x" * 16385},
        "the payload is 16385 bytes, over Nomad's limit of 16384",
        id="payload-str-too-big",
    ),
    pytest.param(
        {"meta": GOOD_META, "payload": {"accounts": ["A" * 10] * 1600}},
        "bytes, over Nomad's limit of 16384",
        id="payload-json-too-big",
    ),
    pytest.param(
        {"meta": GOOD_META, "payload": {"accounts": {1, 2}}},
        "dispatch payload could not be encoded as JSON: Object of type set is not JSON "
        "serializable",
        id="payload-not-json",
    ),
    pytest.param(
        {"meta": GOOD_META, "payload": 12345},
        "dispatch payload must be str, bytes, dict or list, got int",
        id="payload-int",
    ),
    pytest.param(
        {"meta": GOOD_META, "payload": {"x": float("nan")}},
        "dispatch payload is not valid JSON: payload['x'] is nan, and JSON has no NaN or "
        "Infinity. Send None (null) or a string such as 'NaN' instead.",
        id="payload-nan",
    ),
    pytest.param(
        {"meta": GOOD_META, "payload": {"limits": {"fx": float("inf")}}},
        "dispatch payload is not valid JSON: payload['limits']['fx'] is inf",
        id="payload-infinity",
    ),
    pytest.param(
        {"meta": GOOD_META, "payload": {1: "first", "1": "second"}},
        "dispatch payload is not valid JSON: the keys 1, '1' of payload all become the JSON "
        "key '1', and a JSON object holds each key once. Give each a distinct string key.",
        id="payload-duplicate-keys",
    ),
    pytest.param(
        {"meta": GOOD_META, "payload": "accounts=\ud800"},
        "dispatch payload is not valid UTF-8 text: it holds a lone surrogate '\\ud800' at index 9.",
        id="payload-str-surrogate",
    ),
    pytest.param(
        {"meta": GOOD_META, "payload": {"accounts": ["A1", "B\ud800"]}},
        "dispatch payload is not valid JSON: payload['accounts'][1] holds a lone surrogate "
        "'\\ud800' at index 1.",
        id="payload-dict-surrogate",
    ),
    pytest.param(
        {"meta": {"business_date": "2026-11-24", "desk": "fx\ud800"}},
        "dispatch meta is not valid UTF-8 text: meta['desk'] holds a lone surrogate '\\ud800' "
        "at index 2.",
        id="meta-surrogate",
    ),
    pytest.param(
        {"meta": {"business_date": "2026-11-24", "desk": "x" * (50 * 1024 * 1024)}},
        "dispatch meta is 52428827 bytes (keys and values, UTF-8), over the limit of 65536 "
        "(each value reaches the task as an environment variable); the largest entry is "
        "'desk' (52428804 bytes).",
        id="meta-50-mb",
    ),
    pytest.param(
        {"meta": GOOD_META, "result_file": "../x"},
        "result_file '../x' climbs out with '..'. Give a relative path inside the allocation "
        "directory, such as 'alloc/result.json' (written to $NOMAD_ALLOC_DIR/result.json) or "
        "'<task>/local/out.json' (written to $NOMAD_TASK_DIR/out.json).",
        id="result-file-parent-dir",
    ),
    pytest.param(
        {"meta": GOOD_META, "result_file": ""},
        "result_file '' is empty. Give a relative path inside the allocation directory",
        id="result-file-empty",
    ),
    pytest.param(
        {"meta": GOOD_META, "result_file": "/alloc/result.json"},
        "result_file '/alloc/result.json' is absolute; it is read relative to the allocation "
        "directory.",
        id="result-file-absolute",
    ),
    pytest.param(
        {"meta": GOOD_META, "result_file": "alloc/result.json\x00.txt"},
        "result_file 'alloc/result.json\\x00.txt' holds the control character '\\x00'.",
        id="result-file-nul",
    ),
    pytest.param(
        {"meta": GOOD_META, "result_file": "alloc\\..\\..\\etc\\passwd"},
        "holds a backslash; separate directories with '/'.",
        id="result-file-backslash",
    ),
    pytest.param(
        {"meta": GOOD_META, "result_file": "main/secrets/vault_token"},
        "result_file 'main/secrets/vault_token' is in the task's 'secrets' directory, which "
        "Nomad never serves.",
        id="result-file-secrets",
    ),
    pytest.param(
        {"meta": GOOD_META, "result_file": "result.json"},
        "result_file 'result.json' is not inside a directory of the allocation ('alloc' or a "
        "task's).",
        id="result-file-top-level",
    ),
    pytest.param(
        {"meta": GOOD_META, "result_file": "settle/local/out.json"},
        "Cannot dispatch Nomad job 'settle': result_file 'settle/local/out.json' is neither in "
        "'alloc/' nor in the directory of one of the job's tasks ('main'); write e.g. "
        "'alloc/out.json'.",
        id="result-file-unknown-task",
    ),
    pytest.param(
        {"job_id": "fanout", "result_file": "alloc/result.json"},
        "Cannot dispatch Nomad job 'fanout': result_file 'alloc/result.json' is read from one "
        "allocation, but task group 'batch' runs 3 of them (count = 3); give that group "
        "count = 1, or have one task of a group of its own write the result.",
        id="result-file-of-three-allocations",
    ),
    pytest.param(
        {"meta": GOOD_META, "result_file": 20261124},
        "result_file must be a path (str), got int: 20261124.",
        id="result-file-int",
    ),
    pytest.param(
        {"job_id": "no-payload", "payload": "x"},
        'the job forbids a payload (payload = "forbidden")',
        id="payload-forbidden",
    ),
    pytest.param(
        {"job_id": "needs-payload"},
        'the job requires a payload (payload = "required"); pass payload',
        id="payload-required-missing",
    ),
    pytest.param(
        {"job_id": "needs-payload", "payload": b""},
        'the job requires a payload (payload = "required"); pass payload',
        id="payload-required-empty",
    ),
    pytest.param(
        {"job_id": "plain"},
        "Cannot dispatch Nomad job 'plain': it is not a parameterized job.",
        id="parent-not-parameterized",
    ),
    pytest.param(
        {"job_id": "stopped"},
        "Cannot dispatch Nomad job 'stopped': it is stopped.",
        id="parent-stopped",
    ),
]


@pytest.mark.parametrize(("kwargs", "fragment"), OPERATOR_CASES)
def test_bad_operator_argument(cluster, kwargs, fragment):
    with pytest.raises(NomadInvalidInputError) as caught:
        run_dispatch(**kwargs)
    assert fragment in str(caught.value)
    cluster.assert_nothing_dispatched()


def test_dispatching_a_dispatched_child_names_its_parent(cluster):
    with pytest.raises(NomadInvalidInputError) as caught:
        run_dispatch(job_id=cluster.child, meta=GOOD_META)
    assert (
        f"Cannot dispatch Nomad job {cluster.child!r}: it is itself a dispatched job; "
        "dispatch the parameterized job 'settle' instead."
    ) == str(caught.value)
    cluster.assert_nothing_dispatched()


# -- connection settings ------------------------------------------------------------------------

SECRET = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
CONN_CASES = [
    pytest.param({"schema": "ftp"}, "schema must be 'http' or 'https', got 'ftp'", id="schema"),
    pytest.param(
        {"host": "ftp://127.0.0.1"},
        "host scheme must be http or https, got 'ftp'",
        id="host-scheme",
    ),
    pytest.param(
        {"host": "https://127.0.0.1", "schema": "http"},
        "host says 'https' but schema says 'http': make them agree, or leave schema empty",
        id="scheme-mismatch",
    ),
    pytest.param(
        {"host": "http://127.0.0.1:4646", "port": 4647},
        "host says port 4646 but the port field says 4647: keep one",
        id="port-mismatch",
    ),
    pytest.param({"port": 70000}, "port must be between 1 and 65535, got 70000", id="port-range"),
    pytest.param(
        {"host": f"http://ops:{SECRET}@127.0.0.1"},
        "host must be an address like https://nomad.internal (put the token in the password "
        "field, options in the extras)",
        id="credentials-in-host",
    ),
    pytest.param(
        {"extra": {"namespce": "treasury"}},
        "unknown extra field(s) ['namespce']; accepted: ['ca_cert', 'client_cert', "
        "'client_key', 'client_private_key', 'namespace', 'region', 'tls_server_name', "
        "'tls_skip_verify']",
        id="extra-misspelt",
    ),
    pytest.param(
        {"extra": {"namespace": 7}},
        "extra 'namespace' must be a string, got int",
        id="extra-namespace-int",
    ),
    pytest.param(
        {"extra": {"tls_skip_verify": "maybe"}},
        "extra 'tls_skip_verify' must be true or false, got 'maybe'",
        id="extra-skip-verify",
    ),
    pytest.param(
        {"host": "https://127.0.0.1", "extra": {"ca_cert": "/nonexistent/ca.pem"}},
        "extra 'ca_cert': no file at '/nonexistent/ca.pem'; give the path of a readable PEM file",
        id="ca-cert-missing-file",
    ),
    pytest.param(
        {
            "host": "https://127.0.0.1",
            "extra": {"client_private_key": "-----BEGIN PRIVATE KEY-----\nMIIE"},
        },
        "extra 'client_private_key' looks like PEM text but has no -----END line",
        id="client-key-truncated-pem",
    ),
    pytest.param(
        {
            "host": "https://127.0.0.1",
            "extra": {
                "client_cert": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
            },
        },
        "client_cert is set but client_key is not: mutual TLS needs both",
        id="client-cert-without-key",
    ),
    pytest.param(
        {"host": "https://127.0.0.1", "extra": {"client_key": "-----BEGIN PRIVATE KEY-----\nMIIE"}},
        "extra 'client_key' holds the key itself, and Airflow shows an extra of that name in clear",
        id="client-key-inline-pem",
    ),
    pytest.param(
        {"extra": {"tls_server_name": "server.global.nomad"}},
        "the TLS extras (ca_cert, client_cert, client_key/client_private_key, tls_server_name, "
        "tls_skip_verify) are set but the address says http: the token would travel in clear",
        id="tls-extras-over-http",
    ),
]


@pytest.mark.parametrize(("fields", "fragment"), CONN_CASES)
def test_bad_connection_setting(cluster, monkeypatch, fields, fragment):
    conn = {"conn_type": "nomad", "host": cluster.addr, "password": SECRET, **fields}
    monkeypatch.setenv("AIRFLOW_CONN_NOMAD_DEFAULT", json.dumps(conn))
    with pytest.raises(NomadConnectionError) as caught:
        run_dispatch(meta=GOOD_META)
    text = str(caught.value)
    assert text.startswith("Airflow connection 'nomad_default' (Nomad): ")
    assert fragment in text
    assert SECRET not in text and SECRET not in repr(caught.value)
    assert cluster.control.total_requests() == 0
    cluster.assert_nothing_dispatched()


# -- jobspecs -----------------------------------------------------------------------------------

BAD_HCL = 'job "eod" {\n  type = "batch"\n  group "g" {\n'


@pytest.mark.parametrize(
    ("job", "error", "fragment"),
    [
        pytest.param(
            "   ",
            NomadInvalidInputError,
            "job must be a dict, HCL text or the path of a jobspec file, got str.",
            id="blank",
        ),
        pytest.param(
            42,
            NomadInvalidInputError,
            "job must be a dict, HCL text or the path of a jobspec file, got int.",
            id="int",
        ),
        pytest.param(
            "jobs/missing-eod.nomad",
            NomadInvalidInputError,
            "Jobspec file 'jobs/missing-eod.nomad' does not exist.",
            id="missing-file",
        ),
        pytest.param(
            '{"ID": "eod", "Type": ',
            NomadInvalidInputError,
            "job is not valid JSON: Expecting value: line 1 column 23 (char 22)",
            id="truncated-json",
        ),
        pytest.param(
            BAD_HCL,
            NomadApiError,
            "Nomad POST /v1/jobs/parse failed with HTTP 400: Failed to parse job",
            id="unterminated-hcl",
        ),
    ],
)
def test_bad_jobspec(cluster, job, error, fragment):
    with pytest.raises(error) as caught:
        NomadRegisterJobOperator(task_id="register", job=job).execute({})
    assert fragment in str(caught.value)
    assert cluster.control.request_counts().get(REGISTER_ROUTE, 0) == 0


def test_bad_jobspec_json_file(cluster, tmp_path):
    path = tmp_path / "eod.json"
    path.write_text('{"Job": {"ID": "eod",')
    with pytest.raises(NomadInvalidInputError) as caught:
        NomadRegisterJobOperator(task_id="register", job=str(path)).execute({})
    assert f"{path} is not valid JSON: Expecting property name enclosed in double quotes" in str(
        caught.value
    )
    assert cluster.control.request_counts().get(REGISTER_ROUTE, 0) == 0


# -- Nomad answers that are malformed or truncated ----------------------------------------------


@pytest.mark.parametrize(
    ("route", "body", "fragment"),
    [
        pytest.param(
            "GET /v1/job/:job_id",
            "<html><body>502 Bad Gateway</body></html>",
            "Nomad GET /v1/job/settle failed with HTTP 200: expected JSON from Nomad at {addr}, "
            "got: <html><body>502 Bad Gateway</body></html>",
            id="parent-html",
        ),
        pytest.param(
            "GET /v1/job/:job_id",
            '{"ID": "settle", "ParameterizedJob": {"Payload": "opt',
            'expected JSON from Nomad at {addr}, got: {"ID": "settle", "ParameterizedJob"',
            id="parent-truncated",
        ),
        pytest.param(
            "GET /v1/job/:job_id",
            "",
            "expected JSON from Nomad at {addr}, got: (empty body)",
            id="parent-empty",
        ),
        pytest.param(
            "GET /v1/job/:job_id",
            "null",
            "Nomad GET /v1/job/settle failed with HTTP 200",
            id="parent-null",
        ),
        pytest.param(
            "GET /v1/jobs",
            '[{"ID": "settle/dispatch-af-',
            "Nomad GET /v1/jobs failed with HTTP 200: expected JSON from Nomad at {addr}, "
            'got: [{"ID"',
            id="children-truncated",
        ),
        pytest.param(
            DISPATCH_ROUTE,
            '{"EvalID": "", "Index": 12}',
            "Nomad POST /v1/job/settle/dispatch failed with HTTP 200",
            id="dispatch-answer-without-job-id",
        ),
        pytest.param(
            DISPATCH_ROUTE,
            '{"DispatchedJobID": "settle/dispatch-af-',
            "Nomad POST /v1/job/settle/dispatch failed with HTTP 200: expected JSON from Nomad",
            id="dispatch-answer-truncated",
        ),
    ],
)
def test_malformed_answer(cluster, route, body, fragment):
    cluster.control.inject_fault(route, status=200, body=body, count=None)
    with pytest.raises(NomadApiError) as caught:
        run_dispatch(meta=GOOD_META)
    cluster.control.clear_faults()
    assert fragment.replace("{addr}", cluster.addr) in str(caught.value)
    cluster.assert_nothing_dispatched(dispatch_answered_by_fault=route == DISPATCH_ROUTE)


# -- pure interpreters fed malformed data --------------------------------------------------------


def _alloc(**fields: Any) -> dict[str, Any]:
    return {"ID": "a1b2c3d4-0000", "CreateIndex": 5, "TaskStates": {}, **fields}


def _decode(*chunks: bytes) -> None:
    decoder = FrameDecoder()
    for chunk in chunks:
        decoder.feed(chunk)
    decoder.close()


INTERPRETER_CASES = [
    pytest.param(
        lambda: assess("j", [_alloc(ClientStatus="evacuated")], {}),
        UnknownStatusError,
        "Nomad reported an unknown allocation client status 'evacuated'",
        id="alloc-status-unknown",
    ),
    pytest.param(
        lambda: assess("j", [_alloc()], {}),
        UnknownStatusError,
        "Nomad reported an unknown allocation client status None",
        id="alloc-status-missing",
    ),
    pytest.param(
        lambda: assess("j", [], {"e1": {"ID": "e1", "Status": "exploded"}}, dispatch_eval_id="e1"),
        UnknownStatusError,
        "Nomad reported an unknown evaluation status 'exploded'",
        id="eval-status-unknown",
    ),
    pytest.param(
        lambda: task_outcome("a1", "main", {"State": "zombie"}),
        UnknownStatusError,
        "Nomad reported an unknown task status 'zombie'",
        id="task-state-unknown",
    ),
    pytest.param(
        lambda: _decode(b'{"Offset": 0, "Data": "aGVsbG8K"}<html>'),
        NomadLogStreamError,
        "log stream is not framed JSON: unexpected '<html>' between frames",
        id="frames-then-html",
    ),
    pytest.param(
        lambda: _decode(b'{"Offset": 0, "Data": "not base64!!", "File": "alloc/logs/t.stdout.0"}'),
        NomadLogStreamError,
        "corrupt log frame: Data is not base64",
        id="frame-data-not-base64",
    ),
    pytest.param(
        lambda: _decode(b'{"Offset": 0, "Data": "aGVsbG8K", "File": "alloc/lo'),
        NomadLogStreamError,
        "log stream ended inside a frame",
        id="frame-truncated",
    ),
    pytest.param(
        lambda: _decode(b'{"Offset": 0, "Data": "\xff\xfe"}'),
        NomadLogStreamError,
        "log stream is not UTF-8 JSON",
        id="frame-not-utf8",
    ),
    pytest.param(
        lambda: _decode(b'{"Offset": 0, "Data": "' + b"A" * (1024 * 1024 + 8)),
        NomadLogStreamError,
        "log frame larger than 1048576 characters: the stream is corrupt",
        id="frame-unbounded",
    ),
    pytest.param(
        lambda: _decode(b'{"Offset": 0, "Data": "aGVsbG8K", "File": }'),
        NomadLogStreamError,
        "corrupt log frame: Expecting value",
        id="frame-invalid-json",
    ),
]


@pytest.mark.parametrize(("call", "error", "fragment"), INTERPRETER_CASES)
def test_malformed_data_for_the_interpreters(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value)
