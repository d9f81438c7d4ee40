"""``/v1/vars`` and ``/v1/var/:path``, after ``command/agent/variable_endpoint.go``.

Reads are blocking queries on the variables table. A write answers the stored variable with
``X-Nomad-Index``; a failed check-and-set answers 409 with the conflicting variable; a delete
answers 204. The variable endpoint says ``Invalid method`` with a 400, not a 405.
"""

from __future__ import annotations

from starlette.responses import Response

from . import errors, variables
from .golang import GoError, parse_uint
from .httputil import QueryResult, blocking, error_response, field_of, json_response, meta_headers
from .responses import GET, WRITE_METHODS, Ctx, method_not_allowed, not_emulated

_LOCK_OPERATIONS = ("lock-acquire", "lock-release", "lock-renew")


async def vars_request(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    backend = ctx.backend
    names = sorted(backend.state.namespaces) if opts.namespace == "*" else [opts.namespace]
    allowed = backend.acl.allowed_namespaces(opts.token, "variables-list", names)
    if opts.namespace != "*" and not allowed:
        backend.acl.check(opts.token, opts.namespace, "variables-list")

    def run() -> QueryResult:
        items = variables.listing(backend, allowed, opts.prefix)
        return QueryResult(items, backend.state.table_index["variables"], (("table", "variables"),))

    result = await blocking(backend, opts, run)
    return json_response(result.body, result.index)


async def var_request(ctx: Ctx, path: str) -> Response:
    if not path:
        raise errors.bad_request(errors.MISSING_VARIABLE_PATH)
    if ctx.method == GET:
        return await _read(ctx, path)
    if ctx.method in WRITE_METHODS:
        lock = next((op for op in _LOCK_OPERATIONS if ctx.query.has(op)), "")
        if lock and ctx.query.get("cas"):
            raise errors.bad_request("CAS can't be used with lock operations")
        if lock:
            return not_emulated(f"{ctx.method} /v1/var/:path?{lock}")
        return await _upsert(ctx, path)
    if ctx.method == "DELETE":
        return await _delete(ctx, path)
    raise errors.bad_request(errors.INVALID_METHOD)


async def _read(ctx: Ctx, path: str) -> Response:
    opts = ctx.options()
    backend = ctx.backend
    backend.acl.check(opts.token, opts.namespace, "variables-read")
    key = (opts.namespace, path)

    def run() -> QueryResult:
        row = backend.state.variables.get(key)
        index = row.modify_index if row else backend.state.table_index["variables"]
        return QueryResult(row.to_dict() if row else None, index, (("table", "variables"),))

    result = await blocking(backend, opts, run)
    if result.body is None:
        return error_response(
            errors.not_found(errors.VARIABLE_NOT_FOUND), meta_headers(result.index)
        )
    return json_response(result.body, result.index)


def _cas(ctx: Ctx) -> int | None:
    text = ctx.query.get("cas")
    if not text:
        return None
    try:
        return parse_uint(text)
    except GoError as exc:
        raise errors.bad_request(errors.bad_cas(str(exc))) from exc


def _conflict(conflict: variables.VariableRecord) -> Response:
    return json_response(conflict.to_dict(), conflict.modify_index, 409, write=True)


async def _upsert(ctx: Ctx, path: str) -> Response:
    body = await ctx.body()
    items = field_of(body, "Items") if isinstance(body, dict) else None
    if not items:
        raise errors.bad_request(errors.VARIABLE_MISSING_ITEMS)
    if not isinstance(items, dict) or not all(isinstance(v, str) for v in items.values()):
        raise errors.bad_request(
            "json: cannot unmarshal value into Go struct field "
            "VariableDecrypted.Items of type string"
        )
    cas = _cas(ctx)
    namespace = ctx.write_namespace()
    ctx.check_write_region()
    ctx.backend.acl.check(ctx.token, namespace, "variables-write")
    try:
        row = variables.upsert(ctx.backend, namespace, path, items, cas)
    except variables.CasConflict as exc:
        return _conflict(exc.conflict)
    return json_response(row.to_dict(), row.modify_index, write=True)


async def _delete(ctx: Ctx, path: str) -> Response:
    cas = _cas(ctx)
    namespace = ctx.write_namespace()
    ctx.check_write_region()
    ctx.backend.acl.check(ctx.token, namespace, "variables-destroy")
    try:
        index = variables.delete(ctx.backend, namespace, path, cas)
    except variables.CasConflict as exc:
        return _conflict(exc.conflict)
    return Response(status_code=204, headers={"X-Nomad-Index": str(index)})
