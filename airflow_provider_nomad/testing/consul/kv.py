"""Consul's key/value store: entries, tombstones and the ``KVS.Apply`` operations, after
``agent/consul/state/kvs.go``.

Reads report the index Consul reports: a present key its own ``ModifyIndex``; a missing key,
or a prefix, the highest index of the entries (and deletions) under it, else the table's.
Deletions leave a tombstone so a blocked list of a prefix wakes when a key under it goes.
Locks: ``acquire`` needs a live session and a key that no other session holds (and that is not
in its lock-delay after a session holding it was invalidated); ``release`` only by the holder.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nomad.testing.consul import errors

# agent/config: kv_max_value_size default
MAX_VALUE_SIZE = 512 * 1024


@dataclass
class KVEntry:
    """A ``DirEntry``."""

    key: str
    value: bytes = b""
    flags: int = 0
    lock_index: int = 0
    session: str = ""
    create_index: int = 0
    modify_index: int = 0

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "LockIndex": self.lock_index,
            "Key": self.key,
            "Flags": self.flags,
            "Value": base64.b64encode(self.value).decode() if self.value else None,
        }
        if self.session:  # `json:",omitempty"`
            out["Session"] = self.session
        out.update(CreateIndex=self.create_index, ModifyIndex=self.modify_index)
        return out


@dataclass
class KVStore:
    """One datacenter's keys."""

    entries: dict[str, KVEntry] = field(default_factory=dict)
    tombstones: dict[str, int] = field(default_factory=dict)
    table_index: int = 0
    #: key -> monotonic time until which it cannot be acquired (session lock-delay)
    lock_delays: dict[str, float] = field(default_factory=dict)

    # -- reads -----------------------------------------------------------------------------

    def get(self, key: str) -> tuple[int, KVEntry | None]:
        entry = self.entries.get(key)
        if entry is not None:
            return entry.modify_index, entry
        return max(1, self.table_index), None

    def listing(self, prefix: str) -> tuple[int, list[KVEntry]]:
        found = [e for k, e in sorted(self.entries.items()) if k.startswith(prefix)]
        index = max([e.modify_index for e in found] + self._tombstones_under(prefix), default=0)
        return max(1, index or self.table_index), found

    def keys(self, prefix: str, separator: str) -> tuple[int, list[str]]:
        index, found = self.listing(prefix)
        out: list[str] = []
        for entry in found:
            if separator:
                cut = entry.key.find(separator, len(prefix))
                if cut >= 0:
                    rolled = entry.key[: cut + len(separator)]
                    if not out or out[-1] != rolled:
                        out.append(rolled)
                    continue
            out.append(entry.key)
        return index, out

    def _tombstones_under(self, prefix: str) -> list[int]:
        return [i for k, i in self.tombstones.items() if k.startswith(prefix)]

    # -- writes (the caller holds the backend lock and passes the new Raft index) ----------

    def _put(self, index: int, key: str, value: bytes, flags: int) -> KVEntry:
        entry = self.entries.get(key)
        if entry is None:
            entry = KVEntry(key=key, create_index=index)
            self.entries[key] = entry
            self.tombstones.pop(key, None)
        entry.value, entry.flags, entry.modify_index = value, flags, index
        self.table_index = index
        return entry

    def set(self, index: int, key: str, value: bytes, flags: int) -> bool:
        self._put(index, key, value, flags)
        return True

    def cas(self, index: int, key: str, value: bytes, flags: int, cas: int) -> bool:
        """``KVCAS``: 0 means "only if absent", else the current ``ModifyIndex``."""
        entry = self.entries.get(key)
        if (cas == 0 and entry is not None) or (
            cas != 0 and (entry is None or entry.modify_index != cas)
        ):
            return False
        self._put(index, key, value, flags)
        return True

    def lock(self, index: int, key: str, value: bytes, flags: int, session: str) -> bool:
        """``KVLock``: the caller checked the session exists."""
        if self.lock_delays.get(key, 0.0) > time.monotonic():
            return False
        entry = self.entries.get(key)
        if entry is not None and entry.session and entry.session != session:
            return False
        held = entry is not None and entry.session == session
        entry = self._put(index, key, value, flags)
        if not held:
            entry.lock_index += 1
            entry.session = session
        return True

    def unlock(self, index: int, key: str, value: bytes, flags: int, session: str) -> bool:
        """``KVUnlock``: only the session holding the key releases it (and sets the value)."""
        entry = self.entries.get(key)
        if entry is None or entry.session != session:
            return False
        entry = self._put(index, key, value, flags)
        entry.session = ""
        return True

    def delete(self, index: int, key: str) -> bool:
        if self.entries.pop(key, None) is not None:
            self.tombstones[key] = index
            self.table_index = index
        return True

    def delete_cas(self, index: int, key: str, cas: int) -> bool:
        entry = self.entries.get(key)
        if entry is None or entry.modify_index != cas:
            return entry is None
        return self.delete(index, key)

    def delete_tree(self, index: int, prefix: str) -> bool:
        for key in [k for k in self.entries if k.startswith(prefix)]:
            self.delete(index, key)
        return True

    def release_session(self, index: int, session: str, delete: bool, lock_delay: float) -> None:
        """A session was invalidated: its keys are released (or deleted), then lock-delayed."""
        held = [e for e in self.entries.values() if e.session == session]
        until = time.monotonic() + lock_delay
        for entry in held:
            if delete:
                self.delete(index, entry.key)
            else:
                entry.session = ""
                entry.modify_index = index
                self.table_index = index
            if lock_delay > 0:
                self.lock_delays[entry.key] = until


# agent/kvs_endpoint.go: validateKVKey
_SUSPICIOUS_EXTENSIONS = [
    ".js",
    ".css",
    ".html",
    ".htm",
    ".xml",
    ".json",
    ".txt",
    ".log",
    ".php",
    ".asp",
    ".jsp",
    ".cgi",
    ".pl",
    ".py",
    ".rb",
    ".sh",
    ".exe",
    ".dll",
    ".bat",
    ".cmd",
    ".com",
    ".scr",
    ".vbs",
    ".pdf",
    ".doc",
    ".docx",
    ".xls",
    ".xlsx",
    ".ppt",
    ".pptx",
    ".zip",
    ".rar",
    ".tar",
    ".gz",
    ".7z",
    ".bz2",
    ".jpg",
    ".jpeg",
    ".png",
    ".gif",
    ".svg",
    ".ico",
    ".bmp",
    ".mp3",
    ".mp4",
    ".avi",
    ".mov",
    ".wmv",
    ".flv",
    ".swf",
    ".woff",
    ".woff2",
    ".ttf",
    ".eot",
    ".otf",
]


def validate_key(key: str) -> None:
    """Consul refuses keys that could traverse paths or be cached as files (HTTP 400)."""
    if key.startswith("/"):
        raise errors.ConsulHTTPError(400, "key must not begin with a '/'")
    for position, char in enumerate(key):
        if not (char.isascii() and (char.isalnum() or char in ",-_./")):
            offset = len(key[:position].encode())  # Go ranges over a string by byte offset
            raise errors.ConsulHTTPError(
                400,
                f"key contains invalid character '{char}' at position {offset}. "
                "Only alphanumeric characters and ,-_./ are allowed",
            )
    if "../" in key or "..\\" in key:
        raise errors.ConsulHTTPError(400, "key contains path traversal sequence")
    lowered = key.lower()
    for extension in _SUSPICIOUS_EXTENSIONS:
        if lowered.endswith(extension):
            raise errors.ConsulHTTPError(
                400,
                f"key contains suspicious file extension '{extension}' "
                "that may be cached by proxies",
            )
