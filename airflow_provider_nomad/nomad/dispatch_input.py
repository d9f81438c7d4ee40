"""Checks of dispatch meta, payload and result file before anything is sent (pure: no I/O).

Nomad rejects bad dispatch input with terse HTTP 500 texts whose key lists come in random
order. Checking the input against the parent job first gives the DAG author one clear message
naming the job, the keys (sorted) and the fix, and nothing is dispatched. The rules mirror
``validateDispatchRequest`` in Nomad's ``nomad/job_endpoint.go``.

Some input Nomad would take, or Python would fail on half-way, is refused here too, because it
only goes wrong after the batch ran or mid-request: a payload that is not valid JSON (NaN, keys
that collide once made strings), text that UTF-8 cannot encode (lone surrogates), meta too big
to reach the task's environment, and a result file Nomad's fs API would never serve.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from airflow_provider_nomad.exceptions import NomadInvalidInputError
from airflow_provider_nomad.nomad.result_location import SHARED_ALLOC_DIR, result_file_problem

__all__ = [
    "MAX_META_BYTES",
    "MAX_PAYLOAD_BYTES",
    "check_against_parent",
    "check_result_file",
    "encode_payload",
    "normalize_meta",
]

#: Nomad's DispatchPayloadSizeLimit.
MAX_PAYLOAD_BYTES = 16 * 1024

#: This provider's bound on dispatch meta: keys and values together, in UTF-8 bytes. Nomad has
#: no per-value limit, but every pair is stored in the child job (replicated through Raft,
#: returned by every read of the job) and reaches the task twice as environment variables
#: (``NOMAD_META_<key>`` as given and upper-cased). Linux refuses to start a process with one
#: environment string over 128 KiB (``MAX_ARG_STRLEN``), so Nomad would accept a bigger value
#: and the task would then fail to start, after dispatch. 64 KiB keeps every variable under
#: that with room for the rest of the environment; it is four times Nomad's own bound on the
#: payload, which is the channel meant for data.
MAX_META_BYTES = 64 * 1024

#: A task directory's parts that Nomad's fs API refuses to read ("Reading secret file
#: prohibited", client/allocdir/alloc_dir.go). Nomad compares by case-insensitive string
#: prefix, so ``main/secrets-x`` is refused there, and here too.
_UNREADABLE_TASK_PARTS = ("secrets", "private")

_RESULT_FILE_FIX = (
    "Give a relative path inside the allocation directory, such as 'alloc/result.json' "
    "(written to $NOMAD_ALLOC_DIR/result.json) or '<task>/local/out.json' (written to "
    "$NOMAD_TASK_DIR/out.json)."
)

PAYLOAD_OPTIONAL = "optional"
PAYLOAD_REQUIRED = "required"
PAYLOAD_FORBIDDEN = "forbidden"


def normalize_meta(meta: Mapping[str, Any] | None) -> dict[str, str]:
    """Validate dispatch meta: a mapping of string keys to string values.

    Nomad's meta is ``map[string]string``; converting other types silently would hide a bug
    (``True`` becoming ``"True"`` where the batch expects ``"true"``), so they are refused.

    :param meta: the operator's ``meta`` argument (``None`` for none).
    """
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise NomadInvalidInputError(
            f"dispatch meta must be a dict of strings, got {type(meta).__name__}: "
            'pass e.g. meta={"business_date": "{{ ds }}"}'
        )
    bad_keys = sorted(repr(k) for k in meta if not isinstance(k, str) or not k)
    if bad_keys:
        raise NomadInvalidInputError(
            f"dispatch meta keys must be non-empty strings; these are not: {', '.join(bad_keys)}"
        )
    not_str = sorted(k for k, v in meta.items() if not isinstance(v, str))
    if not_str:
        described = ", ".join(f"{k!r} ({type(meta[k]).__name__})" for k in not_str)
        raise NomadInvalidInputError(
            f"dispatch meta values must be strings (Nomad meta is string to string); "
            f"not strings: {described}. Convert them where the meta is built, "
            'e.g. {"dry_run": "true", "batch_size": "500"}'
        )
    for key, value in meta.items():
        for where, text in ((f"meta key {key!r}", key), (f"meta[{key!r}]", value)):
            if (surrogate := _lone_surrogate(text)) is not None:
                raise NomadInvalidInputError(
                    f"dispatch meta is not valid UTF-8 text: {where} holds {surrogate}. "
                    f"{_SURROGATE_CAUSE}"
                )
    _check_meta_size(meta)
    return dict(meta)


def _check_meta_size(meta: Mapping[str, str]) -> None:
    sizes = {key: len(key.encode()) + len(value.encode()) for key, value in meta.items()}
    total = sum(sizes.values())
    if total > MAX_META_BYTES:
        largest = max(sizes, key=sizes.__getitem__)
        raise NomadInvalidInputError(
            f"dispatch meta is {total} bytes (keys and values, UTF-8), over the limit of "
            f"{MAX_META_BYTES} (each value reaches the task as an environment variable); the "
            f"largest entry is {largest!r} ({sizes[largest]} bytes). Meta is for small "
            "parameters: pass data as the payload (up to 16 KiB) or pass a reference to it "
            "(e.g. an object-store path)."
        )


_SURROGATE_CAUSE = (
    "Such text usually comes from bytes decoded with errors='surrogateescape' or from a "
    "broken \\u escape: fix it where it is built (decode its source as UTF-8)."
)


def _lone_surrogate(text: str) -> str | None:
    """Describe the first character of ``text`` that UTF-8 cannot encode (a lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate {text[exc.start]!r} at index {exc.start}"
    return None


def encode_payload(payload: Any) -> bytes | None:
    """The payload's bytes: ``str`` as UTF-8, ``bytes`` as is, ``dict``/``list`` as compact JSON.

    :param payload: the operator's ``payload`` argument; ``None`` stays ``None``.
    """
    if payload is None:
        return None
    if isinstance(payload, str):
        if (surrogate := _lone_surrogate(payload)) is not None:
            raise NomadInvalidInputError(
                f"dispatch payload is not valid UTF-8 text: it holds {surrogate}. "
                f"{_SURROGATE_CAUSE} Or pass the payload as bytes."
            )
        return payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, (dict, list)):
        try:
            problem = _json_problem(payload, "payload", set())
            if problem is None:
                text = json.dumps(
                    payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False
                )
        except (TypeError, ValueError, RecursionError) as exc:
            raise NomadInvalidInputError(
                f"dispatch payload could not be encoded as JSON: {exc}. Use only JSON types "
                "(str, int, float, bool, None, list, dict) or pass a str/bytes payload"
            ) from None
        if problem is not None:
            raise NomadInvalidInputError(f"dispatch payload is not valid JSON: {problem}")
        return text.encode("utf-8")
    raise NomadInvalidInputError(
        f"dispatch payload must be str, bytes, dict or list, got {type(payload).__name__}"
    )


def _json_problem(value: Any, where: str, ancestors: set[int]) -> str | None:
    """The first thing in ``value`` that would not make valid UTF-8 JSON, and the fix.

    ``json.dumps`` writes ``NaN``/``Infinity`` (not JSON), makes the keys ``1`` and ``"1"`` the
    same key twice, and keeps lone surrogates that UTF-8 cannot encode. Types it cannot encode
    at all, and cycles, are left to its own errors.

    :param where: how the DAG author would write the path to ``value``, e.g. ``payload['x']``.
    :param ancestors: ``id()`` of the containers above ``value``, so a cycle ends the walk.
    """
    if isinstance(value, str):
        surrogate = _lone_surrogate(value)
        return f"{where} holds {surrogate}. {_SURROGATE_CAUSE}" if surrogate else None
    if isinstance(value, float) and not math.isfinite(value):
        return (
            f"{where} is {value!r}, and JSON has no NaN or Infinity. Send None (null) or a "
            "string such as 'NaN' instead."
        )
    if not isinstance(value, (dict, list, tuple)) or id(value) in ancestors:
        return None
    ancestors.add(id(value))
    try:
        if isinstance(value, dict):
            if problem := _key_problem(value, where):
                return problem
            items = [(f"{where}[{key!r}]", item) for key, item in value.items()]
        else:
            items = [(f"{where}[{index}]", item) for index, item in enumerate(value)]
        for item_where, item in items:
            if problem := _json_problem(item, item_where, ancestors):
                return problem
        return None
    finally:
        ancestors.discard(id(value))


def _key_problem(mapping: dict[Any, Any], where: str) -> str | None:
    """Keys of ``mapping`` that UTF-8 JSON cannot carry, or that collide once made strings."""
    by_json_key: dict[str, list[Any]] = {}
    for key in mapping:
        if isinstance(key, str):
            if surrogate := _lone_surrogate(key):
                return f"the key {key!r} of {where} holds {surrogate}. {_SURROGATE_CAUSE}"
            by_json_key.setdefault(key, []).append(key)
        elif isinstance(key, float) and not math.isfinite(key):
            return f"the key {key!r} of {where} is not a number JSON can write; use a string key."
        elif key is None or isinstance(key, (int, float)):
            # json.dumps makes such keys strings: True -> "true", 1 -> "1", None -> "null".
            by_json_key.setdefault(json.dumps(key), []).append(key)
    for json_key, keys in by_json_key.items():
        if len(keys) > 1:
            return (
                f"the keys {', '.join(map(repr, keys))} of {where} all become the JSON key "
                f"{json_key!r}, and a JSON object holds each key once. Give each a distinct "
                "string key."
            )
    return None


def check_result_file(result_file: Any) -> str | None:
    """Validate ``result_file``: a relative path of a file inside the allocation directory.

    It must be refused before dispatch: Nomad's fs API refuses an escaping path, or serves
    another file than the author meant, only when the result is read, after the batch ran.

    :param result_file: the operator's ``result_file`` argument, rendered; ``None`` for none.
    :returns: the path, or ``None``.
    """
    if result_file is None:
        return None
    if not isinstance(result_file, str):
        raise NomadInvalidInputError(
            f"result_file must be a path (str), got {type(result_file).__name__}: "
            f"{result_file!r}. {_RESULT_FILE_FIX}"
        )
    problem = _result_file_problem(result_file)
    if problem:
        raise NomadInvalidInputError(f"result_file {result_file!r} {problem}. {_RESULT_FILE_FIX}")
    return result_file


def _result_file_problem(path: str) -> str | None:
    if not path.strip():
        return "is empty"
    if surrogate := _lone_surrogate(path):
        return f"holds {surrogate}"
    if control := next((c for c in path if ord(c) < 0x20 or ord(c) == 0x7F), None):
        return f"holds the control character {control!r}"
    if "\\" in path:
        return "holds a backslash; separate directories with '/'"
    if path.startswith("/"):
        return "is absolute; it is read relative to the allocation directory"
    parts = path.split("/")
    if ".." in parts:
        return "climbs out with '..'"
    if "" in parts or "." in parts:
        return "has an empty or '.' part"
    if len(parts) < 2:
        return "is not inside a directory of the allocation ('alloc' or a task's)"
    if parts[0] != SHARED_ALLOC_DIR and parts[1].lower().startswith(_UNREADABLE_TASK_PARTS):
        return f"is in the task's {parts[1]!r} directory, which Nomad never serves"
    return None


def _keys(keys: set[str] | list[str]) -> str:
    return repr(sorted(keys))


def check_against_parent(
    parent_job: Mapping[str, Any],
    meta: Mapping[str, str],
    payload: bytes | None,
    result_file: str | None = None,
) -> None:
    """Raise :class:`NomadInvalidInputError` if Nomad would refuse this dispatch, or the
    result file could not be in the child's allocation directory.

    :param parent_job: the parent job as ``GET /v1/job/:id`` returns it.
    :param meta: the dispatch meta, already normalized.
    :param payload: the payload bytes, or ``None``.
    :param result_file: the result file, already checked by :func:`check_result_file`.
    """
    job_id = parent_job.get("ID") or parent_job.get("Name") or "?"
    parameterized = parent_job.get("ParameterizedJob")
    if parent_job.get("Dispatched"):
        parent = parent_job.get("ParentID") or "its parent"
        raise NomadInvalidInputError(
            f"Cannot dispatch Nomad job {job_id!r}: it is itself a dispatched job; dispatch "
            f"the parameterized job {parent!r} instead."
        )
    if not parameterized:
        raise NomadInvalidInputError(
            f"Cannot dispatch Nomad job {job_id!r}: it is not a parameterized job. Add a "
            "`parameterized` block to its jobspec, or run it with NomadRegisterJobOperator."
        )
    if parent_job.get("Stop"):
        raise NomadInvalidInputError(
            f"Cannot dispatch Nomad job {job_id!r}: it is stopped. Register (run) the "
            "parameterized job again, then retry."
        )

    problems: list[str] = []
    required = set(parameterized.get("MetaRequired") or [])
    optional = set(parameterized.get("MetaOptional") or [])
    given = set(meta)
    missing = required - given
    if missing:
        problems.append(f"required meta keys missing: {_keys(missing)}; pass them in meta")
    unknown = given - required - optional
    if unknown:
        allowed = _keys(required | optional) if required | optional else "none"
        problems.append(
            f"meta keys not allowed by the job: {_keys(unknown)} (allowed: {allowed}); remove "
            "them, or add them to meta_required/meta_optional in its parameterized block"
        )

    mode = (parameterized.get("Payload") or PAYLOAD_OPTIONAL).lower()
    size = len(payload) if payload else 0
    if mode == PAYLOAD_REQUIRED and size == 0:
        problems.append('the job requires a payload (payload = "required"); pass payload')
    elif mode == PAYLOAD_FORBIDDEN and size > 0:
        problems.append(
            'the job forbids a payload (payload = "forbidden"); drop payload or pass the '
            "values as meta"
        )
    if size > MAX_PAYLOAD_BYTES:
        problems.append(
            f"the payload is {size} bytes, over Nomad's limit of {MAX_PAYLOAD_BYTES}; pass a "
            "reference to the data (e.g. an object-store path) instead of the data"
        )
    problem = result_file_problem(parent_job, result_file) if result_file is not None else None
    if problem is not None:
        problems.append(problem)
    if problems:
        raise NomadInvalidInputError(
            f"Cannot dispatch Nomad job {job_id!r}: " + "; ".join(problems) + "."
        )
