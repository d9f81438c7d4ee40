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

from . import (
    acl_responses,
    client_responses,
    cluster_responses,
    deployment_responses,
    errors,
    event_responses,
    fs_responses,
    job_lifecycle_responses,
    responses,
    var_responses,
)
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
    "/v1/deployments": deployment_responses.deployments_request,
    "/v1/status/leader": responses.status_leader,
    "/v1/status/peers": responses.status_peers,
    "/v1/agent/self": responses.agent_self,
    "/v1/agent/members": cluster_responses.agent_members,
    "/v1/agent/servers": cluster_responses.agent_servers,
    "/v1/agent/join": cluster_responses.agent_join,
    "/v1/agent/force-leave": cluster_responses.agent_force_leave,
    "/v1/agent/health": cluster_responses.agent_health,
    "/v1/regions": responses.regions,
    "/v1/namespaces": responses.namespaces,
    "/v1/nodes": cluster_responses.nodes_request,
    "/v1/event/stream": event_responses.event_stream,
    "/v1/vars": var_responses.vars_request,
    "/v1/validate/job": job_lifecycle_responses.validate_job_request,
    "/v1/search": cluster_responses.search,
    "/v1/search/fuzzy": cluster_responses.fuzzy_search,
    "/v1/system/gc": cluster_responses.system_gc,
    "/v1/system/reconcile/summaries": cluster_responses.system_reconcile_summaries,
    "/v1/operator/raft/configuration": cluster_responses.operator_raft_configuration,
    "/v1/operator/raft/peer": cluster_responses.operator_raft_peer,
    "/v1/metrics": cluster_responses.metrics,
    "/v1/scaling/policies": cluster_responses.scaling_policies,
    "/v1/client/stats": client_responses.client_stats,
    "/v1/client/gc": client_responses.client_gc,
}
PREFIX: dict[str, PrefixHandler] = {
    "/v1/job/": responses.job_specific_request,
    "/v1/allocation/": responses.alloc_specific_request,
    "/v1/evaluation/": responses.eval_specific_request,
    "/v1/deployment/": deployment_responses.deployment_specific_request,
    "/v1/node/": cluster_responses.node_specific_request,
    "/v1/var/": var_responses.var_request,
    "/v1/acl/": acl_responses.acl_request,
    "/v1/scaling/policy/": cluster_responses.scaling_policy,
    "/v1/client/fs/": fs_responses.fs_request,
    "/v1/client/allocation/": client_responses.client_allocation_request,
}

# Routes Nomad serves that the emulator does not model: answered 501 naming the route, not 404.
NOT_EMULATED_EXACT = frozenset(
    {
        "/v1/jobs/statuses",
        "/v1/evaluations/count",
        "/v1/volumes",
        "/v1/plugins",
        "/v1/agent/host",
        "/v1/agent/monitor",
        "/v1/agent/pprof",
        "/v1/agent/keyring/list",
        "/v1/agent/schedulers",
        "/v1/services",
        "/v1/namespace",
        "/v1/node/pools",
        "/v1/operator/scheduler/configuration",
        "/v1/operator/autopilot/configuration",
        "/v1/operator/autopilot/health",
        "/v1/operator/keyring/keys",
        "/v1/operator/license",
        "/v1/recommendations",
        "/v1/quotas",
        "/v1/sentinel/policies",
    }
)
NOT_EMULATED_PREFIX = (
    "/v1/volume/",
    "/v1/plugin/",
    "/v1/agent/",
    "/v1/operator/",
    "/v1/service/",
    "/v1/namespace/",
    "/v1/node/pool/",
    "/v1/client/",
    "/v1/quota/",
    "/v1/sentinel/",
    "/v1/recommendation/",
    "/v1/job-scale/",
)

_TEMPLATES = [
    (
        re.compile(
            r"^/v1/job/.+/(allocations|evaluations|evaluate|summary|dispatch|versions|plan"
            r"|revert|stable|deployments|deployment)$"
        ),
        "/v1/job/:job_id/{0}",
    ),
    (re.compile(r"^/v1/job/.+$"), "/v1/job/:job_id"),
    (re.compile(r"^/v1/allocation/[^/]+/stop$"), "/v1/allocation/:alloc_id/stop"),
    (re.compile(r"^/v1/allocation/[^/]+$"), "/v1/allocation/:alloc_id"),
    (
        re.compile(r"^/v1/node/[^/]+/(drain|eligibility|evaluate|allocations)$"),
        "/v1/node/:node_id/{0}",
    ),
    (re.compile(r"^/v1/node/[^/]+$"), "/v1/node/:node_id"),
    (re.compile(r"^/v1/var/.+$"), "/v1/var/:path"),
    (
        re.compile(r"^/v1/deployment/(fail|pause|promote|allocation-health|allocations)/[^/]+$"),
        "/v1/deployment/{0}/:deployment_id",
    ),
    (re.compile(r"^/v1/deployment/[^/]+$"), "/v1/deployment/:deployment_id"),
    (re.compile(r"^/v1/acl/token/self$"), "/v1/acl/token/self"),
    (re.compile(r"^/v1/acl/(token|policy)/.+$"), "/v1/acl/{0}/:id"),
    (re.compile(r"^/v1/acl/(bootstrap|tokens|policies|token)$"), "/v1/acl/{0}"),
    (
        re.compile(r"^/v1/client/allocation/[^/]+/(stats|signal|restart|gc)$"),
        "/v1/client/allocation/:alloc_id/{0}",
    ),
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
