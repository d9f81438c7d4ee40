"""``EmulatorControl``: a small httpx client of the emulator's ``/_emulator/`` control API.

The ``wait_*`` methods wait through the Nomad API's blocking queries (``index``/``wait``), never
by sleeping.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable
from typing import Any

import httpx

#: Why a control call is refused, said where the refusal is reported.
ACL_HINT = " (the emulator enforces ACLs: pass its management token, Emulator.token)"


def _tls_context(verify: bool | str, cert: tuple[str, str] | None) -> bool | ssl.SSLContext:
    if isinstance(verify, bool) and cert is None:
        return verify
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert is not None:
        context.load_cert_chain(*cert)
    return context


class EmulatorControl:
    """Drive an emulator from tests and benchmarks.

    :param base_url: the emulator's Nomad address (``http://127.0.0.1:PORT``).
    :param token: the emulator's management token (``Emulator.token``), sent with every request;
        needed when it enforces ACLs, for the control API and the ``wait_*`` methods alike.
    :param verify: TLS verification (CA bundle path or bool) for an HTTPS emulator.
    :param cert: client certificate ``(cert, key)`` for an emulator requiring mTLS.
    """

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        verify: bool | str = True,
        cert: tuple[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"X-Nomad-Token": token} if token else None,
            verify=_tls_context(verify, cert),
            timeout=60,
            # A fresh connection per call: control calls come minutes apart in a benchmark, and
            # the server closes an idle kept-alive connection after 5 s, which a call racing
            # that close saw as a connection reset.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    def __repr__(self) -> str:
        return f"EmulatorControl({self.base_url!r})"

    def close(self) -> None:
        self._client.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        # Reads and resets may be sent again: an emulator busy with thousands of allocations
        # has reset a connection under one (seen after dispatching 10,000 batches).
        attempts = 3 if method in ("GET", "DELETE") else 1
        for attempt in range(attempts):
            try:
                response = self._client.request(method, f"/_emulator/{path}", **kwargs)
                break
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError):
                if attempt == attempts - 1:
                    raise
        if response.status_code >= 400:
            raise RuntimeError(
                f"control API {method} {path}: {response.status_code} {response.text}"
                + (ACL_HINT if response.status_code == 403 else "")
            )
        return response.json()

    # -- state -------------------------------------------------------------------------------

    def reset(self) -> None:
        """Drop all jobs/allocs/evals/tokens/faults/counters, kill tasks, restore node-1."""
        self._call("POST", "reset")

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")

    # -- counters and faults -----------------------------------------------------------------

    def request_counts(self, service: str = "nomad") -> dict[str, int]:
        """Requests per route template, e.g. ``{"GET /v1/job/:job_id/allocations": 3}``."""
        return self._call("GET", "requests", params={"service": service})["Counts"]

    def total_requests(self, service: str = "nomad") -> int:
        return self._call("GET", "requests", params={"service": service})["Total"]

    def reset_counts(self, service: str | None = None) -> None:
        params = {"service": service} if service else {}
        self._call("DELETE", "requests", params=params)

    def inject_fault(
        self,
        route: str,
        status: int | None = 500,
        body: str = "No cluster leader",
        count: int | None = 1,
        drop: bool = False,
        delay: float = 0.0,
        probability: float | None = None,
        seed: int | None = None,
        service: str = "nomad",
        after_processing: bool = False,
    ) -> str:
        """Make matching requests fail.

        :param route: a route template (``"GET /v1/job/:job_id/allocations"``) or ``"*"``
            for any ``/v1`` route.
        :param status: status to answer; None (or 0) passes the request on after ``delay``.
        :param count: how many requests it applies to; None for all.
        :param drop: close the connection without answering.
        :param after_processing: with ``drop``, let the service handle the request first and
            lose only its answer (a response dropped on the way back: the change happened).
        :param delay: seconds to wait before answering (or passing on).
        :param probability: apply to this fraction of matching requests.
        :param seed: seed for ``probability``'s random draws.
        :returns: the fault's id.
        """
        spec = {
            "route": route,
            "status": status,
            "body": body,
            "count": count,
            "drop": drop,
            "delay": delay,
            "probability": probability,
            "seed": seed,
            "service": service,
            "after_processing": after_processing,
        }
        return self._call("POST", "faults", json=spec)["ID"]

    def cut_event_streams(self) -> None:
        """Break the connection of every open ``/v1/event/stream`` (later ones are served)."""
        self._call("POST", "event-streams/cut")

    def hold_scheduler(self) -> None:
        """Leave new evaluations pending (a busy scheduler) until :meth:`release_scheduler`."""
        self._call("POST", "scheduler", json={"held": True})

    def release_scheduler(self) -> None:
        """Process the evaluations held since :meth:`hold_scheduler`, and new ones at once."""
        self._call("POST", "scheduler", json={"held": False})

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "faults")

    # -- nodes ---------------------------------------------------------------------------------

    def add_node(
        self,
        name: str = "node-2",
        cpu: int = 4000,
        memory: int = 8192,
        drivers: Iterable[str] = ("raw_exec", "exec", "mock_driver"),
        datacenter: str = "dc1",
        meta: dict[str, str] | None = None,
        attributes: dict[str, str] | None = None,
    ) -> str:
        """Add a ready client node; returns its ID."""
        spec = {
            "name": name,
            "cpu": cpu,
            "memory": memory,
            "drivers": list(drivers),
            "datacenter": datacenter,
            "meta": meta or {},
            "attributes": attributes or {},
        }
        return self._call("POST", "nodes", json=spec)["ID"]

    def nodes(self) -> list[dict[str, Any]]:
        return self._call("GET", "nodes")

    def set_node(
        self,
        node_id: str,
        cpu: int | None = None,
        memory: int | None = None,
        drivers: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Change a node's capacity or drivers (``node_id`` may also be its name)."""
        spec = {"cpu": cpu, "memory": memory, "drivers": list(drivers) if drivers else None}
        return self._call("POST", f"nodes/{node_id}", json=spec)

    def node_down(self, node_id: str) -> list[str]:
        """Mark a node down: its running allocations become lost; returns the new eval IDs."""
        return self._call("POST", f"nodes/{node_id}/down")["EvalIDs"]

    # -- jobs, tokens, namespaces --------------------------------------------------------------

    def gc_job(self, job_id: str, namespace: str = "default") -> dict[str, Any]:
        """Garbage-collect a job's terminal allocations (and the job once it is dead)."""
        return self._call("POST", "gc", json={"job_id": job_id, "namespace": namespace})

    def create_token(
        self,
        namespaces: Iterable[str] = ("default",),
        capabilities: Iterable[str] = ("dispatch-job", "read-job", "read-logs", "submit-job"),
        name: str = "",
    ) -> str:
        """Create an ACL token for ``namespaces`` with ``capabilities``; returns its secret."""
        spec = {"namespaces": list(namespaces), "capabilities": list(capabilities), "name": name}
        return self._call("POST", "tokens", json=spec)["SecretID"]

    def create_namespace(self, name: str, description: str = "") -> None:
        self._call("POST", "namespaces", json={"name": name, "description": description})

    def live_pids(self) -> list[int]:
        """PIDs of task processes still running."""
        return self._call("GET", "processes")["pids"]

    # -- driver substitutions ----------------------------------------------------------------

    def substitute(
        self,
        driver: str = "",
        image: str = "",
        command: Iterable[str] | None = None,
        *,
        append_args: bool = False,
        env: dict[str, str] | None = None,
        run_for: str | float | None = None,
        exit_code: int | None = None,
        stdout: str | None = None,
        stderr: str | None = None,
        mock: dict[str, Any] | None = None,
    ) -> str:
        """Run the tasks of ``driver`` (and/or whose config ``image`` matches the glob
        ``image``) as a local command, or as a mock behaviour, instead of failing placement.

        :param command: an argv run like a ``raw_exec`` task: in the task directory, with the
            task's environment; ``${NOMAD_...}`` in it are interpolated.
        :param append_args: append the task config's ``args`` to ``command``.
        :param env: more environment variables for ``command``.
        :param run_for: mock: how long the task runs (seconds, or a Go duration such as "2s").
        :param exit_code: mock: the exit code.
        :param stdout: mock: text written to stdout.
        :param stderr: mock: text written to stderr.
        :param mock: mock: any other ``mock_driver`` options.
        :returns: the substitution's id (for :meth:`remove_substitution`).
        """
        behaviour = dict(mock or {})
        if run_for is not None:
            behaviour["run_for"] = f"{run_for}s" if isinstance(run_for, int | float) else run_for
        if exit_code is not None:
            behaviour["exit_code"] = exit_code
        if stdout is not None:
            behaviour["stdout_string"] = stdout
        if stderr is not None:
            behaviour["stderr_string"] = stderr
        spec = {
            "driver": driver,
            "image": image,
            "command": list(command or []),
            "append_args": append_args,
            "env": env or {},
            "mock": behaviour,
        }
        return self._call("POST", "substitutions", json=spec)["IDs"][0]

    def substitutions(self) -> list[dict[str, Any]]:
        return self._call("GET", "substitutions")

    def remove_substitution(self, substitution_id: str) -> None:
        self._call("DELETE", f"substitutions/{substitution_id}")

    def clear_substitutions(self) -> None:
        """Drop the substitutions declared through this API (those given at start stay)."""
        self._call("DELETE", "substitutions")

    def vault_secret(self, path: str, data: dict[str, Any]) -> None:
        """Declare a Vault secret for task templates: ``{{ with secret "path" }}{{ .Data.key
        }}{{ end }}`` reads ``data`` (the emulator has no Vault; undeclared paths fail)."""
        self._call("PUT", f"vault/{path.strip('/')}", json=data)

    # -- waiting (blocking queries) -----------------------------------------------------------

    def _wait_for(self, path: str, params: dict[str, str], done, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        index = 0
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{path}: condition not met within {timeout}s")
            query = dict(params, index=str(index), wait=f"{max(int(remaining * 1000), 1)}ms")
            response = self._client.get(path, params=query)
            if response.status_code == 200:
                body = response.json()
                if done(body):
                    return body
            index = int(response.headers.get("X-Nomad-Index", index))

    def wait_alloc_status(
        self, alloc_id: str, statuses: Iterable[str], timeout: float = 30
    ) -> dict[str, Any]:
        """Wait until the allocation's ``ClientStatus`` is one of ``statuses``."""
        wanted = set([statuses] if isinstance(statuses, str) else statuses)
        return self._wait_for(
            f"/v1/allocation/{alloc_id}", {}, lambda a: a["ClientStatus"] in wanted, timeout
        )

    def wait_job_status(
        self,
        job_id: str,
        statuses: Iterable[str],
        namespace: str = "default",
        timeout: float = 30,
    ) -> dict[str, Any]:
        """Wait until the job's ``Status`` is one of ``statuses``."""
        wanted = set([statuses] if isinstance(statuses, str) else statuses)
        return self._wait_for(
            f"/v1/job/{job_id}", {"namespace": namespace}, lambda j: j["Status"] in wanted, timeout
        )

    def wait_eval_status(
        self, eval_id: str, statuses: Iterable[str], timeout: float = 30
    ) -> dict[str, Any]:
        wanted = set([statuses] if isinstance(statuses, str) else statuses)
        return self._wait_for(
            f"/v1/evaluation/{eval_id}", {}, lambda e: e["Status"] in wanted, timeout
        )

    def wait_allocations(
        self, job_id: str, predicate, namespace: str = "default", timeout: float = 30
    ) -> list[dict[str, Any]]:
        """Wait until ``predicate(stubs)`` holds for the job's allocation stubs."""
        return self._wait_for(
            f"/v1/job/{job_id}/allocations", {"namespace": namespace}, predicate, timeout
        )
