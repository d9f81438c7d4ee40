"""Writes and reads of a datacenter's config entries, under the backend's lock, with ACLs.

``ConfigEntry.Apply`` / ``ConfigEntry.Delete`` / ``ConfigEntry.Get``: each write takes the next
Raft index, records it on the ``config-entries`` table (what a blocking read of ``/v1/config``
waits on) and on the services whose mesh answers it changes, and wakes blocked queries. Who may
read or write an entry follows each kind's ``CanRead``/``CanWrite``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_nomad.testing.consul import config_entries as ce
from airflow_provider_nomad.testing.consul.acl import READ, WRITE, Authorizer
from airflow_provider_nomad.testing.consul.discovery_chain import ChainError, compile_chain

if TYPE_CHECKING:
    from airflow_provider_nomad.testing.consul.models import ConsulBackend
    from airflow_provider_nomad.testing.consul.records import Datacenter

TABLE = "config-entries"
_SERVICE_SCOPED = (
    ce.SERVICE_DEFAULTS,
    ce.SERVICE_RESOLVER,
    ce.SERVICE_ROUTER,
    ce.SERVICE_SPLITTER,
)
_GATEWAYS = (ce.INGRESS_GATEWAY, ce.TERMINATING_GATEWAY)


def may_read(authz: Authorizer, kind: str, name: str) -> bool:
    if kind in (*_SERVICE_SCOPED, *_GATEWAYS):
        return authz.allowed("service", name, READ)
    if kind == ce.SERVICE_INTENTIONS:
        # A service rule grants read on the service's intentions unless it says otherwise.
        return authz.allowed("service", name, READ) or authz.allowed("intention", name, READ)
    return True  # proxy-defaults and mesh: anyone may read


def require_read(authz: Authorizer, kind: str, name: str) -> None:
    if kind in (*_SERVICE_SCOPED, *_GATEWAYS):
        authz.require("service", name, READ)
    elif kind == ce.SERVICE_INTENTIONS and not may_read(authz, kind, name):
        authz.require("intention", name, READ)


def require_write(authz: Authorizer, kind: str, name: str) -> None:
    if kind in _SERVICE_SCOPED:
        authz.require("service", name, WRITE)
    elif kind == ce.SERVICE_INTENTIONS:
        authz.require("intention", name, WRITE)
    else:  # proxy-defaults, mesh, gateways: MeshWriteAllowed
        authz.require("mesh", "", WRITE)


def table_index(dc: Datacenter) -> int:
    return dc.table_index.get(TABLE, 0)


def _written(backend: ConsulBackend, dc: Datacenter, index: int) -> None:
    dc.table_index[TABLE] = index
    # Gateway, connect and merged catalog answers depend on config entries: a write wakes them.
    for name in dc.service_names():
        dc.service_index[name] = index


def _check_graph(dc: Datacenter, entry: dict[str, Any], trust_domain: str) -> None:
    """``validateProposedConfigEntryInGraph``: with the entry in place, the discovery chain of
    the service it names still compiles (routers and splitters need an L7 protocol, redirects
    must not loop, a routed subset must exist...)."""
    if entry["Kind"] not in (ce.SERVICE_ROUTER, ce.SERVICE_SPLITTER, ce.SERVICE_RESOLVER):
        return
    proposed = ce.ConfigEntryStore(dict(dc.config_entries.entries))
    proposed.upsert(entry, 0, None)
    try:
        compile_chain(entry["Name"], datacenter=dc.name, trust_domain=trust_domain, store=proposed)
    except ChainError as exc:
        raise ce.ConfigEntryError(500, str(exc)) from None


def apply(
    backend: ConsulBackend,
    dc: Datacenter,
    entry: dict[str, Any],
    authz: Authorizer,
    cas: int | None = None,
) -> bool:
    """``ConfigEntry.Apply``: upsert (or check-and-set); whether it applied."""
    with backend.lock:
        require_write(authz, entry["Kind"], entry["Name"])
        _check_graph(dc, entry, dc.connect_ca.trust_domain)
        if cas is not None:
            current = dc.config_entries.get(entry["Kind"], entry["Name"])
            if (current.modify_index if current else 0) != cas:
                return False
        index = backend.next_index()
        dc.config_entries.upsert(entry, index, None)
        _written(backend, dc, index)
    backend.feed.notify()
    return True


def delete(
    backend: ConsulBackend,
    dc: Datacenter,
    kind: str,
    name: str,
    authz: Authorizer,
    cas: int | None = None,
) -> bool:
    """``ConfigEntry.Delete``: whether it applied (always, without ``cas``)."""
    with backend.lock:
        if kind == ce.PROXY_DEFAULTS and name not in ("", ce.PROXY_CONFIG_GLOBAL):
            raise ce.ConfigEntryError(
                500,
                f"invalid name ({ce.errors.go_quote(name)}), only "
                f"{ce.errors.go_quote(ce.PROXY_CONFIG_GLOBAL)} is supported",
            )
        if kind == ce.PROXY_DEFAULTS:
            name = ce.PROXY_CONFIG_GLOBAL
        require_write(authz, kind, name)
        if dc.config_entries.get(kind, name) is None:
            return cas is None
        if not dc.config_entries.delete(kind, name, cas):
            return False
        _written(backend, dc, backend.next_index())
    backend.feed.notify()
    return True
