"""Writes to the KV store and sessions of a datacenter, under the backend's lock.

The thin layer between the HTTP handlers and :mod:`.kv` / :mod:`.sessions`: it takes the Raft
index, checks sessions for lock operations, keeps TTL timers, and wakes blocked queries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow_provider_nomad.testing.consul import errors, sessions
from airflow_provider_nomad.testing.consul.sessions import Session

if TYPE_CHECKING:
    from airflow_provider_nomad.testing.consul.models import ConsulBackend
    from airflow_provider_nomad.testing.consul.records import Datacenter

SET, CAS, LOCK, UNLOCK = "set", "cas", "lock", "unlock"
DELETE, DELETE_CAS, DELETE_TREE = "delete", "delete-cas", "delete-tree"


def kv_apply(
    backend: ConsulBackend,
    dc: Datacenter,
    op: str,
    key: str,
    *,
    value: bytes = b"",
    flags: int = 0,
    cas: int = 0,
    session: str = "",
) -> bool:
    """``KVS.Apply``: the operation's answer (true/false)."""
    with backend.lock:
        if op == LOCK and not session:
            raise errors.ConsulHTTPError(500, "missing session")
        if op == LOCK and session not in dc.sessions:
            # only an acquire checks the session; a release by a stranger is just "false"
            raise errors.ConsulHTTPError(500, f"invalid session {errors.go_quote(session)}")
        index = backend.next_index()
        store = dc.kv
        if op == SET:
            done = store.set(index, key, value, flags)
        elif op == CAS:
            done = store.cas(index, key, value, flags, cas)
        elif op == LOCK:
            done = store.lock(index, key, value, flags, session)
        elif op == UNLOCK:
            done = store.unlock(index, key, value, flags, session)
        elif op == DELETE:
            done = store.delete(index, key)
        elif op == DELETE_CAS:
            done = store.delete_cas(index, key, cas)
        else:
            done = store.delete_tree(index, key)
    backend.feed.notify()
    return done


def session_create(backend: ConsulBackend, dc: Datacenter, session: Session) -> str:
    with backend.lock:
        sessions.validate(backend, dc, session)
        index = backend.next_index()
        session.id = sessions.new_id()
        session.create_index = session.modify_index = index
        dc.sessions[session.id] = session
        dc.table_index["sessions"] = index
        _arm_ttl(backend, dc, session)
    backend.feed.notify()
    return session.id


def session_renew(backend: ConsulBackend, dc: Datacenter, session_id: str) -> Session | None:
    with backend.lock:
        session = dc.sessions.get(session_id)
        if session is not None:
            _arm_ttl(backend, dc, session)
    return session


def _arm_ttl(backend: ConsulBackend, dc: Datacenter, session: Session) -> None:
    ttl = sessions.ttl_seconds(session)
    if ttl <= 0:
        return
    session.ttl_generation += 1
    generation = session.ttl_generation
    dc_name, session_id = dc.name, session.id

    def expire() -> None:
        with backend.lock:
            live = backend.datacenter_or_none(dc_name)  # gone after a reset
            current = live.sessions.get(session_id) if live is not None else None
            if live is None or current is None or current.ttl_generation != generation:
                return
        invalidate(backend, live, session_id)

    backend.feed.call_later(ttl * sessions.SESSION_TTL_MULTIPLIER, expire)


def invalidate(backend: ConsulBackend, dc: Datacenter, session_id: str) -> None:
    """Destroy a session: its keys are released or deleted, then held back by its lock-delay."""
    with backend.lock:
        session = dc.sessions.pop(session_id, None)
        if session is None:
            return
        index = backend.next_index()
        dc.table_index["sessions"] = index
        dc.kv.release_session(
            index, session_id, session.behavior == sessions.DELETE, session.lock_delay_ns / 1e9
        )
    backend.feed.notify()
