"""A triggerer process in miniature, started with a low limit of open files.

``python open_files_triggerer.py LIMIT JOBS_JSON RELEASE``: lowers its soft limit of open files
to ``LIMIT``, then runs one ``NomadJobTrigger`` (logs followed) per job of ``JOBS_JSON``
(``[[job_id, eval_id], ...]``) in one event loop. Each batch prints ``batch ready``, waits for
``RELEASE`` and prints ``batch done``. Once every batch's ``batch ready`` reached the log (every
log stream open at once), or the first log stream failed for want of a descriptor, it creates
``RELEASE``. Prints one JSON object: the events, the log lines seen, the log-stream warnings
and the soft limit at the end.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sys
from pathlib import Path


class _Seen(logging.Handler):
    """Counts the batches' log lines and the log streams' warnings as they are logged."""

    def __init__(self, jobs: int, release: Path) -> None:
        super().__init__()
        self.jobs = jobs
        self.release_file = release
        self.lines: dict[str, int] = {"batch ready": 0, "batch done": 0}
        self.stream_warnings: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for line in self.lines:
            if message.endswith(line):
                self.lines[line] += 1
        if "log stream interrupted" in message:
            self.stream_warnings.append(message)
        if self.lines["batch ready"] == self.jobs or self.stream_warnings:
            self.release_file.touch()


async def _follow(jobs: list[list[str]]) -> list[dict]:
    from airflow_provider_nomad.triggers.nomad import NomadJobTrigger

    async def first_event(job_id: str, eval_id: str) -> dict:
        trigger = NomadJobTrigger(job_id=job_id, dispatch_eval_id=eval_id)
        trigger._log = logging.getLogger("triggerer")  # stdlib, where the counter listens
        async for event in trigger.run():
            return event.payload
        raise AssertionError("the trigger ended without an event")

    return await asyncio.gather(*(first_event(job_id, eval_id) for job_id, eval_id in jobs))


def main() -> None:
    limit, jobs, release = int(sys.argv[1]), json.loads(sys.argv[2]), Path(sys.argv[3])
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    seen = _Seen(len(jobs), release)
    logger = logging.getLogger("triggerer")
    logger.addHandler(seen)
    logger.setLevel(logging.INFO)
    events = asyncio.run(_follow(jobs))
    print(
        json.dumps(
            {
                "events": events,
                "lines": seen.lines,
                "stream_warnings": seen.stream_warnings[:5],
                "soft_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                "hard_limit": hard,
            }
        )
    )


if __name__ == "__main__":
    main()
