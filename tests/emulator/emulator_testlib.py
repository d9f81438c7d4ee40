"""Jobs and a small HTTP client for the emulator's own tests.

Jobs are JSON (the API form), built with raw_exec + ``/bin/sh`` so the contract tests also run
against a real Nomad client with ``raw_exec`` enabled; ``mock_driver`` jobs are for
emulator-only tests.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx

MS = 1_000_000
SECOND = 1_000 * MS


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sh_task(name: str, script: str, **extra: Any) -> dict[str, Any]:
    task = {
        "Name": name,
        "Driver": "raw_exec",
        "Config": {"command": "/bin/sh", "args": ["-c", script]},
    }
    task.update(extra)
    return task


def mock_task(name: str, **config: Any) -> dict[str, Any]:
    return {"Name": name, "Driver": "mock_driver", "Config": config}


def batch_job(
    job_id: str,
    tasks: list[dict[str, Any]],
    *,
    group: str = "g",
    count: int = 1,
    parameterized: dict[str, Any] | None = None,
    meta: dict[str, str] | None = None,
    restart: dict[str, Any] | None = None,
    reschedule: dict[str, Any] | None = None,
    constraints: list[dict[str, str]] | None = None,
    namespace: str | None = None,
    **job_fields: Any,
) -> dict[str, Any]:
    """A ``{"Job": ...}`` register body for a batch job with one task group."""
    task_group: dict[str, Any] = {"Name": group, "Count": count, "Tasks": tasks}
    if restart is not None:
        task_group["RestartPolicy"] = restart
    if reschedule is not None:
        task_group["ReschedulePolicy"] = reschedule
    job: dict[str, Any] = {
        "ID": job_id,
        "Type": "batch",
        "Datacenters": ["*"],
        "TaskGroups": [task_group],
    }
    if parameterized is not None:
        job["ParameterizedJob"] = parameterized
    if meta is not None:
        job["Meta"] = meta
    if constraints is not None:
        job["Constraints"] = constraints
    if namespace is not None:
        job["Namespace"] = namespace
    job.update(job_fields)
    return {"Job": job}


def no_restart() -> dict[str, Any]:
    return {"Attempts": 0, "Mode": "fail", "Interval": 10 * SECOND, "Delay": 100 * MS}


def no_reschedule() -> dict[str, Any]:
    return {"Attempts": 0, "Unlimited": False, "Interval": 10 * SECOND, "Delay": 100 * MS}


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


class Nomad:
    """httpx against a Nomad address (emulated or real), with the token if any.

    :param addr: base URL.
    :param token: ACL token sent as ``X-Nomad-Token``.
    """

    def __init__(self, addr: str, token: str | None = None, **client_kwargs: Any) -> None:
        headers = {"X-Nomad-Token": token} if token else {}
        self.http = httpx.Client(base_url=addr, headers=headers, timeout=60, **client_kwargs)

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        if body is not None and "content" not in kw:
            kw["content"] = json.dumps(body)
        return self.http.post(path, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        if body is not None and "content" not in kw:
            kw["content"] = json.dumps(body)
        return self.http.put(path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.delete(path, **kw)

    def register(self, body: dict[str, Any], **params: str) -> dict[str, Any]:
        response = self.post("/v1/jobs", body, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def dispatch(
        self, job_id: str, body: dict[str, Any] | None = None, **params: str
    ) -> httpx.Response:
        return self.post(
            f"/v1/job/{job_id}/dispatch", body if body is not None else {}, params=params
        )

    def wait(self, path: str, done, timeout: float = 30.0, **params: str) -> Any:
        """Blocking queries on ``path`` until ``done(body)``; returns that body."""
        import time

        deadline = time.monotonic() + timeout
        index = 0
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"{path}: condition not met within {timeout}s"
            query = dict(params, index=str(index), wait=f"{max(int(remaining * 1000), 1)}ms")
            response = self.get(path, params=query)
            if response.status_code == 200 and done(response.json()):
                return response.json()
            index = int(response.headers.get("X-Nomad-Index", index))

    def wait_allocs(self, job_id: str, done, timeout: float = 30.0, **params: str) -> list[dict]:
        return self.wait(f"/v1/job/{job_id}/allocations", done, timeout, **params)

    def wait_dead(self, job_id: str, timeout: float = 30.0, **params: str) -> dict:
        return self.wait(f"/v1/job/{job_id}", lambda j: j["Status"] == "dead", timeout, **params)

    def final_allocs(self, job_id: str, timeout: float = 30.0) -> list[dict]:
        """The job's allocation stubs once the job is dead."""
        self.wait_dead(job_id, timeout)
        return self.get(f"/v1/job/{job_id}/allocations").json()

    def logs(self, alloc_id: str, task: str, log_type: str = "stdout", **params: str) -> bytes:
        params = dict(task=task, type=log_type, plain="true", **params)
        response = self.get(f"/v1/client/fs/logs/{alloc_id}", params=params)
        assert response.status_code == 200, response.text
        return response.content


def decode_frames(raw: bytes) -> list[dict[str, Any]]:
    """Split concatenated JSON frames (no separator) the way a client must."""
    decoder = json.JSONDecoder()
    text = raw.decode()
    frames, pos = [], 0
    while pos < len(text):
        frame, pos = decoder.raw_decode(text, pos)
        frames.append(frame)
    return frames


def event_types(alloc: dict[str, Any], task: str) -> list[str]:
    return [e["Type"] for e in alloc["TaskStates"][task]["Events"]]
