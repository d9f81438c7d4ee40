"""Nomad Variables (``/v1/vars``, ``/v1/var/:path``): rows and check-and-set, after
``nomad/state/state_store_variables.go``.

A CAS index of 0 means "only if absent" (set) or "only if absent" (delete: a no-op when the
variable does not exist); a non-zero index must equal the variable's ``ModifyIndex``. A failed
check answers 409 with the conflicting variable, or a zero-valued one naming the path when the
variable the caller expected is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors

if TYPE_CHECKING:
    from .backend import NomadBackend

# structs.validVariablePath
VALID_PATH = re.compile(r"^[a-zA-Z0-9-_~/]{1,128}$")


@dataclass
class VariableRecord:
    """A ``VariableDecrypted``: metadata plus its items."""

    namespace: str
    path: str
    items: dict[str, str] = field(default_factory=dict)
    create_index: int = 0
    modify_index: int = 0
    create_time: int = 0
    modify_time: int = 0

    def metadata(self) -> dict[str, Any]:
        """``VariableMetadata`` (list entries and events)."""
        return {
            "Namespace": self.namespace,
            "Path": self.path,
            "CreateIndex": self.create_index,
            "CreateTime": self.create_time,
            "ModifyIndex": self.modify_index,
            "ModifyTime": self.modify_time,
        }

    def to_dict(self) -> dict[str, Any]:
        out = self.metadata()
        if self.items:  # `json:",omitempty"`
            out["Items"] = dict(self.items)
        return out


class CasConflict(Exception):
    """The check-and-set failed; carries the variable to answer with (HTTP 409)."""

    def __init__(self, conflict: VariableRecord) -> None:
        super().__init__(conflict.path)
        self.conflict = conflict


def _validate(namespace: str, path: str, items: dict[str, str] | None) -> None:
    """``VariableDecrypted.Validate``, first failure only, as a coded 400."""
    if items is not None and sum(len(k) + len(v) for k, v in items.items()) > 65536:
        raise errors.bad_request("variables are limited to 64KiB in total size")
    if not VALID_PATH.match(path):
        raise errors.bad_request(errors.invalid_variable_path(path))
    parts = path.split("/")
    if parts[0] == "nomad" and not (
        len(parts) > 1 and parts[1] in ("jobs", "job-templates", "sentinel")
    ):
        raise errors.bad_request(
            '"nomad" is a reserved top-level directory path, but you may write variables to '
            '"nomad/jobs", "nomad/job-templates", "nomad/sentinel", or below'
        )


def upsert(
    backend: NomadBackend, namespace: str, path: str, items: dict[str, str], cas: int | None
) -> VariableRecord:
    """``VarOpSet``/``VarOpCAS``; raises :class:`CasConflict`."""
    _validate(namespace, path, items)
    state = backend.state
    existing = state.variables.get((namespace, path))
    if cas is not None:
        if cas == 0 and existing is not None:
            raise CasConflict(existing)
        if cas != 0 and existing is None:
            raise CasConflict(VariableRecord(namespace, path))
        if existing is not None and cas != existing.modify_index:
            raise CasConflict(existing)
    now = backend.clock.now_ns()
    row = VariableRecord(namespace, path, dict(items))
    row.create_time = existing.create_time if existing else now
    row.modify_time = now
    if existing is not None:
        row.create_index = existing.create_index
    with state.write() as w:
        state.put_variable(w, row)
    return row


def delete(backend: NomadBackend, namespace: str, path: str, cas: int | None) -> int:
    """``VarOpDelete``/``VarOpDeleteCAS``; the write index; raises :class:`CasConflict`."""
    state = backend.state
    existing = state.variables.get((namespace, path))
    if existing is None and not cas:
        return state.index  # nothing to delete, and nothing expected: a no-op
    if cas is not None:
        if existing is None:
            raise CasConflict(VariableRecord(namespace, path))
        if cas != existing.modify_index:
            raise CasConflict(existing)
    with state.write() as w:
        if existing is not None:
            state.delete_variable(w, existing)
    return w.index


def listing(backend: NomadBackend, namespaces: list[str], prefix: str) -> list[dict[str, Any]]:
    """``Variables.List``: metadata of the variables under ``prefix``, by namespace then path."""
    rows = [
        v
        for (ns, path), v in sorted(backend.state.variables.items())
        if ns in namespaces and path.startswith(prefix)
    ]
    return [v.metadata() for v in rows]
