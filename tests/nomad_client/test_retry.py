"""The shared retry policy: what is retried, how often, and what it logs."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_nomad.exceptions import (
    NomadConnectionError,
    NomadInvalidInputError,
    NomadTlsError,
    NomadUnreachableError,
    error_for_response,
)
from airflow_provider_nomad.retry import RetryPolicy, is_retryable

FAST = RetryPolicy(max_attempts=4, max_delay=30, initial_wait=0.001, max_wait=0.002)
DISPATCH = "/v1/job/settle/dispatch"


@pytest.mark.parametrize(
    ("error", "idempotent", "retry"),
    [
        (error_for_response(500, "No cluster leader", "GET", "/v1/x"), True, True),
        (error_for_response(503, "", "GET", "/v1/x"), True, True),
        (error_for_response(502, "", "POST", DISPATCH), False, False),  # may have been applied
        (error_for_response(500, "No cluster leader", "POST", DISPATCH), False, True),
        (NomadUnreachableError("dropped", request_sent=True), True, True),
        (NomadUnreachableError("dropped", request_sent=True), False, False),
        (NomadUnreachableError("refused", request_sent=False), False, True),
        (error_for_response(400, "Invalid index", "GET", "/v1/x"), True, False),
        (error_for_response(404, "job not found", "GET", "/v1/x"), True, False),
        (error_for_response(403, "Permission denied", "GET", "/v1/x"), True, False),
        (error_for_response(500, "Permission denied", "GET", "/v1/x"), True, False),
        (error_for_response(500, "Payload provided but forbidden", "POST", DISPATCH), True, False),
        (error_for_response(500, "Missing job datacenters", "POST", "/v1/jobs"), True, False),
        (NomadTlsError("untrusted"), True, False),
        (NomadConnectionError("bad port"), True, False),
        (NomadInvalidInputError("meta"), True, False),
        (ValueError("x"), True, False),
    ],
)
def test_what_is_retried(error, idempotent, retry):
    assert is_retryable(error, idempotent=idempotent) is retry


def _flaky(failures: list[BaseException]):
    calls = []

    def call():
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return call, calls


def test_transient_failures_are_retried_with_one_warning_each(caplog):
    call, calls = _flaky(
        [
            error_for_response(500, "No cluster leader", "GET", "/v1/job/x"),
            NomadUnreachableError("Connection to Nomad at http://h:4646 dropped"),
        ]
    )
    log = logging.getLogger("test.retry")
    with caplog.at_level(logging.WARNING, logger="test.retry"):
        for attempt in FAST.sync("GET /v1/job/x", log=log):
            with attempt:
                result = call()
    assert result == "ok"
    assert len(calls) == 3
    warnings = [r.getMessage() for r in caplog.records if r.name == "test.retry"]
    assert len(warnings) == 2
    assert warnings[0].startswith(
        "Nomad GET /v1/job/x failed (Nomad GET /v1/job/x failed with HTTP 500: No cluster "
        "leader); retrying in "
    )
    assert warnings[0].endswith("(attempt 2 of 4)")
    assert "dropped" in warnings[1] and warnings[1].endswith("(attempt 3 of 4)")


def test_attempts_are_bounded_and_the_typed_error_surfaces():
    errors = [error_for_response(503, "", "GET", "/v1/x") for _ in range(10)]
    call, calls = _flaky(errors)
    with pytest.raises(type(errors[0])) as info:
        for attempt in FAST.sync("GET /v1/x"):
            with attempt:
                call()
    assert len(calls) == 4
    assert info.value.status == 503


def test_non_retryable_fails_at_once():
    call, calls = _flaky([error_for_response(403, "Permission denied", "POST", DISPATCH)])
    with pytest.raises(Exception, match="Permission denied"):
        for attempt in FAST.sync("POST /v1/job/settle/dispatch"):
            with attempt:
                call()
    assert len(calls) == 1


def test_time_budget_stops_retries():
    policy = RetryPolicy(max_attempts=100, max_delay=0.0, initial_wait=0.001, max_wait=0.001)
    call, calls = _flaky([NomadUnreachableError("x") for _ in range(100)])
    with pytest.raises(NomadUnreachableError):
        for attempt in policy.sync("GET /v1/x"):
            with attempt:
                call()
    assert len(calls) == 1


async def test_async_policy_retries_alike():
    call, calls = _flaky([error_for_response(500, "No cluster leader", "GET", "/v1/x")])
    async for attempt in FAST.asynchronous("GET /v1/x"):
        with attempt:
            result = call()
    assert (result, len(calls)) == ("ok", 2)


def test_not_idempotent_request_is_not_resent_after_a_drop():
    call, calls = _flaky([NomadUnreachableError("dropped", request_sent=True)])
    with pytest.raises(NomadUnreachableError):
        for attempt in FAST.sync("POST /v1/job/p/dispatch", idempotent=False):
            with attempt:
                call()
    assert len(calls) == 1
