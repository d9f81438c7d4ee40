"""Intentions, kept as Consul 1.9+ keeps them: sources of ``service-intentions`` config entries.

``/v1/connect/intentions/exact`` upserts, reads and deletes one source of the destination's
entry (the entry goes with its last source); the deprecated ID endpoints do the same on a
source carrying a ``LegacyID``. Listing and matching answer ``structs.Intention`` objects in
``IntentionPrecedenceSorter`` order; ``check`` takes the first match by precedence, and without
one the ACL default policy decides (allow without ACLs, deny with the emulator's default-deny).

Permissions: reading needs ``service:read`` on the destination (Consul's default for a
service rule's ``intentions``), writing ``intention:write`` on it (a management token here).
"""

from __future__ import annotations

import copy
import uuid
from datetime import datetime, timezone
from typing import Any

from airflow_provider_nomad.testing.consul import config_entries as ce
from airflow_provider_nomad.testing.consul import config_ops, errors
from airflow_provider_nomad.testing.consul.acl import ALLOW_ALL, Authorizer
from airflow_provider_nomad.testing.consul.filters import MAP, SCALAR

INTENTION_NOT_FOUND = "Intention not found"
DEFAULT_NAMESPACE = "default"
SOURCE_TYPE_CONSUL = "consul"
#: Selectors ``?filter=`` accepts on ``/v1/connect/intentions``.
INTENTION_SCHEMA: dict[str, Any] = {
    name: SCALAR
    for name in (
        "Action",
        "Description",
        "DestinationNS",
        "DestinationName",
        "ID",
        "Precedence",
        "SourceNS",
        "SourceName",
        "SourceType",
    )
} | {"Meta": MAP}


def parse_name(text: str, what: str) -> str:
    """``parseIntentionStringComponent`` for Consul CE: ``name`` or ``default/name``."""
    if text.startswith("peer:"):
        raise errors.ConsulHTTPError(
            500, f"{what} {errors.go_quote(text)} is invalid: cannot specify a peer here"
        )
    parts = text.split("/")
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2 and parts[0] in ("", DEFAULT_NAMESPACE):
        return parts[1]
    if len(parts) == 2:
        raise errors.ConsulHTTPError(
            400, f'Namespaces is a Consul Enterprise feature: {what} namespace "{parts[0]}"'
        )
    raise errors.ConsulHTTPError(
        500, f"{what} {errors.go_quote(text)} is invalid: input can contain at most two '/'"
    )


def to_api(destination: str, source: dict[str, Any], stored: ce.StoredEntry) -> dict[str, Any]:
    """One source of a ``service-intentions`` entry as ``structs.Intention``."""
    out: dict[str, Any] = {}
    if source.get("LegacyID"):
        out["ID"] = source["LegacyID"]
    out |= {
        "Description": source.get("Description") or "",
        "SourceNS": DEFAULT_NAMESPACE,
        "SourceName": source["Name"],
        "DestinationNS": DEFAULT_NAMESPACE,
        "DestinationName": destination,
        "SourceType": source.get("Type") or SOURCE_TYPE_CONSUL,
    }
    if source.get("Action"):
        out["Action"] = source["Action"]
    if source.get("Permissions"):
        out["Permissions"] = copy.deepcopy(source["Permissions"])
    out["Meta"] = dict(source.get("LegacyMeta") or {})
    out["Precedence"] = source.get("Precedence", 0)
    if source.get("LegacyCreateTime"):
        out["CreatedAt"] = source["LegacyCreateTime"]
        out["UpdatedAt"] = source.get("LegacyUpdateTime") or source["LegacyCreateTime"]
    return out | {"CreateIndex": stored.create_index, "ModifyIndex": stored.modify_index}


def intention_string(intention: dict[str, Any]) -> str:
    """``Intention.String()``: how Consul names an intention in its messages."""
    id_part = f"ID: {intention['ID']}, " if intention.get("ID") else ""
    if intention.get("Permissions"):
        detail = f"Permissions: {len(intention['Permissions'])}"
    else:
        detail = f"Action: {str(intention.get('Action', '')).upper()}"
    return (
        f"{intention['SourceName']} => {intention['DestinationName']} "
        f"({id_part}Precedence: {intention['Precedence']}, {detail})"
    )


def _sort_key(intention: dict[str, Any]) -> tuple:
    return (
        -intention["Precedence"],
        intention["SourceNS"],
        intention["SourceName"],
        intention["DestinationNS"],
        intention["DestinationName"],
    )


def all_intentions(dc: Any, authz: Authorizer) -> tuple[list[dict[str, Any]], bool]:
    """Every intention the token may read, in precedence order; and whether ACLs hid any."""
    out: list[dict[str, Any]] = []
    filtered = False
    for stored in dc.config_entries.of_kind(ce.SERVICE_INTENTIONS):
        destination = stored.entry["Name"]
        if not config_ops.may_read(authz, ce.SERVICE_INTENTIONS, destination):
            filtered = True
            continue
        out.extend(to_api(destination, source, stored) for source in stored.entry["Sources"])
    return sorted(out, key=_sort_key), filtered


def match(dc: Any, by: str, name: str, authz: Authorizer) -> list[dict[str, Any]]:
    """``Intention.Match``: the intentions whose ``by`` side is ``name`` or ``*``."""
    side = "SourceName" if by == "source" else "DestinationName"
    intentions, _ = all_intentions(dc, authz)
    return [item for item in intentions if item[side] in (name, "*")]


def first_match(dc: Any, source: str, destination: str) -> dict[str, Any] | None:
    """The intention that decides a ``source`` to ``destination`` connection, if any."""
    for intention in match(dc, "destination", destination, ALLOW_ALL):
        if intention["SourceName"] in (source, "*"):
            return intention
    return None


def check(dc: Any, source: str, destination: str, default_allow: bool) -> bool:
    """``Intention.Check``: the first matching intention's action; an L7 one counts as deny."""
    intention = first_match(dc, source, destination)
    if intention is None:
        return default_allow
    return not intention.get("Permissions") and intention.get("Action") == "allow"


def find(dc: Any, source: str, destination: str) -> dict[str, Any] | None:
    stored = dc.config_entries.get(ce.SERVICE_INTENTIONS, destination)
    if stored is None:
        return None
    for item in stored.entry["Sources"]:
        if item["Name"] == source:
            return to_api(destination, item, stored)
    return None


def find_legacy(dc: Any, legacy_id: str) -> tuple[str, dict[str, Any]] | None:
    """``(destination, intention)`` of the source with this ``LegacyID``."""
    for stored in dc.config_entries.of_kind(ce.SERVICE_INTENTIONS):
        for item in stored.entry["Sources"]:
            if item.get("LegacyID") == legacy_id:
                return stored.entry["Name"], to_api(stored.entry["Name"], item, stored)
    return None


def _fields(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, "Request decode failed: body must be a JSON object")
    return {str(key).lower().replace("_", ""): value for key, value in body.items()}


def source_from_body(name: str, body: Any) -> dict[str, Any]:
    """The ``service-intentions`` source an intention body describes (``SourceType`` must be
    ``consul``, as ``Intention.Validate`` demands)."""
    fields = _fields(body)
    source_type = str(fields.get("sourcetype") or SOURCE_TYPE_CONSUL)
    if source_type != SOURCE_TYPE_CONSUL:
        raise errors.ConsulHTTPError(500, f"Invalid SourceType: {source_type}")
    source: dict[str, Any] = {"Name": name, "Type": source_type}
    if fields.get("action"):
        source["Action"] = str(fields["action"])
    if fields.get("permissions"):
        source["Permissions"] = fields["permissions"]
    if fields.get("description"):
        source["Description"] = str(fields["description"])
    return source


def upsert(
    backend: Any,
    dc: Any,
    destination: str,
    source: dict[str, Any],
    authz: Authorizer,
    *,
    legacy: bool = False,
) -> None:
    """Put ``source`` into the destination's entry (replacing one of the same name)."""
    with backend.lock:
        stored = dc.config_entries.get(ce.SERVICE_INTENTIONS, destination)
        sources = copy.deepcopy(stored.entry["Sources"]) if stored else []
        previous = next((s for s in sources if s["Name"] == source["Name"]), None)
        if legacy and previous is not None and previous.get("LegacyID") != source.get("LegacyID"):
            assert stored is not None
            duplicate = intention_string(to_api(destination, previous, stored))
            raise errors.ConsulHTTPError(500, f"duplicate intention found: {duplicate}")
        if previous is not None:
            for key in ("LegacyID", "LegacyCreateTime", "LegacyMeta"):
                if key in previous and key not in source:
                    source[key] = previous[key]
        sources = [s for s in sources if s["Name"] != source["Name"]] + [source]
        _apply(backend, dc, destination, sources, authz)


def delete(backend: Any, dc: Any, destination: str, source: str, authz: Authorizer) -> None:
    """Remove ``source`` from the destination's entry; the entry goes with its last source."""
    with backend.lock:
        config_ops.require_write(authz, ce.SERVICE_INTENTIONS, destination)
        stored = dc.config_entries.get(ce.SERVICE_INTENTIONS, destination)
        if stored is None or not any(s["Name"] == source for s in stored.entry["Sources"]):
            return  # deleting what is not there is a no-op, as in Intention.Apply
        sources = [copy.deepcopy(s) for s in stored.entry["Sources"] if s["Name"] != source]
        if sources:
            _apply(backend, dc, destination, sources, authz)
        else:
            config_ops.delete(backend, dc, ce.SERVICE_INTENTIONS, destination, authz)


def _apply(
    backend: Any, dc: Any, destination: str, sources: list[dict[str, Any]], authz: Authorizer
) -> None:
    raw = {"Kind": ce.SERVICE_INTENTIONS, "Name": destination, "Sources": sources}
    stored = dc.config_entries.get(ce.SERVICE_INTENTIONS, destination)
    if stored is not None and stored.entry.get("Meta"):
        raw["Meta"] = stored.entry["Meta"]
    try:
        entry = ce.decode(raw)
        config_ops.apply(backend, dc, entry, authz)
    except ce.ConfigEntryError as exc:
        raise exc.http() from None


def legacy_source(name: str, body: Any, legacy_id: str | None = None) -> dict[str, Any]:
    """A source created through the deprecated ID endpoints: it keeps its ID and times."""
    source = source_from_body(name, body)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    source["LegacyID"] = legacy_id or str(uuid.uuid4())
    source["LegacyCreateTime"] = now
    source["LegacyUpdateTime"] = now
    meta = _fields(body).get("meta")
    if meta:
        source["LegacyMeta"] = {str(k): str(v) for k, v in dict(meta).items()}
    return source
