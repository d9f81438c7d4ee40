"""The one mapping from Nomad's HTTP answers to typed errors, and the errors' own behaviour."""

from __future__ import annotations

import pickle

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_nomad.exceptions import (
    NomadApiError,
    NomadDispatchValidationError,
    NomadInvalidInputError,
    NomadJobFailedError,
    NomadNotFoundError,
    NomadPermissionError,
    NomadPlacementError,
    NomadProviderError,
    NomadTransientError,
    NomadUnreachableError,
    error_for_response,
)

DISPATCH = "/v1/job/settle/dispatch"

# Nomad's dispatch validation texts (nomad/job_endpoint.go), all sent as HTTP 500.
DISPATCH_VALIDATION_TEXTS = [
    "parameterized job not found",
    'Specified job "settle" is not a parameterized job',
    'Specified job "settle" is stopped',
    "Payload is not provided but required by parameterized job",
    "Payload provided but forbidden by parameterized job",
    "Payload exceeds maximum size; 20000 > 16384",
    "Dispatch request included unpermitted metadata keys: [b a]",
    "Dispatch did not provide required meta keys: [business_date]",
]


@pytest.mark.parametrize("text", DISPATCH_VALIDATION_TEXTS)
def test_dispatch_validation_500s_are_their_own_class(text):
    error = error_for_response(500, text, "post", DISPATCH)
    assert type(error) is NomadDispatchValidationError
    assert (error.status, error.message, error.method, error.path) == (500, text, "POST", DISPATCH)
    assert str(error).startswith(f"Nomad POST {DISPATCH} failed with HTTP 500: {text}. ")


@pytest.mark.parametrize(
    ("status", "text", "cls"),
    [
        (404, "job not found", NomadNotFoundError),
        (404, 'Unknown allocation "abc"', NomadNotFoundError),
        (403, "Permission denied", NomadPermissionError),
        (403, "ACL token not found", NomadPermissionError),
        (500, "Permission denied", NomadPermissionError),  # relayed by a forwarding server
        (500, "No cluster leader", NomadTransientError),
        (500, "rpc error: No cluster leader", NomadTransientError),
        (502, "Bad Gateway", NomadTransientError),
        (503, "", NomadTransientError),
        (504, "Gateway Timeout", NomadTransientError),
        (429, "rate limit exceeded", NomadTransientError),
        (400, "Invalid wait time", NomadApiError),
        (400, "Request body is empty", NomadApiError),
        (500, "1 error occurred:\n\t* Missing job datacenters", NomadApiError),
    ],
)
def test_status_and_text_pick_the_class(status, text, cls):
    assert type(error_for_response(status, text, "GET", "/v1/job/x")) is cls


def test_permission_error_explains_capability_and_namespace():
    error = error_for_response(403, "Permission denied", "POST", DISPATCH, namespace="batch")
    assert str(error) == (
        f"Nomad POST {DISPATCH} failed with HTTP 403: Permission denied. The connection's ACL "
        "token needs the 'dispatch-job' capability in namespace 'batch': grant it in the "
        "token's policy, use a token that has it (check that the token in the connection's "
        "password field exists and has not expired), or point the connection (or the "
        "operator's namespace argument) at the namespace the job lives in"
    )


@pytest.mark.parametrize(
    ("method", "path", "capability"),
    [
        ("GET", "/v1/client/fs/logs/a1", "read-logs"),
        ("GET", "/v1/client/fs/cat/a1", "read-fs"),
        ("POST", "/v1/jobs", "submit-job"),
        ("DELETE", "/v1/job/x", "submit-job"),
        ("POST", "/v1/jobs/parse", "parse-job"),
        ("GET", "/v1/jobs", "list-jobs"),
        ("GET", "/v1/evaluation/e1", "read-job"),
    ],
)
def test_permission_hint_names_the_capability_of_the_route(method, path, capability):
    assert f"{capability!r} capability" in str(error_for_response(403, "", method, path))


def test_unknown_token_hint():
    error = error_for_response(403, "ACL token not found", "GET", "/v1/jobs")
    assert "Nomad does not know the ACL token of the Airflow connection" in str(error)


def test_empty_and_huge_bodies_are_trimmed():
    assert error_for_response(500, "  ", "GET", "/v1/x").message == "(empty response body)"
    assert len(error_for_response(500, "x" * 10_000, "GET", "/v1/x").message) == 2003


def test_hierarchy_is_airflow_exceptions():
    error = error_for_response(500, "No cluster leader", "GET", "/v1/x")
    assert isinstance(error, NomadApiError)
    assert isinstance(error, NomadProviderError)
    assert isinstance(error, AirflowException)
    assert issubclass(NomadPlacementError, NomadJobFailedError)


@pytest.mark.parametrize(
    "error",
    [
        error_for_response(403, "Permission denied", "POST", DISPATCH, namespace="ns"),
        error_for_response(500, "No cluster leader", "GET", "/v1/job/x/allocations"),
        NomadUnreachableError("Cannot reach Nomad at http://h:4646", request_sent=False),
        NomadPlacementError("no node has the cpu", job_id="p/dispatch-1", exit_code=None),
        NomadJobFailedError("exit 3", job_id="j", alloc_id="a", exit_code=3, oom=True),
    ],
)
def test_errors_survive_pickling(error):
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert vars(clone) == vars(error)


@pytest.mark.parametrize(
    "error",
    [
        error_for_response(404, "eval not found", "GET", "/v1/evaluation/e"),
        error_for_response(403, "Permission denied", "POST", DISPATCH, namespace="ns"),
        NomadUnreachableError("Cannot reach Nomad at http://h:4646", request_sent=False),
        NomadJobFailedError("exit 3", job_id="j", alloc_id="a", exit_code=3, oom=True),
        NomadInvalidInputError("bad meta"),
    ],
)
def test_airflow_serializer_round_trip(error):
    from airflow.serialization.serialized_objects import BaseSerialization

    clone = BaseSerialization.deserialize(BaseSerialization.serialize(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert vars(clone) == vars(error)


def test_job_failed_fields():
    error = NomadJobFailedError(
        "task batch exited with code 3",
        job_id="settle/dispatch-af-1",
        alloc_id="a1",
        task="batch",
        exit_code=3,
        signal=None,
        oom=False,
        stderr_tail="boom",
        ui_url="http://h/ui/jobs/x@default",
    )
    assert str(error) == "task batch exited with code 3"
    assert (error.exit_code, error.stderr_tail, error.ui_url) == (
        3,
        "boom",
        "http://h/ui/jobs/x@default",
    )
