"""Dispatch input rules, with the exact messages a DAG author reads."""

from __future__ import annotations

import pytest

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad.dispatch_input import (
    MAX_PAYLOAD_BYTES,
    check_against_parent,
    encode_payload,
    normalize_meta,
)


def parent(payload: str = "optional", required=(), optional=(), **fields) -> dict:
    job = {
        "ID": "settle",
        "Stop": False,
        "ParameterizedJob": {
            "Payload": payload,
            "MetaRequired": list(required) or None,
            "MetaOptional": list(optional) or None,
        },
    }
    job.update(fields)
    return job


def message(excinfo: pytest.ExceptionInfo) -> str:
    return str(excinfo.value)


# -- normalize_meta --


def test_meta_strings_pass_and_none_is_empty():
    assert normalize_meta({"business_date": "2026-05-04"}) == {"business_date": "2026-05-04"}
    assert normalize_meta(None) == {}


def test_meta_values_must_be_strings():
    with pytest.raises(NomadInvalidInputError) as info:
        normalize_meta({"dry_run": True, "batch_size": 500, "ok": "x"})
    assert message(info) == (
        "dispatch meta values must be strings (Nomad meta is string to string); not strings: "
        "'batch_size' (int), 'dry_run' (bool). Convert them where the meta is built, "
        'e.g. {"dry_run": "true", "batch_size": "500"}'
    )


def test_meta_keys_must_be_strings():
    with pytest.raises(NomadInvalidInputError) as info:
        normalize_meta({1: "a", "": "b"})
    assert message(info) == "dispatch meta keys must be non-empty strings; these are not: '', 1"


def test_meta_must_be_a_mapping():
    with pytest.raises(NomadInvalidInputError, match="dispatch meta must be a dict of strings"):
        normalize_meta(["a"])  # type: ignore[arg-type]


# -- encode_payload --


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (None, None),
        ("caf\u00e9", "caf\u00e9".encode()),
        (b"\x00\x01", b"\x00\x01"),
        (bytearray(b"ab"), b"ab"),
        ({"accounts": [1, 2], "name": "\u00e9"}, '{"accounts":[1,2],"name":"\u00e9"}'.encode()),
        ([1, "a"], b'[1,"a"]'),
    ],
)
def test_encode_payload(payload, expected):
    assert encode_payload(payload) == expected


def test_encode_payload_rejects_other_types():
    with pytest.raises(NomadInvalidInputError) as info:
        encode_payload(42)
    assert message(info) == "dispatch payload must be str, bytes, dict or list, got int"
    with pytest.raises(NomadInvalidInputError, match="could not be encoded as JSON"):
        encode_payload({"when": object()})


# -- check_against_parent --


def test_valid_dispatch_passes():
    job = parent("required", required=["business_date"], optional=["dry_run"])
    check_against_parent(job, {"business_date": "2026-05-04", "dry_run": "true"}, b"x")


def test_not_parameterized():
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent({"ID": "settle", "ParameterizedJob": None}, {}, None)
    assert message(info) == (
        "Cannot dispatch Nomad job 'settle': it is not a parameterized job. Add a "
        "`parameterized` block to its jobspec, or run it with NomadRegisterJobOperator."
    )


def test_dispatched_child_is_not_a_parent():
    child = parent(ID="settle/dispatch-1-ab", Dispatched=True, ParentID="settle")
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(child, {}, None)
    assert message(info) == (
        "Cannot dispatch Nomad job 'settle/dispatch-1-ab': it is itself a dispatched job; "
        "dispatch the parameterized job 'settle' instead."
    )


def test_stopped_parent():
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(parent(Stop=True), {}, None)
    assert message(info) == (
        "Cannot dispatch Nomad job 'settle': it is stopped. Register (run) the parameterized "
        "job again, then retry."
    )


def test_missing_required_meta_sorted():
    job = parent(required=["z_key", "business_date", "account_range"])
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(job, {"business_date": "d"}, None)
    assert message(info) == (
        "Cannot dispatch Nomad job 'settle': required meta keys missing: "
        "['account_range', 'z_key']; pass them in meta."
    )


def test_unknown_meta_sorted_with_allowed_keys():
    job = parent(required=["business_date"], optional=["dry_run"])
    meta = {"business_date": "d", "zeta": "1", "alpha": "2"}
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(job, meta, None)
    assert message(info) == (
        "Cannot dispatch Nomad job 'settle': meta keys not allowed by the job: "
        "['alpha', 'zeta'] (allowed: ['business_date', 'dry_run']); remove them, or add them "
        "to meta_required/meta_optional in its parameterized block."
    )


def test_meta_on_a_job_that_allows_none():
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(parent(), {"a": "1"}, None)
    assert "meta keys not allowed by the job: ['a'] (allowed: none)" in message(info)


def test_payload_required():
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(parent("required"), {}, None)
    assert message(info) == (
        "Cannot dispatch Nomad job 'settle': the job requires a payload "
        '(payload = "required"); pass payload.'
    )
    # Nomad treats an empty payload as none.
    with pytest.raises(NomadInvalidInputError, match="requires a payload"):
        check_against_parent(parent("required"), {}, b"")


def test_payload_forbidden():
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(parent("forbidden"), {}, b"x")
    assert message(info) == (
        "Cannot dispatch Nomad job 'settle': the job forbids a payload "
        '(payload = "forbidden"); drop payload or pass the values as meta.'
    )
    check_against_parent(parent("forbidden"), {}, None)


def test_payload_size_limit_is_inclusive():
    check_against_parent(parent(), {}, b"x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(parent(), {}, b"x" * (MAX_PAYLOAD_BYTES + 1))
    assert message(info) == (
        "Cannot dispatch Nomad job 'settle': the payload is 16385 bytes, over Nomad's limit "
        "of 16384; pass a reference to the data (e.g. an object-store path) instead of the data."
    )


def test_all_problems_in_one_message():
    job = parent("forbidden", required=["b"])
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(job, {"x": "1"}, b"p")
    text = message(info)
    assert "required meta keys missing: ['b']" in text
    assert "meta keys not allowed by the job: ['x']" in text
    assert "the job forbids a payload" in text
