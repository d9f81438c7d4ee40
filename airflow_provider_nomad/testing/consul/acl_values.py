"""Small pieces the ACL store shares: Consul's error raising, UUID checks, Go time and
duration printing, and case-insensitive JSON field access (Go's decoder ignores case)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.durations import parse_duration

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def fail(text: str, status: int = 500) -> ConsulError:
    """An RPC error as Consul's HTTP layer answers it: 500 with the text, unless told."""
    return errors.ConsulHTTPError(status, text)


ConsulError = errors.ConsulHTTPError


def acl_not_found() -> ConsulError:
    """``acl.ErrNotFound``: the HTTP layer answers it 403 ``ACL not found``."""
    return errors.ConsulHTTPError(403, errors.ACL_NOT_FOUND)


def not_exist(kind: str) -> ConsulError:
    """``acl.ACLResourceNotExistError`` for a read of something missing: 404."""
    return errors.ConsulHTTPError(404, f"Requested {kind} does not exist: {errors.ACL_NOT_FOUND}")


def is_uuid(value: str) -> bool:
    return bool(_UUID.match(value))


def index_key(table: str, value: str) -> str:
    """The memdb UUID index key for ``value``; 500 as Consul's state store fails otherwise."""
    if len(value) != 36:
        raise fail(f"failed acl {table} lookup: index error: UUID must be 36 characters")
    if not is_uuid(value):
        raise fail(f"failed acl {table} lookup: index error: invalid UUID {value!r}")
    return value.lower()


def field(body: dict[str, Any], name: str, default: Any = None) -> Any:
    """``body[name]`` matched without regard to case, as ``encoding/json`` decodes."""
    lowered = name.lower()
    for key, value in body.items():
        if str(key).lower() == lowered:
            return value
    return default


def go_time(moment: datetime) -> str:
    """RFC 3339 with nanoseconds trimmed as Go's ``time.Time`` marshals; ``Z`` for UTC."""
    text = moment.isoformat()
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits.rstrip('0')}{zone}" if digits.rstrip("0") else f"{head}{zone}"
    return text.replace("+00:00", "Z")


def parse_time(value: Any, what: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise fail(
            f"{what} decoding failed: parsing time {str(value)!r}: not RFC 3339", 400
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def parse_ttl(value: Any, what: str) -> float:
    """A duration field: a Go duration string, or a number of nanoseconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value / 1e9
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise fail(f"{what} decoding failed: {exc}", 400) from exc


def go_duration(seconds: float) -> str:
    """Go's ``Duration.String`` for whole seconds and up (``24h0m0s``, ``1m0s``, ``1.5s``)."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    fraction = seconds - int(seconds)
    sec_text = f"{secs + fraction:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{sign}{hours}h{minutes}m{sec_text}"
    if minutes:
        return f"{sign}{minutes}m{sec_text}"
    return sign + sec_text
