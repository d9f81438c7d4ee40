"""Job version history (``job_version`` table): what ``/v1/job/:id/versions`` lists, what a
revert restores and what ``/stable`` marks.

Every upsert of a job's spec stores a new version (Nomad bumps ``Version`` on each
``UpsertJob``, a stop included); the last :data:`TRACKED_VERSIONS` are kept; a purge forgets
them all.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .records import JobRecord
    from .state import StateStore, Write

# structs.JobTrackedVersions
TRACKED_VERSIONS = 6


class JobVersions:
    """Snapshots of each job's versions, newest first."""

    def __init__(self, state: StateStore) -> None:
        self.state = state
        self._by_job: dict[tuple[str, str], list[JobRecord]] = {}

    def record(self, job: JobRecord) -> None:
        """Keep a snapshot of ``job`` as committed (called inside the write that stored it)."""
        snapshot = copy.copy(job)
        snapshot.spec = copy.deepcopy(job.spec)
        kept = [v for v in self._by_job.get(job.key, []) if v.version != job.version]
        self._by_job[job.key] = [snapshot, *kept][:TRACKED_VERSIONS]

    def forget(self, key: tuple[str, str]) -> None:
        self._by_job.pop(key, None)

    def versions(self, key: tuple[str, str]) -> list[JobRecord]:
        return list(self._by_job.get(key, []))

    def get(self, key: tuple[str, str], version: int) -> JobRecord | None:
        return next((v for v in self._by_job.get(key, []) if v.version == version), None)

    def mark_stable(self, w: Write, key: tuple[str, str], version: int, stable: bool) -> bool:
        """``UpdateJobStability``: flag one version (and the job, if it is the current one)."""
        snapshot = self.get(key, version)
        if snapshot is None:
            return False
        snapshot.spec["Stable"] = stable
        snapshot.modify_index = w.index
        job = self.state.jobs.get(key)
        if job is not None and job.version == version:
            job.spec["Stable"] = stable
            self.state.put_job(w, job)
        return True

    @staticmethod
    def as_dicts(versions: list[JobRecord]) -> list[dict[str, Any]]:
        return [v.to_dict() for v in versions]
