"""``GET``/``PUT /v1/snapshot``: save the emulated datacenter's state and restore it, after
``agent/snapshot_endpoint.go`` and ``snapshot/archive.go``.

A snapshot is, as Consul's, a gzipped tar archive of ``meta.json``, the state and
``SHA256SUMS``; the state is the emulator's own (JSON of the catalog, KV store, sessions,
coordinates and Autopilot configuration of one datacenter), not Raft's binary format, so only
this emulator restores it. Config entries, intentions and the Connect CA are not in it: a
restore leaves them as they are. Restoring checks the archive's checksums, then replaces the
datacenter's state. Both need a management token when ACLs are on (Consul's
``SnapshotAllowed``); ACL tokens themselves are not part of the emulator's snapshot.
Known simplifications: script and HTTP checks restored from a snapshot are not run again (TTL
checks and session TTLs are re-armed).
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors, kv_ops
from airflow_provider_nomad.testing.consul.acl import WRITE
from airflow_provider_nomad.testing.consul.kv import KVEntry, KVStore
from airflow_provider_nomad.testing.consul.models import ConsulBackend
from airflow_provider_nomad.testing.consul.records import (
    Datacenter,
    HealthCheck,
    Node,
    ServiceInstance,
)
from airflow_provider_nomad.testing.consul.responses import (
    _backend,
    _empty_ok,
    query_options,
    request_token,
)
from airflow_provider_nomad.testing.consul.sessions import Session

FORMAT = "airflow-provider-nomad consul emulator state v1"
STATE_FILE = "state.json"


def _authorize(request: Request) -> ConsulBackend:
    backend = _backend(request)
    # SnapshotAllowed: the same as acl:write, which only a management token has here
    backend.acl.resolve(request_token(request)).require("acl", "", WRITE)
    return backend


# -- state <-> JSON -------------------------------------------------------------------------------
#: The datacenter state a snapshot carries (plain data); the rest (config entries, the Connect
#: CA) stays as it is on restore.
SNAPSHOT_FIELDS = (
    "name",
    "nodes",
    "table_index",
    "kv",
    "sessions",
    "service_index",
    "extinction_index",
    "coordinates",
    "coordinates_index",
)


def _dump_datacenter(dc: Datacenter) -> dict[str, Any]:
    state = {
        "nodes": {name: dataclasses.asdict(node) for name, node in dc.nodes.items()},
        "sessions": {sid: dataclasses.asdict(s) for sid, s in dc.sessions.items()},
        "kv": {
            "entries": [
                dataclasses.asdict(entry) | {"value": base64.b64encode(entry.value).decode()}
                for entry in dc.kv.entries.values()
            ],
            "tombstones": dict(dc.kv.tombstones),
            "table_index": dc.kv.table_index,
        },
    }
    for name in SNAPSHOT_FIELDS:
        state.setdefault(name, getattr(dc, name))
    return state


def _load_datacenter(state: dict[str, Any], current: Datacenter) -> Datacenter:
    state = {name: state[name] for name in SNAPSHOT_FIELDS}
    nodes = {
        name: Node(
            **(
                node
                | {
                    "services": {k: ServiceInstance(**v) for k, v in node["services"].items()},
                    "checks": {k: HealthCheck(**v) for k, v in node["checks"].items()},
                }
            )
        )
        for name, node in state.pop("nodes").items()
    }
    raw_kv = state.pop("kv")
    kv = KVStore(
        entries={
            e["key"]: KVEntry(**(e | {"value": base64.b64decode(e["value"])}))
            for e in raw_kv["entries"]
        },
        tombstones={k: int(v) for k, v in raw_kv["tombstones"].items()},
        table_index=int(raw_kv["table_index"]),
    )
    sessions = {k: Session(**v) for k, v in state.pop("sessions").items()}
    kept = {
        f.name: getattr(current, f.name)
        for f in dataclasses.fields(Datacenter)
        if f.name not in SNAPSHOT_FIELDS
    }
    return Datacenter(nodes=nodes, kv=kv, sessions=sessions, **state, **kept)


def _archive(files: dict[str, bytes]) -> bytes:
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in files.items())
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        for name, data in [*files.items(), ("SHA256SUMS", sums.encode())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _unpack(archive: bytes) -> dict[str, bytes]:
    """The archive's files, their checksums verified (500s worded as Consul's restore)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive)), mode="r:") as tar:
            files = {
                member.name: tar.extractfile(member).read()  # type: ignore[union-attr]
                for member in tar.getmembers()
                if member.isfile()
            }
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise errors.ConsulHTTPError(500, f"failed to read snapshot file: {exc}") from exc
    sums = files.pop("SHA256SUMS", b"").decode(errors="replace")
    expected = dict(reversed(line.split(None, 1)) for line in sums.splitlines() if line.strip())
    for name in ("meta.json", STATE_FILE):
        if name not in files:
            raise errors.ConsulHTTPError(500, f"failed to read snapshot file: {name} is missing")
        if expected.get(name) != hashlib.sha256(files[name]).hexdigest():
            raise errors.ConsulHTTPError(500, f"failed checking integrity of snapshot: {name}")
    return files


# -- handlers -----------------------------------------------------------------------------------
async def snapshot(request: Request) -> Response:
    if request.method == "PUT":
        return await _restore(request)
    backend = _authorize(request)
    options = query_options(request)
    with backend.lock:
        dc = backend.datacenter(options.datacenter or None)
        index = backend.index
        state = {
            "Format": FORMAT,
            "Datacenter": _dump_datacenter(dc),
            "Autopilot": backend.extra_state.get("autopilot"),
        }
    state_bytes = json.dumps(state, separators=(",", ":")).encode()
    meta = {
        "Version": 1,
        "ID": f"2-{index}-{uuid.uuid4().hex[:8]}",
        "Index": index,
        "Term": 2,
        "Size": len(state_bytes),
    }
    archive = _archive({"meta.json": json.dumps(meta).encode(), STATE_FILE: state_bytes})
    headers = {"X-Consul-Index": str(max(1, index)), "X-Consul-KnownLeader": "true"}
    return Response(archive, headers=headers, media_type="application/octet-stream")


async def _restore(request: Request) -> Response:
    backend = _authorize(request)
    options = query_options(request)
    files = _unpack(await request.body())
    try:
        state = json.loads(files[STATE_FILE])
        meta = json.loads(files["meta.json"])
        if state.get("Format") != FORMAT:
            raise ValueError(f"not a snapshot of this emulator (format {state.get('Format')!r})")
        target = backend.datacenter(options.datacenter or None)
        dc = _load_datacenter(state["Datacenter"], target)
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.ConsulHTTPError(500, f"failed to restore snapshot: {exc}") from exc
    if dc.name != target.name:
        raise errors.ConsulHTTPError(
            500,
            f"failed to restore snapshot: it is of datacenter {dc.name!r}, not {target.name!r}",
        )
    backend.restore_datacenter(dc, int(meta.get("Index") or 0))
    with backend.lock:
        if state.get("Autopilot") is not None:
            backend.extra_state["autopilot"] = state["Autopilot"]
        else:
            backend.extra_state.pop("autopilot", None)
        for session_id in list(dc.sessions):
            kv_ops.session_renew(backend, dc, session_id)  # the leader re-arms session TTLs
    return _empty_ok()


ENDPOINTS = (("/v1/snapshot", ("GET", "PUT"), snapshot),)
