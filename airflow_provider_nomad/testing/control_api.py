"""The ``/_emulator/`` control API: resets, counters, faults, nodes, tokens, namespaces, GC,
driver substitutions, Vault secrets for templates.

It lives beside the Nomad API on the Nomad port, outside ``/v1/``, and is never counted or
faulted. With ACLs on, every request must carry the management token (``X-Nomad-Token`` or
``Authorization: Bearer``), else 403 ``Permission denied``: the API mints tokens, and tasks run
commands. Without ACLs it is open, like the Nomad API.
:class:`~airflow_provider_nomad.testing.control.EmulatorControl` is its client.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, Router

from .middleware import Observatory
from .nomad.backend import NomadBackend
from .nomad.errors import PERMISSION_DENIED, NomadError
from .nomad.httputil import token_of

SERVICES = ("nomad", "consul")


class ControlApi:
    """Handlers of the control API.

    :param nomad: the Nomad backend.
    :param consul_reset: resets the Consul side (may return an awaitable).
    :param observatory: counters and faults.
    """

    def __init__(
        self,
        nomad: NomadBackend,
        consul_reset: Callable[[], Awaitable[None] | None],
        observatory: Observatory,
    ) -> None:
        self.nomad = nomad
        self.consul_reset = consul_reset
        self.observatory = observatory
        self.router = Router(
            routes=[
                Route("/_emulator/health", self.health, methods=["GET"]),
                Route("/_emulator/reset", self.reset, methods=["POST"]),
                Route("/_emulator/requests", self.requests, methods=["GET", "DELETE"]),
                Route("/_emulator/faults", self.faults, methods=["GET", "POST", "DELETE"]),
                Route("/_emulator/nodes", self.nodes, methods=["GET", "POST"]),
                Route("/_emulator/nodes/{node_id}", self.node, methods=["POST"]),
                Route("/_emulator/nodes/{node_id}/down", self.node_down, methods=["POST"]),
                Route("/_emulator/tokens", self.tokens, methods=["POST"]),
                Route("/_emulator/namespaces", self.namespaces, methods=["POST"]),
                Route("/_emulator/gc", self.gc, methods=["POST"]),
                Route("/_emulator/event-streams/cut", self.cut_event_streams, methods=["POST"]),
                Route("/_emulator/scheduler", self.scheduler, methods=["POST"]),
                Route("/_emulator/processes", self.processes, methods=["GET"]),
                Route(
                    "/_emulator/substitutions",
                    self.substitutions,
                    methods=["GET", "POST", "DELETE"],
                ),
                Route("/_emulator/vault/{path:path}", self.vault_secret, methods=["PUT"]),
                Route(
                    "/_emulator/substitutions/{substitution_id}",
                    self.substitution,
                    methods=["DELETE"],
                ),
            ]
        )

    async def __call__(self, scope, receive, send) -> None:
        if not self._authorized(scope):
            response: Response = PlainTextResponse(PERMISSION_DENIED, status_code=403)
            await response(scope, receive, send)
            return
        try:
            await self.router(scope, receive, send)
        except (ValueError, KeyError, TypeError, NomadError) as exc:
            status = exc.status if isinstance(exc, NomadError) else 400
            response = JSONResponse({"error": str(exc)}, status_code=status)
            await response(scope, receive, send)

    def _authorized(self, scope) -> bool:
        """Without ACLs anyone may drive the emulator; with them, the management token only."""
        acl = self.nomad.acl
        return not acl.enabled or acl.is_management_secret(token_of(Headers(scope=scope)))

    async def health(self, request: Request) -> Response:
        return JSONResponse({"ok": True, "index": self.nomad.state.index})

    async def cut_event_streams(self, request: Request) -> Response:
        self.nomad.events.cut_streams()
        return JSONResponse({"ok": True})

    async def scheduler(self, request: Request) -> Response:
        body = await request.json()
        held = body.get("held")
        if not isinstance(held, bool):
            raise ValueError('give {"held": true} or {"held": false}')
        self.nomad.scheduler.hold(held)
        return JSONResponse({"held": held})

    async def reset(self, request: Request) -> Response:
        self.nomad.reset()
        outcome = self.consul_reset()
        if inspect.isawaitable(outcome):  # a Consul agent that left starts again
            await outcome
        self.observatory.reset_counts()
        self.observatory.clear_faults()
        return JSONResponse({"ok": True})

    async def requests(self, request: Request) -> Response:
        service = _service(request.query_params.get("service"))
        if request.method == "DELETE":
            self.observatory.reset_counts(service if request.query_params.get("service") else None)
            return JSONResponse({"ok": True})
        counts = self.observatory.counts(service)
        return JSONResponse({"Counts": counts, "Total": sum(counts.values())})

    async def faults(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(self.observatory.faults())
        if request.method == "DELETE":
            self.observatory.clear_faults()
            return JSONResponse({"ok": True})
        spec = await _json(request)
        fault = self.observatory.add_fault(
            service=_service(spec.get("service")),
            route=str(spec["route"]),
            status=spec.get("status", 500),
            body=str(spec.get("body") or ""),
            count=spec.get("count", 1),
            drop=bool(spec.get("drop", False)),
            after_processing=bool(spec.get("after_processing", False)),
            delay=float(spec.get("delay") or 0.0),
            probability=spec.get("probability"),
            seed=spec.get("seed"),
        )
        return JSONResponse({"ID": fault.id})

    async def nodes(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse([n.to_dict() for n in self.nomad.state.nodes.values()])
        spec = await _json(request)
        node = self.nomad.add_node(**spec)
        return JSONResponse(node.to_dict())

    async def node(self, request: Request) -> Response:
        spec = await _json(request)
        node = self.nomad.set_node(request.path_params["node_id"], **spec)
        return JSONResponse(node.to_dict())

    async def node_down(self, request: Request) -> Response:
        evals = self.nomad.node_down(request.path_params["node_id"])
        return JSONResponse({"EvalIDs": evals})

    async def tokens(self, request: Request) -> Response:
        spec = await _json(request)
        token = self.nomad.acl.create(
            tuple(spec.get("namespaces") or ("default",)),
            tuple(spec.get("capabilities") or ()),
            str(spec.get("name") or ""),
        )
        return JSONResponse({"AccessorID": token.accessor_id, "SecretID": token.secret_id})

    async def namespaces(self, request: Request) -> Response:
        spec = await _json(request)
        return JSONResponse(
            self.nomad.create_namespace(str(spec["name"]), str(spec.get("description") or ""))
        )

    async def gc(self, request: Request) -> Response:
        spec = await _json(request)
        result = self.nomad.gc_job(str(spec.get("namespace") or "default"), str(spec["job_id"]))
        return JSONResponse(result)

    async def processes(self, request: Request) -> Response:
        return JSONResponse({"pids": self.nomad.supervisor.live_pids()})

    async def substitutions(self, request: Request) -> Response:
        """List, declare (one object, or a list of them) or clear driver substitutions."""
        declared = self.nomad.substitutions
        if request.method == "GET":
            return JSONResponse([s.to_dict() for s in declared.all()])
        if request.method == "DELETE":
            declared.reset()
            return JSONResponse({"ok": True})
        body = json.loads(await request.body() or b"{}")
        specs = body if isinstance(body, list) else [body]
        added = [self.nomad.substitute(spec) for spec in specs]
        return JSONResponse({"IDs": [s.id for s in added]})

    async def vault_secret(self, request: Request) -> Response:
        """Declare the data of a Vault secret that task templates read with ``secret``."""
        self.nomad.put_vault_secret(request.path_params["path"], await _json(request))
        return JSONResponse({"ok": True})

    async def substitution(self, request: Request) -> Response:
        substitution_id = request.path_params["substitution_id"]
        if not self.nomad.substitutions.remove(substitution_id):
            return JSONResponse({"error": f"no substitution {substitution_id}"}, status_code=404)
        return JSONResponse({"ok": True})


def _service(name: str | None) -> str:
    service = name or "nomad"
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}; expected one of {SERVICES}")
    return service


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data
