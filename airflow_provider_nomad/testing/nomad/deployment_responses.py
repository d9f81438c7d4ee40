"""``/v1/deployments`` and ``/v1/deployment/...``, after ``command/agent/deployment_endpoint.go``.

Reads are blocking queries on the deployment table; the actions (fail, pause/resume, promote,
allocation health) check the body's ``DeploymentID`` against the path, then act through
:mod:`.deployments` (a terminal deployment refuses with Nomad's texts, as HTTP 500).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from . import deployments, errors
from .httputil import QueryResult, blocking, error_response, field_of, json_response, meta_headers
from .responses import GET, WRITE_METHODS, Ctx, method_not_allowed, not_emulated


async def deployments_request(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    backend = ctx.backend
    if opts.namespace != "*":
        backend.acl.check(opts.token, opts.namespace, "read-job")
    allowed = backend.acl.allowed_namespaces(opts.token, "read-job", list(backend.state.namespaces))

    def run() -> QueryResult:
        found = sorted(backend.state.deployments.values(), key=lambda d: d.id)
        body = [
            d.to_dict()
            for d in found
            if d.id.startswith(opts.prefix)
            and (
                d.namespace == opts.namespace or (opts.namespace == "*" and d.namespace in allowed)
            )
        ]
        return QueryResult(
            body, backend.state.table_index["deployment"], (("table", "deployment"),)
        )

    result = await blocking(backend, opts, run)
    return json_response(result.body, result.index)


_ACTIONS = ("fail/", "pause/", "promote/", "allocation-health/")


async def deployment_specific_request(ctx: Ctx, path: str) -> Response:
    if path.startswith("allocations/"):
        return await _allocations(ctx, path[len("allocations/") :])
    if path.startswith("unblock/"):
        return not_emulated(f"{ctx.method} /v1/deployment/unblock/:deployment_id")
    for action in _ACTIONS:
        if path.startswith(action):
            return await _act(ctx, action[:-1], path[len(action) :])
    return await _query(ctx, path)


async def _query(ctx: Ctx, deployment_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    backend = ctx.backend
    backend.acl.authenticate(opts.token)

    def run() -> QueryResult:
        found = backend.state.deployments.get(deployment_id)
        index = found.modify_index if found else backend.state.table_index["deployment"]
        return QueryResult(found, index, (("deployment", deployment_id),))

    result = await blocking(backend, opts, run)
    if result.body is None:
        return error_response(
            errors.not_found(errors.DEPLOYMENT_NOT_FOUND), meta_headers(result.index)
        )
    backend.acl.check(opts.token, result.body.namespace, "read-job")
    return json_response(result.body.to_dict(), result.index)


async def _allocations(ctx: Ctx, deployment_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    backend = ctx.backend
    found = backend.state.deployments.get(deployment_id)
    if found is not None:
        backend.acl.check(opts.token, found.namespace, "read-job")

    def run() -> QueryResult:
        allocs = sorted(
            (a for a in backend.state.allocs.values() if a.deployment_id == deployment_id),
            key=lambda a: a.id,
        )
        return QueryResult(
            [a.stub() for a in allocs], backend.state.table_index["allocs"], (("table", "allocs"),)
        )

    result = await blocking(backend, opts, run)
    return json_response(result.body, result.index)


async def _act(ctx: Ctx, action: str, deployment_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = await ctx.body()
    given = field_of(body, "DeploymentID") if isinstance(body, dict) else None
    if not given:
        raise errors.bad_request("DeploymentID must be specified")
    if given != deployment_id:
        raise errors.bad_request("Deployment ID does not match")
    backend = ctx.backend
    deployment = backend.state.deployments.get(deployment_id)
    if deployment is None:
        raise errors.server_error(errors.DEPLOYMENT_NOT_FOUND)
    backend.acl.check(ctx.token, deployment.namespace, "submit-job")
    if action == "fail":
        index = deployments.fail(backend, deployment)
    elif action == "pause":
        index = deployments.pause(backend, deployment, bool(field_of(body, "Pause")))
    elif action == "promote":
        index = deployments.promote(backend, deployment, list(field_of(body, "Groups") or []))
    else:
        healthy = list(field_of(body, "HealthyAllocationIDs") or [])
        unhealthy = list(field_of(body, "UnhealthyAllocationIDs") or [])
        index = deployments.set_alloc_health(backend, deployment, healthy, unhealthy)
    reply: dict[str, Any] = {
        "EvalID": "",
        "EvalCreateIndex": 0,
        "DeploymentModifyIndex": index,
        "RevertedJobVersion": None,
        "Index": index,
    }
    return json_response(reply, index, write=True)
