"""Nomad job definitions (API JSON) for the operator tests.

The batches are real ``raw_exec`` subprocesses running this interpreter, so what the task log
shows is what a real program printed.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Any

NS = 1_000_000_000


def batch_job(
    job_id: str,
    script: str,
    *,
    meta_required: tuple[str, ...] = (),
    meta_optional: tuple[str, ...] = (),
    payload: str = "optional",
    parameterized: bool = True,
    restart_attempts: int = 0,
    reschedule_attempts: int = 0,
    memory_mb: int = 64,
    driver: str = "raw_exec",
    config: dict[str, Any] | None = None,
    datacenters: tuple[str, ...] = ("dc1",),
) -> dict[str, Any]:
    """A batch job whose single task runs ``script`` with this Python interpreter."""
    task: dict[str, Any] = {
        "Name": "main",
        "Driver": driver,
        "Config": config
        or {"command": sys.executable, "args": ["-u", "-c", textwrap.dedent(script)]},
        "Resources": {"CPU": 100, "MemoryMB": memory_mb},
        "LogConfig": {"MaxFiles": 3, "MaxFileSizeMB": 1},
        "DispatchPayload": {"File": "payload.json"},
    }
    job: dict[str, Any] = {
        "ID": job_id,
        "Name": job_id,
        "Type": "batch",
        "Datacenters": list(datacenters),
        "TaskGroups": [
            {
                "Name": "batch",
                "Count": 1,
                "RestartPolicy": {
                    "Attempts": restart_attempts,
                    "Interval": 3600 * NS,
                    "Delay": NS // 10,
                    "Mode": "fail",
                },
                "ReschedulePolicy": {
                    "Attempts": reschedule_attempts,
                    "Interval": 3600 * NS,
                    "Delay": NS // 10,
                    "DelayFunction": "constant",
                    "Unlimited": False,
                },
                "Tasks": [task],
            }
        ],
    }
    if parameterized:
        job["ParameterizedJob"] = {
            "Payload": payload,
            "MetaRequired": list(meta_required),
            "MetaOptional": list(meta_optional),
        }
    return job
