"""Consul sessions, after ``agent/consul/session_endpoint.go`` and ``session_ttl.go``.

A session lives on a node and names health checks (``serfHealth`` by default); it is
invalidated when it is destroyed, when one of its checks turns critical, or when its TTL runs
out without a renewal (Consul waits TTL x 2 before it acts). Invalidation releases the keys it
holds (``Behavior: release``) or deletes them (``delete``), and those keys stay unacquirable
for the session's ``LockDelay``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.durations import format_duration, parse_duration

if TYPE_CHECKING:
    from airflow_provider_nomad.testing.consul.models import ConsulBackend
    from airflow_provider_nomad.testing.consul.records import Datacenter

SESSION_TTL_MIN = 10.0  # agent config session_ttl_min default
SESSION_TTL_MAX = 24 * 3600.0  # structs.SessionTTLMax
SESSION_TTL_MULTIPLIER = 2  # structs.SessionTTLMultiplier
DEFAULT_LOCK_DELAY = 15.0
LOCK_DELAY_MIN_THRESHOLD_NS = 1000  # below this, a lock delay is taken as seconds
RELEASE, DELETE = "release", "delete"


@dataclass
class Session:
    """A ``structs.Session``."""

    id: str
    node: str
    name: str = ""
    lock_delay_ns: int = int(DEFAULT_LOCK_DELAY * 1e9)
    behavior: str = RELEASE
    ttl: str = ""
    node_checks: list[str] = field(default_factory=list)
    service_checks: list[dict[str, str]] = field(default_factory=list)
    create_index: int = 0
    modify_index: int = 0
    ttl_generation: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "ID": self.id,
            "Name": self.name,
            "Node": self.node,
            "LockDelay": self.lock_delay_ns,
            "Behavior": self.behavior,
            "TTL": self.ttl,
            "NodeChecks": list(self.node_checks) or None,
            "ServiceChecks": [dict(c) for c in self.service_checks] or None,
            "CreateIndex": self.create_index,
            "ModifyIndex": self.modify_index,
        }


def _lock_delay_ns(value: Any) -> int:
    """``FixupLockDelay``: a duration string or a number; small numbers mean seconds."""
    if isinstance(value, str):
        try:
            ns = int(parse_duration(value) * 1e9)
        except ValueError as exc:
            raise errors.ConsulHTTPError(400, f"Request decode failed: {exc}") from exc
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        ns = int(value)
    else:
        raise errors.ConsulHTTPError(400, "Request decode failed: invalid LockDelay")
    return ns * 1_000_000_000 if ns < LOCK_DELAY_MIN_THRESHOLD_NS else ns


def parse_session(body: Any, default_node: str) -> Session:
    """The session a ``PUT /v1/session/create`` body describes (keys case-insensitive)."""
    raw = {str(k).lower(): v for k, v in (body or {}).items()} if isinstance(body, dict) else {}
    session = Session(id="", node=str(raw.get("node") or default_node))
    session.name = str(raw.get("name") or "")
    if "lockdelay" in raw:
        session.lock_delay_ns = _lock_delay_ns(raw["lockdelay"])
    session.behavior = str(raw.get("behavior") or RELEASE)
    session.ttl = str(raw.get("ttl") or "")
    # FixupChecks: a Checks key (even empty) replaces the default serfHealth
    if "checks" in raw or "nodechecks" in raw:
        session.node_checks = [str(c) for c in (raw.get("checks") or [])]
        session.node_checks += [str(c) for c in (raw.get("nodechecks") or [])]
    else:
        session.node_checks = ["serfHealth"]
    for check in raw.get("servicechecks") or []:
        fields = {str(k).lower(): v for k, v in dict(check).items()}
        session.service_checks.append(
            {"ID": str(fields.get("id") or ""), "Namespace": str(fields.get("namespace") or "")}
        )
    return session


def validate(backend: ConsulBackend, dc: Datacenter, session: Session) -> None:
    """``Session.Apply`` (create)'s checks, in its order, as plain RPC errors (HTTP 500)."""
    if session.behavior not in (RELEASE, DELETE):
        raise errors.ConsulHTTPError(500, f"Invalid Behavior setting '{session.behavior}'")
    if session.ttl:
        try:
            ttl = parse_duration(session.ttl)
        except ValueError as exc:
            raise errors.ConsulHTTPError(
                500, f"Session TTL '{session.ttl}' invalid: {exc}"
            ) from exc
        if ttl != 0 and not SESSION_TTL_MIN <= ttl <= SESSION_TTL_MAX:
            raise errors.ConsulHTTPError(
                500,
                f"Invalid Session TTL '{int(ttl * 1e9)}', must be between "
                f"[{format_duration(SESSION_TTL_MIN)}={format_duration(SESSION_TTL_MAX)}]",
            )
    node = dc.nodes.get(session.node)
    if node is None:
        raise errors.ConsulHTTPError(500, f"Missing node registration: {session.node}")
    for check_id in session.node_checks + [c["ID"] for c in session.service_checks]:
        check = node.checks.get(check_id)
        if check is None:
            raise errors.ConsulHTTPError(500, f"Missing check '{check_id}' registration")
        if check.status == "critical":
            raise errors.ConsulHTTPError(500, f"Check '{check_id}' is in critical state")


def new_id() -> str:
    return str(uuid.uuid4())


def ttl_seconds(session: Session) -> float:
    if session.ttl in ("", "0", "0s", "0m", "0h"):
        return 0.0
    return parse_duration(session.ttl)


def sessions_on_check(dc: Datacenter, node: str, check_id: str) -> list[Session]:
    """The sessions a check's turning critical invalidates."""
    return [
        s
        for s in dc.sessions.values()
        if s.node == node
        and (check_id in s.node_checks or any(c["ID"] == check_id for c in s.service_checks))
    ]
