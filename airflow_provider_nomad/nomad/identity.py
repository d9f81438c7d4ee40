"""The deterministic identity of a task's dispatched children (pure).

Every child a task instance dispatches carries ``af-<key>`` in its ID, where the key is a hash
of ``dag_id, task_id, run_id, map_index``. A later try of the same task instance finds its
children with one ``GET /v1/jobs?prefix=<parent>/dispatch-af-<key>-`` and adopts a live one
instead of dispatching again; the per-try idempotency token makes a retried dispatch request
return the child the first request created.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

KEY_LENGTH = 12


@dataclass(frozen=True)
class TaskIdentity:
    dag_id: str
    task_id: str
    run_id: str
    map_index: int = -1

    @property
    def key(self) -> str:
        text = "\x1f".join((self.dag_id, self.task_id, self.run_id, str(self.map_index)))
        return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]

    @property
    def id_prefix_template(self) -> str:
        return f"af-{self.key}"

    def children_prefix(self, parent_job_id: str) -> str:
        """Prefix of the IDs of every child this task instance dispatched from ``parent_job_id``.

        Nomad names children ``<parent>/dispatch-<template>-<unix secs>-<8 hex>``; the trailing
        dash keeps one key from matching another that merely starts with it.
        """
        return f"{parent_job_id}/dispatch-{self.id_prefix_template}-"

    def idempotency_token(self, try_number: int, *, cleared: bool = False) -> str:
        """``af-<key>-try<N>``, with ``-cleared`` for a try that started from a clear.

        The mark lets a later try tell which children came before the clear: a clear asks
        for the batch to run again, so their results are not this run's.
        """
        return f"{self.id_prefix_template}-try{try_number}" + ("-cleared" if cleared else "")
