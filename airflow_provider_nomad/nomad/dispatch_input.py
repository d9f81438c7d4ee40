"""Checks of dispatch meta and payload before anything is sent (pure: no I/O).

Nomad rejects bad dispatch input with terse HTTP 500 texts whose key lists come in random
order. Checking the input against the parent job first gives the DAG author one clear message
naming the job, the keys (sorted) and the fix, and nothing is dispatched. The rules mirror
``validateDispatchRequest`` in Nomad's ``nomad/job_endpoint.go``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from airflow_provider_nomad.exceptions import NomadInvalidInputError

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "check_against_parent",
    "encode_payload",
    "normalize_meta",
]

#: Nomad's DispatchPayloadSizeLimit.
MAX_PAYLOAD_BYTES = 16 * 1024

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
    return dict(meta)


def encode_payload(payload: Any) -> bytes | None:
    """The payload's bytes: ``str`` as UTF-8, ``bytes`` as is, ``dict``/``list`` as compact JSON.

    :param payload: the operator's ``payload`` argument; ``None`` stays ``None``.
    """
    if payload is None:
        return None
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload)
    if isinstance(payload, (dict, list)):
        try:
            text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise NomadInvalidInputError(
                f"dispatch payload could not be encoded as JSON: {exc}. Use only JSON types "
                "(str, int, float, bool, None, list, dict) or pass a str/bytes payload"
            ) from None
        return text.encode("utf-8")
    raise NomadInvalidInputError(
        f"dispatch payload must be str, bytes, dict or list, got {type(payload).__name__}"
    )


def _keys(keys: set[str] | list[str]) -> str:
    return repr(sorted(keys))


def check_against_parent(
    parent_job: Mapping[str, Any], meta: Mapping[str, str], payload: bytes | None
) -> None:
    """Raise :class:`NomadInvalidInputError` if Nomad would refuse this dispatch.

    :param parent_job: the parent job as ``GET /v1/job/:id`` returns it.
    :param meta: the dispatch meta, already normalized.
    :param payload: the payload bytes, or ``None``.
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
    if problems:
        raise NomadInvalidInputError(
            f"Cannot dispatch Nomad job {job_id!r}: " + "; ".join(problems) + "."
        )
