"""``/v1/acl/...``: bootstrap, tokens and policies, after ``command/agent/acl_endpoint.go``
and ``nomad/acl_endpoint.go``.

Writes and listings need a management token; ``token/self`` answers the caller's own token;
a policy may be read by a token that holds it. With ACLs disabled every call answers 400
``ACL support disabled``, as Nomad does.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from . import errors
from .httputil import QueryResult, blocking, error_response, json_response, meta_headers, type_error
from .responses import GET, WRITE_METHODS, Ctx, method_not_allowed, not_emulated
from .state_events import (
    ACL_POLICY_DELETED,
    ACL_POLICY_UPSERTED,
    ACL_TOKEN_DELETED,
    ACL_TOKEN_UPSERTED,
)


def _enabled(ctx: Ctx) -> None:
    if not ctx.backend.acl.enabled:
        raise errors.bad_request(errors.ACL_DISABLED)


def _management(ctx: Ctx) -> None:
    _enabled(ctx)
    ctx.backend.acl.authenticate(ctx.token)
    ctx.backend.acl.check_management(ctx.token)


async def _object_body(ctx: Ctx, struct: str) -> dict[str, Any]:
    body = await ctx.body()
    if not isinstance(body, dict):
        raise type_error(body, struct, "", f"structs.{struct}")
    return body


async def acl_request(ctx: Ctx, path: str) -> Response:
    """Everything under ``/v1/acl/``."""
    if path == "bootstrap":
        return await _bootstrap(ctx)
    if path == "tokens":
        return await _tokens(ctx)
    if path == "policies":
        return await _policies(ctx)
    if path == "token":
        if ctx.method not in WRITE_METHODS:
            raise method_not_allowed()
        return await _token_upsert(ctx, "")
    if path == "token/self":
        return await _token_self(ctx)
    if path.startswith("token/"):
        return await _token_crud(ctx, path[len("token/") :])
    if path.startswith("policy/"):
        return await _policy_crud(ctx, path[len("policy/") :])
    if path == "policy":
        raise errors.bad_request(errors.MISSING_POLICY_NAME)
    return not_emulated(f"{ctx.method} /v1/acl/{path.split('/')[0]}")


async def _bootstrap(ctx: Ctx) -> Response:
    if ctx.method not in WRITE_METHODS:
        raise method_not_allowed()
    backend = ctx.backend
    with backend.state.write() as w:
        w.event_type = ACL_TOKEN_UPSERTED
        token = backend.acl.bootstrap(w.index, backend.clock.now_ns())
        w.changed("acl_token", token.accessor_id, token)
        w.tables.add("acl_token")
    return json_response(token.to_dict(), w.index, write=True)


async def _tokens(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    _management(ctx)
    backend = ctx.backend

    def run() -> QueryResult:
        body = [t.stub() for t in backend.acl.tokens()]
        return QueryResult(body, backend.state.table_index["acl_token"], (("table", "acl_token"),))

    result = await blocking(backend, opts, run)
    return json_response(result.body, result.index)


async def _token_self(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    ctx.options()
    _enabled(ctx)
    token = ctx.backend.acl.resolve(ctx.token) if ctx.token else None
    if token is None:
        # ResolveToken of an unknown secret fails authentication first.
        if ctx.token:
            raise errors.forbidden()
        return error_response(errors.not_found(errors.ACL_TOKEN_NOT_FOUND))
    return json_response(token.to_dict(), ctx.backend.state.table_index["acl_token"])


async def _token_crud(ctx: Ctx, accessor: str) -> Response:
    if not accessor:
        raise errors.bad_request(errors.MISSING_TOKEN_ACCESSOR)
    if ctx.method == GET:
        return await _token_query(ctx, accessor)
    if ctx.method in WRITE_METHODS:
        return await _token_upsert(ctx, accessor)
    if ctx.method == "DELETE":
        return await _token_delete(ctx, accessor)
    raise method_not_allowed()


async def _token_query(ctx: Ctx, accessor: str) -> Response:
    opts = ctx.options()
    _enabled(ctx)
    backend = ctx.backend
    backend.acl.authenticate(opts.token)
    own = backend.acl.resolve(opts.token) if opts.token else None
    if not (own is not None and (own.management or own.accessor_id == accessor)):
        raise errors.forbidden()

    def run() -> QueryResult:
        token = backend.acl.token_by_accessor(accessor)
        index = token.modify_index if token else backend.state.table_index["acl_token"]
        return QueryResult(token, index, (("table", "acl_token"),))

    result = await blocking(backend, opts, run)
    if result.body is None:
        return error_response(
            errors.not_found(errors.ACL_TOKEN_NOT_FOUND), meta_headers(result.index)
        )
    return json_response(result.body.to_dict(), result.index)


async def _token_upsert(ctx: Ctx, accessor: str) -> Response:
    body = await _object_body(ctx, "ACLToken")
    if accessor and body.get("AccessorID") != accessor:
        raise errors.bad_request(errors.ACL_TOKEN_ACCESSOR_MISMATCH)
    _management(ctx)
    backend = ctx.backend
    with backend.state.write() as w:
        w.event_type = ACL_TOKEN_UPSERTED
        token = backend.acl.upsert_token(body, w.index, backend.clock.now_ns())
        w.changed("acl_token", token.accessor_id, token)
        w.tables.add("acl_token")
    return json_response(token.to_dict(), w.index, write=True)


async def _token_delete(ctx: Ctx, accessor: str) -> Response:
    _management(ctx)
    backend = ctx.backend
    token = backend.acl.token_by_accessor(accessor)
    with backend.state.write() as w:
        w.event_type = ACL_TOKEN_DELETED
        backend.acl.delete_token(accessor)
        w.changed("acl_token", accessor, token, deleted=True)
        w.tables.add("acl_token")
    return Response(b"", 200, headers={"X-Nomad-Index": str(w.index)})


async def _policies(ctx: Ctx) -> Response:
    if ctx.method != GET:
        raise method_not_allowed()
    opts = ctx.options()
    _enabled(ctx)
    backend = ctx.backend
    backend.acl.authenticate(opts.token)
    own = backend.acl.resolve(opts.token) if opts.token else None

    def run() -> QueryResult:
        policies = sorted(backend.acl.policies.values(), key=lambda p: p.name)
        if own is None or not own.management:
            held = set(own.policies) if own is not None else set()
            policies = [p for p in policies if p.name in held]
        body = [p.stub() for p in policies if p.name.startswith(opts.prefix)]
        return QueryResult(
            body, backend.state.table_index["acl_policy"], (("table", "acl_policy"),)
        )

    result = await blocking(backend, opts, run)
    return json_response(result.body, result.index)


async def _policy_crud(ctx: Ctx, name: str) -> Response:
    if not name:
        raise errors.bad_request(errors.MISSING_POLICY_NAME)
    backend = ctx.backend
    if ctx.method == GET:
        opts = ctx.options()
        _enabled(ctx)
        backend.acl.authenticate(opts.token)
        own = backend.acl.resolve(opts.token) if opts.token else None
        if own is None or not (own.management or name in own.policies):
            raise errors.forbidden()

        def run() -> QueryResult:
            policy = backend.acl.policies.get(name)
            index = policy.modify_index if policy else backend.state.table_index["acl_policy"]
            return QueryResult(policy, index, (("table", "acl_policy"),))

        result = await blocking(backend, opts, run)
        if result.body is None:
            return error_response(
                errors.not_found(errors.ACL_POLICY_NOT_FOUND), meta_headers(result.index)
            )
        return json_response(result.body.to_dict(), result.index)
    if ctx.method in WRITE_METHODS:
        body = await _object_body(ctx, "ACLPolicy")
        if body.get("Name") != name:
            raise errors.bad_request(errors.ACL_POLICY_NAME_MISMATCH)
        _management(ctx)
        with backend.state.write() as w:
            w.event_type = ACL_POLICY_UPSERTED
            policy = backend.acl.upsert_policy(body, w.index)
            w.changed("acl_policy", name, policy)
            w.tables.add("acl_policy")
        return Response(b"", 200, headers={"X-Nomad-Index": str(w.index)})
    if ctx.method == "DELETE":
        _management(ctx)
        policy = backend.acl.policies.get(name)
        with backend.state.write() as w:
            if policy is not None:
                w.event_type = ACL_POLICY_DELETED
                backend.acl.delete_policy(name)
                w.changed("acl_policy", name, policy, deleted=True)
                w.tables.add("acl_policy")
        return Response(b"", 200, headers={"X-Nomad-Index": str(w.index)})
    raise method_not_allowed()
