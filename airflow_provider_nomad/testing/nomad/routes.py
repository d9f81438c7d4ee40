"""The Nomad route table: Go ``http.ServeMux`` semantics over the handlers.

Exact paths and subtree prefixes as ``command/agent/http.go`` registers them; a request naming
a subtree root without its slash is redirected (301) like ServeMux does; ``/`` redirects to
``/ui/``; anything else is a 404 with an empty body — never a silent 200.
"""

from __future__ import annotations

import logging
import posixpath
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from . import errors, fs_responses, responses
from .backend import NomadBackend
from .httputil import PLAIN, Query, error_response
from .responses import Ctx

log = logging.getLogger(__name__)

Handler = Callable[[Ctx], Awaitable[Response]]
PrefixHandler = Callable[[Ctx, str], Awaitable[Response]]

EXACT: dict[str, Handler] = {
    "/v1/jobs": responses.jobs_request,
    "/v1/jobs/parse": responses.jobs_parse_request,
    "/v1/allocations": responses.allocs_request,
    "/v1/evaluations": responses.evals_request,
    "/v1/status/leader": responses.status_leader,
    "/v1/status/peers": responses.status_peers,
    "/v1/agent/self": responses.agent_self,
    "/v1/regions": responses.regions,
    "/v1/namespaces": responses.namespaces,
    "/v1/nodes": responses.nodes,
}
PREFIX: dict[str, PrefixHandler] = {
    "/v1/job/": responses.job_specific_request,
    "/v1/allocation/": responses.alloc_specific_request,
    "/v1/evaluation/": responses.eval_specific_request,
    "/v1/client/fs/": fs_responses.fs_request,
}

# Routes Nomad serves that the emulator does not model: answered 501, not 404.
NOT_EMULATED_EXACT = frozenset(
    {
        "/v1/jobs/statuses",
        "/v1/deployments",
        "/v1/evaluations/count",
        "/v1/volumes",
        "/v1/plugins",
        "/v1/acl/policies",
        "/v1/acl/tokens",
        "/v1/acl/token",
        "/v1/acl/bootstrap",
        "/v1/acl/roles",
        "/v1/client/gc",
        "/v1/client/stats",
        "/v1/agent/members",
        "/v1/agent/servers",
        "/v1/agent/health",
        "/v1/agent/host",
        "/v1/agent/monitor",
        "/v1/services",
        "/v1/metrics",
        "/v1/validate/job",
        "/v1/search",
        "/v1/search/fuzzy",
        "/v1/system/gc",
        "/v1/event/stream",
        "/v1/namespace",
        "/v1/vars",
        "/v1/node/pools",
    }
)
NOT_EMULATED_PREFIX = (
    "/v1/node/",
    "/v1/deployment/",
    "/v1/volume/",
    "/v1/plugin/",
    "/v1/acl/",
    "/v1/client/allocation/",
    "/v1/agent/",
    "/v1/operator/",
    "/v1/scaling/",
    "/v1/service/",
    "/v1/namespace/",
    "/v1/var/",
)

_TEMPLATES = [
    (re.compile(r"^/v1/job/.+/(allocations|evaluations|summary|dispatch)$"), "/v1/job/:job_id/{0}"),
    (re.compile(r"^/v1/job/.+$"), "/v1/job/:job_id"),
    (re.compile(r"^/v1/allocation/[^/]+$"), "/v1/allocation/:alloc_id"),
    (re.compile(r"^/v1/evaluation/[^/]+/allocations$"), "/v1/evaluation/:eval_id/allocations"),
    (re.compile(r"^/v1/evaluation/[^/]+$"), "/v1/evaluation/:eval_id"),
    (
        re.compile(r"^/v1/client/fs/(logs|cat|readat|ls|stat|stream)/.*$"),
        "/v1/client/fs/{0}/:alloc_id",
    ),
]


def route_template(method: str, path: str) -> str:
    """``"GET /v1/job/:job_id/allocations"`` for a request; the raw path when unknown."""
    if path in EXACT:
        return f"{method} {path}"
    for pattern, template in _TEMPLATES:
        match = pattern.match(path)
        if match:
            return f"{method} {template.format(*match.groups())}"
    return f"{method} {path}"


def _clean(path: str) -> str:
    cleaned = posixpath.normpath(path) if path else "/"
    if path.endswith("/") and cleaned != "/":
        cleaned += "/"
    return cleaned


class NomadApp:
    """ASGI app serving the emulated Nomad HTTP API.

    :param backend: the model behind it.
    """

    def __init__(self, backend: NomadBackend) -> None:
        self.backend = backend

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._route(request)
        except errors.NomadError as exc:
            response = error_response(exc)
        except Exception as exc:  # a bug in the emulator: answer like Go's recover would
            log.exception("emulator handler failed")
            response = Response(f"emulator error: {exc}", 500, media_type=PLAIN)
        await response(scope, receive, send)

    async def _route(self, request: Request) -> Response:
        path = request.scope["path"]
        cleaned = _clean(path)
        if cleaned != path:
            return _redirect(request, cleaned, 301)
        ctx = Ctx(self.backend, request, Query(request.scope.get("query_string", b"")))
        handler = EXACT.get(path)
        if handler is not None:
            return await handler(ctx)
        for prefix, prefix_handler in PREFIX.items():
            if path.startswith(prefix):
                return await prefix_handler(ctx, path[len(prefix) :])
            if path == prefix[:-1]:
                return _redirect(request, prefix, 301)
        if path in NOT_EMULATED_EXACT or path.startswith(NOT_EMULATED_PREFIX):
            return responses.not_emulated(f"{request.method} {path}")
        if path == "/":
            return _redirect(request, "/ui/", 307)
        if path.startswith("/ui/"):
            return Response("<html><p>Nomad UI is disabled</p></html>", 200, media_type="text/html")
        return Response(b"", 404)


def _redirect(request: Request, target: str, status: int) -> Response:
    query = request.scope.get("query_string", b"").decode()
    url = f"{target}?{query}" if query else target
    return RedirectResponse(url, status_code=status)
