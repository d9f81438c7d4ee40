"""Thin HTTP handlers for the Nomad API: parse the request, check ACLs, call the backend.

Each handler mirrors its ``command/agent`` counterpart: method check first (405 ``Invalid
method``), then query parsing, then the RPC's checks (region, ACL), then the answer with
``X-Nomad-Index``/``X-Nomad-KnownLeader``/``X-Nomad-LastContact`` on reads.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import errors
from .backend import DispatchRequest, NomadBackend
from .golang import GoError, parse_bool
from .httputil import (
    PLAIN,
    Query,
    QueryOptions,
    QueryResult,
    blocking,
    check_region,
    decode_body,
    error_response,
    field_of,
    json_response,
    meta_headers,
    parse_query_options,
    token_of,
    type_error,
)

GET = "GET"
WRITE_METHODS = ("PUT", "POST")


@dataclass
class Ctx:
    """One request as the handlers see it."""

    backend: NomadBackend
    request: Request
    query: Query

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def token(self) -> str:
        return token_of(self.request.headers)

    def options(self) -> QueryOptions:
        opts = parse_query_options(self.query, self.request.headers, self.backend.region)
        check_region(opts.region, self.backend)
        return opts

    def write_namespace(self, body: dict[str, Any] | None = None) -> str:
        """``parseNamespace`` for writes: query, else the body's ``Namespace``, else default."""
        return self.query.get("namespace") or _str_field(body, "Namespace") or "default"

    def check_write_region(self, body: dict[str, Any] | None = None) -> None:
        region = self.query.get("region") or _str_field(body, "Region") or self.backend.region
        check_region(region, self.backend)

    async def body(self) -> Any:
        return decode_body(await self.request.body())


def _str_field(body: dict[str, Any] | None, name: str) -> str:
    value = field_of(body, name) if isinstance(body, dict) else None
    return value if isinstance(value, str) else ""


def method_not_allowed() -> errors.NomadError:
    return errors.NomadError(405, errors.INVALID_METHOD)


def not_emulated(what: str) -> Response:
    """A real Nomad route this emulator does not model: say so plainly, never fake a 200."""
    return Response(f"the Nomad emulator does not implement {what}", 501, media_type=PLAIN)


async def _read(ctx: Ctx, opts: QueryOptions, run) -> QueryResult:
    return await blocking(ctx.backend, opts, run)


# -- /v1/jobs ----------------------------------------------------------------------------------


async def jobs_request(ctx: Ctx) -> Response:
    if ctx.method == GET:
        return await _job_list(ctx)
    if ctx.method in WRITE_METHODS:
        return await _job_update(ctx, "")
    raise method_not_allowed()


async def _job_list(ctx: Ctx) -> Response:
    opts = ctx.options()
    backend = ctx.backend
    with_meta = bool(ctx.query.bool("meta"))
    namespaces = [opts.namespace]
    if opts.namespace == "*":
        names = sorted(backend.state.namespaces)
        namespaces = backend.acl.allowed_namespaces(opts.token, "list-jobs", names)
        if not namespaces:
            backend.acl.check(opts.token, "*", "list-jobs")
    else:
        backend.acl.check(opts.token, opts.namespace, "list-jobs")

    def run() -> QueryResult:
        state = backend.state
        jobs = [
            job.stub(state.summaries[job.key], with_meta)
            for ns in namespaces
            for job in state.jobs_sorted(ns, opts.prefix)
            if job.key in state.summaries
        ]
        index = max(state.table_index["jobs"], state.table_index["job_summary"])
        return QueryResult(jobs, index, (("table", "jobs"), ("table", "job_summary")))

    result = await _read(ctx, opts, run)
    return json_response(result.body, result.index)


async def _job_update(ctx: Ctx, job_id: str) -> Response:
    body = await ctx.body()
    if body is not None and not isinstance(body, dict):
        raise type_error(body, "JobRegisterRequest", "Job", "api.JobRegisterRequest")
    job = field_of(body or {}, "Job")
    if job is None:
        raise errors.bad_request(errors.JOB_MUST_BE_SPECIFIED)
    if not isinstance(job, dict):
        raise type_error(job, "JobRegisterRequest", "Job", "api.Job")
    if not isinstance(job.get("ID"), str):
        raise errors.bad_request(errors.JOB_ID_NOT_PROVIDED)
    if job_id and job["ID"] != job_id:
        raise errors.bad_request(errors.JOB_ID_DOES_NOT_MATCH_NAME)
    namespace = ctx.query.get("namespace") or _str_field(body, "Namespace") or job.get("Namespace")
    namespace = namespace or "default"
    region = ctx.query.get("region") or _str_field(body, "Region") or job.get("Region") or ""
    check_region("" if region == "global" else region, ctx.backend)
    ctx.backend.acl.check(ctx.token, namespace, "submit-job")
    enforce = None
    if field_of(body, "EnforceIndex"):
        enforce = (int(field_of(body, "JobModifyIndex") or 0),)
    reply = ctx.backend.register_job(job, namespace, enforce)
    return json_response(reply, reply["Index"], write=True)


async def jobs_parse_request(ctx: Ctx) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    namespace = ctx.query.get("namespace") or "default"
    ctx.backend.acl.check(ctx.token, namespace, "parse-job", "submit-job")
    body = await ctx.body()
    hcl = field_of(body, "JobHCL") if isinstance(body, dict) else None
    if not hcl:
        raise errors.bad_request(errors.JOB_SPEC_EMPTY)
    from . import jobspec  # written alongside; imported when first needed

    try:
        job = jobspec.parse_jobspec(
            hcl, bool(field_of(body, "Canonicalize")), field_of(body, "Variables") or ""
        )
    except ValueError as exc:
        message = str(exc)
        if message != errors.JOB_SPEC_EMPTY and not message.startswith("Failed to parse job"):
            message = f"Failed to parse job: {message}"
        raise errors.bad_request(message) from exc
    return json_response(job)


# -- /v1/job/:id[/...] -----------------------------------------------------------------------

_JOB_SUFFIXES_NOT_EMULATED = (
    "/periodic/force",
    "/scale",
    "/services",
    "/submission",
    "/actions",
    "/action",
)


async def job_specific_request(ctx: Ctx, path: str) -> Response:
    from . import job_lifecycle_responses as lifecycle  # they import this module's helpers

    for suffix, handler in (
        ("/allocations", _job_allocations),
        ("/evaluate", lifecycle.job_evaluate),
        ("/evaluations", _job_evaluations),
        ("/plan", lifecycle.job_plan),
        ("/summary", _job_summary),
        ("/dispatch", _job_dispatch),
        ("/versions", lifecycle.job_versions),
        ("/revert", lifecycle.job_revert),
        ("/deployments", lifecycle.job_deployments),
        ("/deployment", lifecycle.job_latest_deployment),
        ("/stable", lifecycle.job_stable),
    ):
        if path.endswith(suffix):
            return await handler(ctx, path[: -len(suffix)])
    for suffix in _JOB_SUFFIXES_NOT_EMULATED:
        if path.endswith(suffix):
            return not_emulated(f"{ctx.method} /v1/job/:job_id{suffix}")
    if ctx.method == GET:
        return await _job_query(ctx, path)
    if ctx.method in WRITE_METHODS:
        return await _job_update(ctx, path)
    if ctx.method == "DELETE":
        return await _job_delete(ctx, path)
    raise method_not_allowed()


async def _job_query(ctx: Ctx, job_id: str) -> Response:
    opts = ctx.options()
    ctx.backend.acl.check(opts.token, opts.namespace, "read-job")
    backend, key = ctx.backend, (opts.namespace, job_id)

    def run() -> QueryResult:
        job = backend.state.jobs.get(key)
        index = job.modify_index if job else backend.state.table_index["jobs"]
        return QueryResult(job.to_dict() if job else None, index, (("job", *key),))

    result = await _read(ctx, opts, run)
    if result.body is None:
        return error_response(errors.not_found(errors.JOB_NOT_FOUND), meta_headers(result.index))
    return json_response(result.body, result.index)


async def _job_delete(ctx: Ctx, job_id: str) -> Response:
    purge = ctx.query.bool("purge") or False
    ctx.query.bool("global")
    ctx.check_write_region()
    namespace = ctx.write_namespace()
    ctx.backend.acl.check(ctx.token, namespace, "submit-job")
    reply = ctx.backend.deregister_job(namespace, job_id, purge)
    return json_response(reply, reply["Index"], write=True)


async def _job_allocations(ctx: Ctx, job_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    any_index = _loose_bool(ctx.query.get("all"))
    opts = ctx.options()
    ctx.backend.acl.check(opts.token, opts.namespace, "read-job")
    backend, key = ctx.backend, (opts.namespace, job_id)

    def run() -> QueryResult:
        allocs = backend.state.job_allocs(key, any_create_index=any_index)
        stubs = [a.stub() for a in allocs]
        return QueryResult(stubs, backend.state.table_index["allocs"], (("job_allocs", *key),))

    result = await _read(ctx, opts, run)
    return json_response(result.body, result.index)


def _loose_bool(text: str) -> bool:
    """``strconv.ParseBool`` with the error ignored, as ``jobAllocations`` does."""
    try:
        return parse_bool(text)
    except GoError:
        return False


async def _job_evaluations(ctx: Ctx, job_id: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    ctx.backend.acl.check(opts.token, opts.namespace, "read-job")
    backend, key = ctx.backend, (opts.namespace, job_id)

    def run() -> QueryResult:
        evals = [e.to_dict() for e in backend.state.job_evals(key)]
        return QueryResult(evals, backend.state.table_index["evals"], (("job_evals", *key),))

    result = await _read(ctx, opts, run)
    return json_response(result.body, result.index)


async def _job_summary(ctx: Ctx, job_id: str) -> Response:
    opts = ctx.options()
    ctx.backend.acl.check(opts.token, opts.namespace, "read-job")
    backend, key = ctx.backend, (opts.namespace, job_id)

    def run() -> QueryResult:
        summary = backend.state.summaries.get(key)
        index = summary.modify_index if summary else backend.state.table_index["job_summary"]
        body = summary.to_dict() if summary else None
        return QueryResult(body, index, (("summary", *key),))

    result = await _read(ctx, opts, run)
    if result.body is None:
        return error_response(errors.not_found(errors.JOB_NOT_FOUND), meta_headers(result.index))
    return json_response(result.body, result.index)


async def _job_dispatch(ctx: Ctx, job_id: str) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    body = await ctx.body()
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise type_error(body, "JobDispatchRequest", "", "structs.JobDispatchRequest")
    request = _dispatch_request(body)
    body_job = field_of(body, "JobID")
    if body_job and body_job != job_id:
        raise errors.bad_request(errors.JOB_ID_DOES_NOT_MATCH)
    ctx.check_write_region(body)
    namespace = ctx.write_namespace(body)
    request.idempotency_token = ctx.query.get("idempotency_token") or request.idempotency_token
    ctx.backend.acl.check(ctx.token, namespace, "dispatch-job")
    reply = ctx.backend.dispatch(namespace, body_job or job_id, request)
    return json_response(reply, reply["Index"], write=True)


def _string_field(body: dict[str, Any], name: str) -> str:
    value = field_of(body, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise type_error(value, "JobDispatchRequest", name, "string")
    return value


def _dispatch_request(body: dict[str, Any]) -> DispatchRequest:
    """Decode ``structs.JobDispatchRequest`` (unknown keys ignored, like Go)."""
    payload = field_of(body, "Payload")
    if payload is not None and not isinstance(payload, str):
        raise type_error(payload, "JobDispatchRequest", "Payload", "[]uint8")
    try:
        raw = base64.b64decode(payload or "", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise errors.bad_request(_base64_error(payload or "")) from exc
    meta = field_of(body, "Meta")
    if meta is not None and not isinstance(meta, dict):
        raise type_error(meta, "JobDispatchRequest", "Meta", "map[string]string")
    for value in (meta or {}).values():
        if not isinstance(value, str):
            raise type_error(value, "JobDispatchRequest", "Meta", "string")
    priority = field_of(body, "Priority") or 0
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise type_error(priority, "JobDispatchRequest", "Priority", "int")
    return DispatchRequest(
        payload=raw,
        meta=dict(meta or {}),
        id_prefix_template=_string_field(body, "IdPrefixTemplate"),
        idempotency_token=_string_field(body, "IdempotencyToken"),
        priority=priority,
    )


def _base64_error(text: str) -> str:
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for i, char in enumerate(text):
        if char not in alphabet and char != "=":
            return f"illegal base64 data at input byte {i}"
    return f"illegal base64 data at input byte {len(text)}"


# -- allocations and evaluations --------------------------------------------------------------


async def allocs_request(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    backend = ctx.backend
    if opts.namespace != "*":
        backend.acl.check(opts.token, opts.namespace, "read-job")
    allowed = None
    if opts.namespace == "*":
        allowed = set(
            backend.acl.allowed_namespaces(opts.token, "read-job", list(backend.state.namespaces))
        )
    with_states = ctx.query.get("task_states") != "false"
    with_resources = bool(ctx.query.bool("resources"))

    def run() -> QueryResult:
        stubs = []
        for alloc in sorted(backend.state.allocs.values(), key=lambda a: a.id):
            if not alloc.id.startswith(opts.prefix):
                continue
            if allowed is None and alloc.namespace != opts.namespace:
                continue
            if allowed is not None and alloc.namespace not in allowed:
                continue
            stub = alloc.stub(resources=with_resources)
            if not with_states:
                stub["TaskStates"] = None
            stubs.append(stub)
        return QueryResult(stubs, backend.state.table_index["allocs"], (("table", "allocs"),))

    result = await _read(ctx, opts, run)
    return json_response(result.body, result.index)


async def alloc_specific_request(ctx: Ctx, path: str) -> Response:
    if path.endswith("/stop"):
        return await _alloc_stop(ctx, path[: -len("/stop")])
    for suffix in ("/services", "/checks", "/pause"):
        if path.endswith(suffix):
            return not_emulated(f"{ctx.method} /v1/allocation/:alloc_id{suffix}")
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    backend = ctx.backend
    backend.acl.authenticate(opts.token)

    def run() -> QueryResult:
        alloc = backend.state.allocs.get(path)
        index = alloc.modify_index if alloc else backend.state.table_index["allocs"]
        return QueryResult(alloc, index, (("alloc", path),))

    result = await _read(ctx, opts, run)
    if result.body is None:
        return error_response(errors.not_found(errors.ALLOC_NOT_FOUND), meta_headers(result.index))
    backend.acl.check(opts.token, result.body.namespace, "read-job")
    return json_response(result.body.to_dict(), result.index)


async def _alloc_stop(ctx: Ctx, alloc_id: str) -> Response:
    """``Alloc.Stop``: the allocation is migrated (replaced), its eval answered."""
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    backend = ctx.backend
    backend.acl.authenticate(ctx.token)
    alloc = backend.state.allocs.get(alloc_id)
    if alloc is None:
        raise errors.not_found(errors.unknown_allocation(alloc_id))
    backend.acl.check(ctx.token, alloc.namespace, "alloc-lifecycle")
    reply = backend.stop_alloc(alloc)
    return json_response(reply, reply["Index"], write=True)


async def evals_request(ctx: Ctx) -> Response:
    if ctx.method == "DELETE":
        return not_emulated("DELETE /v1/evaluations")
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    backend = ctx.backend
    backend.acl.check(opts.token, opts.namespace, "read-job")
    status, job = ctx.query.get("status"), ctx.query.get("job")

    def run() -> QueryResult:
        evals = [
            e.to_dict()
            for e in sorted(backend.state.evals.values(), key=lambda e: e.id)
            if (opts.namespace == "*" or e.namespace == opts.namespace)
            and e.id.startswith(opts.prefix)
            and (not status or e.status == status)
            and (not job or e.job_id == job)
        ]
        return QueryResult(evals, backend.state.table_index["evals"], (("table", "evals"),))

    result = await _read(ctx, opts, run)
    return json_response(result.body, result.index)


async def eval_specific_request(ctx: Ctx, path: str) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    if path.endswith("/allocations"):
        return await _eval_allocations(ctx, path[: -len("/allocations")])
    opts = ctx.options()
    backend = ctx.backend
    backend.acl.authenticate(opts.token)

    def run() -> QueryResult:
        ev = backend.state.evals.get(path)
        index = ev.modify_index if ev else backend.state.table_index["evals"]
        return QueryResult(ev, index, (("eval", path),))

    result = await _read(ctx, opts, run)
    if result.body is None:
        return error_response(errors.not_found(errors.EVAL_NOT_FOUND), meta_headers(result.index))
    backend.acl.check(opts.token, result.body.namespace, "read-job")
    return json_response(result.body.to_dict(), result.index)


async def _eval_allocations(ctx: Ctx, eval_id: str) -> Response:
    opts = ctx.options()
    backend = ctx.backend
    backend.acl.authenticate(opts.token)
    ev = backend.state.evals.get(eval_id)
    if ev is not None:
        backend.acl.check(opts.token, ev.namespace, "read-job")

    def run() -> QueryResult:
        allocs = sorted(
            (a for a in backend.state.allocs.values() if a.eval_id == eval_id),
            key=lambda a: a.id,
        )
        stubs = [a.stub() for a in allocs]
        return QueryResult(stubs, backend.state.table_index["allocs"], (("table", "allocs"),))

    result = await _read(ctx, opts, run)
    return json_response(result.body, result.index)


# -- agent, status, cluster ------------------------------------------------------------------


async def status_leader(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    ctx.options()
    return json_response("127.0.0.1:4647")


async def status_peers(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    ctx.options()
    return json_response(["127.0.0.1:4647"])


async def regions(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    return json_response([ctx.backend.region])


async def agent_self(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    backend = ctx.backend
    if backend.acl.enabled and not backend.acl.is_management(ctx.token):
        raise errors.forbidden()
    node = next(iter(backend.state.nodes.values()), None)
    config = {
        "Region": backend.region,
        "Datacenter": node.datacenter if node else "dc1",
        "NodeName": node.name if node else "node-1",
        "Version": {"Version": "2.0.0", "VersionPrerelease": "", "VersionMetadata": "emulator"},
        "ACL": {"Enabled": backend.acl.enabled},
        "Server": {"Enabled": True},
        "Client": {"Enabled": True},
    }
    member = {"Name": f"{config['NodeName']}.{backend.region}", "Status": "alive"}
    stats = {"nomad": {"leader": "true", "known_regions": "1", "server": "true"}}
    return json_response({"config": config, "member": member, "stats": stats})


async def namespaces(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    backend = ctx.backend

    def run() -> QueryResult:
        items = [dict(ns) for _, ns in sorted(backend.state.namespaces.items())]
        return QueryResult(
            items, backend.state.table_index["namespaces"], (("table", "namespaces"),)
        )

    result = await _read(ctx, opts, run)
    return json_response(result.body, result.index)
