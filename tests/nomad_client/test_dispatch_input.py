"""Dispatch input rules, with the exact messages a DAG author reads."""

from __future__ import annotations

import pytest

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad.dispatch_input import (
    MAX_META_BYTES,
    MAX_PAYLOAD_BYTES,
    check_against_parent,
    check_result_file,
    encode_payload,
    normalize_meta,
)

SURROGATE_CAUSE = (
    "Such text usually comes from bytes decoded with errors='surrogateescape' or from a "
    "broken \\u escape: fix it where it is built (decode its source as UTF-8)."
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


def test_meta_with_a_lone_surrogate_is_refused_by_name():
    with pytest.raises(NomadInvalidInputError) as info:
        normalize_meta({"business_date": "2026-11-24", "desk": "fx\ud800"})
    assert message(info) == (
        "dispatch meta is not valid UTF-8 text: meta['desk'] holds a lone surrogate "
        f"'\\ud800' at index 2. {SURROGATE_CAUSE}"
    )
    with pytest.raises(NomadInvalidInputError) as info:
        normalize_meta({"d\udfffesk": "fx"})
    assert "meta key 'd\\udfffesk' holds a lone surrogate '\\udfff' at index 1" in message(info)


def test_meta_size_bound_counts_keys_and_values_in_utf8():
    # 64 KiB exactly passes; one byte more (here: one two-byte character instead of one
    # ASCII one) does not.
    key = "accounts"
    at_limit = {key: "a" * (MAX_META_BYTES - len(key))}
    assert normalize_meta(at_limit) == at_limit
    over = {key: "\u00e9" + "a" * (MAX_META_BYTES - len(key) - 1)}
    with pytest.raises(NomadInvalidInputError) as info:
        normalize_meta(over)
    assert message(info) == (
        "dispatch meta is 65537 bytes (keys and values, UTF-8), over the limit of 65536 "
        "(each value reaches the task as an environment variable); the largest entry is "
        "'accounts' (65537 bytes). Meta is for small parameters: pass data as the payload "
        "(up to 16 KiB) or pass a reference to it (e.g. an object-store path)."
    )


def test_a_50_mb_meta_value_is_refused_and_named():
    meta = {"business_date": "2026-11-24", "ledger": "x" * (50 * 1024 * 1024)}
    with pytest.raises(NomadInvalidInputError) as info:
        normalize_meta(meta)
    assert f"dispatch meta is {50 * 1024 * 1024 + 6 + 13 + 10} bytes" in message(info)
    assert "the largest entry is 'ledger' (52428806 bytes)" in message(info)


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


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        pytest.param(
            {"x": float("nan")},
            "payload['x'] is nan, and JSON has no NaN or Infinity. Send None (null) or a "
            "string such as 'NaN' instead.",
            id="nan",
        ),
        pytest.param(
            {"limits": [1.0, float("inf")]},
            "payload['limits'][1] is inf, and JSON has no NaN or Infinity.",
            id="infinity-in-list",
        ),
        pytest.param(
            [{"x": -float("inf")}],
            "payload[0]['x'] is -inf,",
            id="minus-infinity",
        ),
        pytest.param(
            {1: "a", "1": "b"},
            "the keys 1, '1' of payload all become the JSON key '1', and a JSON object holds "
            "each key once. Give each a distinct string key.",
            id="int-and-str-key",
        ),
        pytest.param(
            {"desks": {True: "fx", "true": "rates"}},
            "the keys True, 'true' of payload['desks'] all become the JSON key 'true'",
            id="bool-and-str-key",
        ),
        pytest.param(
            {None: 1, "null": 2},
            "the keys None, 'null' of payload all become the JSON key 'null'",
            id="none-and-str-key",
        ),
        pytest.param(
            {float("nan"): 1},
            "the key nan of payload is not a number JSON can write; use a string key.",
            id="nan-key",
        ),
        pytest.param(
            {"name": "caf\udce9"},
            f"payload['name'] holds a lone surrogate '\\udce9' at index 3. {SURROGATE_CAUSE}",
            id="surrogate-value",
        ),
        pytest.param(
            {"accounts": [{"caf\ud800": 1}]},
            "the key 'caf\\ud800' of payload['accounts'][0] holds a lone surrogate '\\ud800' "
            "at index 3.",
            id="surrogate-key",
        ),
    ],
)
def test_payload_that_would_not_be_valid_utf8_json_is_refused(payload, problem):
    with pytest.raises(NomadInvalidInputError) as info:
        encode_payload(payload)
    assert message(info).startswith("dispatch payload is not valid JSON: ")
    assert problem in message(info)


def test_str_payload_with_a_lone_surrogate_is_refused():
    with pytest.raises(NomadInvalidInputError) as info:
        encode_payload("accounts=\ud800")
    assert message(info) == (
        "dispatch payload is not valid UTF-8 text: it holds a lone surrogate '\\ud800' at "
        f"index 9. {SURROGATE_CAUSE} Or pass the payload as bytes."
    )


def test_payload_with_distinct_keys_and_finite_floats_still_encodes():
    assert (
        encode_payload({1: "a", "2": 1.5, "t": (True, None)})
        == b'{"1":"a","2":1.5,"t":[true,null]}'
    )


def test_payload_that_contains_itself_is_refused():
    loop: list = []
    loop.append(loop)
    with pytest.raises(NomadInvalidInputError, match="Circular reference detected"):
        encode_payload(loop)


# -- check_result_file --

RESULT_FILE_FIX = (
    "Give a relative path inside the allocation directory, such as 'alloc/result.json' "
    "(written to $NOMAD_ALLOC_DIR/result.json) or '<task>/local/out.json' (written to "
    "$NOMAD_TASK_DIR/out.json)."
)


@pytest.mark.parametrize("path", [None, "alloc/result.json", "main/local/out.json", "alloc/data/r"])
def test_result_file_accepted(path):
    assert check_result_file(path) == path


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("", "is empty"),
        ("  ", "is empty"),
        ("../x", "climbs out with '..'"),
        ("alloc/../../etc/passwd", "climbs out with '..'"),
        ("/alloc/result.json", "is absolute; it is read relative to the allocation directory"),
        ("/etc/passwd", "is absolute; it is read relative to the allocation directory"),
        ("alloc/result.json\x00.txt", "holds the control character '\\x00'"),
        ("alloc/\nresult.json", "holds the control character '\\n'"),
        ("alloc\\..\\..\\x", "holds a backslash; separate directories with '/'"),
        ("alloc/\udc80.json", "holds a lone surrogate '\\udc80' at index 6"),
        ("alloc//result.json", "has an empty or '.' part"),
        ("./alloc/result.json", "has an empty or '.' part"),
        ("alloc/", "has an empty or '.' part"),
        ("result.json", "is not inside a directory of the allocation ('alloc' or a task's)"),
        ("main/secrets/token", "is in the task's 'secrets' directory, which Nomad never serves"),
        ("main/SECRETS/token", "is in the task's 'SECRETS' directory, which Nomad never serves"),
        ("main/private/x", "is in the task's 'private' directory, which Nomad never serves"),
    ],
)
def test_result_file_refused(path, problem):
    with pytest.raises(NomadInvalidInputError) as info:
        check_result_file(path)
    assert message(info) == f"result_file {path!r} {problem}. {RESULT_FILE_FIX}"


def test_result_file_must_be_a_str():
    with pytest.raises(NomadInvalidInputError) as info:
        check_result_file(42)
    assert message(info) == f"result_file must be a path (str), got int: 42. {RESULT_FILE_FIX}"


def test_result_file_must_be_in_alloc_or_a_task_directory_of_the_parent():
    job = parent(TaskGroups=[{"Name": "g", "Tasks": [{"Name": "main"}, {"Name": "ship"}]}])
    check_against_parent(job, {}, None, "alloc/result.json")
    check_against_parent(job, {}, None, "ship/local/out.json")
    with pytest.raises(NomadInvalidInputError) as info:
        check_against_parent(job, {}, None, "mian/local/out.json")
    assert message(info) == (
        "Cannot dispatch Nomad job 'settle': result_file 'mian/local/out.json' is neither in "
        "'alloc/' nor in the directory of one of the job's tasks ('main', 'ship'); write e.g. "
        "'alloc/out.json'."
    )


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
