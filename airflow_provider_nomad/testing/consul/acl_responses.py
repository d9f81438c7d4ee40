"""HTTP handlers of Consul's ACL system API (``/v1/acl/...``), thin over :mod:`.acl_store`,
and the route table of the whole ACL API (auth methods, binding rules and templated policies:
:mod:`.acl_method_responses`).

Paths, methods, status codes and texts from Consul's ``agent/acl_endpoint.go`` and
``agent/http_register.go``: ``acl:read`` to read, ``acl:write`` to change (403 ``Permission
denied: ... lacks permission 'acl:write'``), 401 ``ACL support disabled`` without ACLs, a
missing policy or role 404 ``Requested <kind> does not exist: ACL not found``, token secrets
shown as ``<hidden>`` to a token without ``acl:write``. Reads block with ``?index=``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import acl_method_responses as methods
from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import READ, WRITE
from airflow_provider_nomad.testing.consul.acl_http import (
    acl_backend,
    authorize,
    decode,
    path_rest,
    read,
    write,
)
from airflow_provider_nomad.testing.consul.acl_values import field as get
from airflow_provider_nomad.testing.consul.acl_values import not_exist
from airflow_provider_nomad.testing.consul.responses import request_token

_GET, _PUT, _POST = ("GET",), ("PUT",), ("POST",)
_CRUD = ("GET", "PUT", "DELETE")


def _mismatch(body: dict[str, Any], key: str, value: str, text: str) -> None:
    if get(body, key) and get(body, key) != value:
        raise errors.ConsulHTTPError(400, text)


# -- bootstrap, logout --------------------------------------------------------------------------
async def bootstrap(request: Request) -> Response:
    backend = acl_backend(request)
    # The initial management token came with the configuration: bootstrapping is done.
    cause = f"ACL bootstrap no longer allowed (reset index: {backend.acl.bootstrap_index})"
    raise errors.ConsulHTTPError(403, f"{errors.PERMISSION_DENIED}: {cause}")


async def logout(request: Request) -> Response:
    backend = acl_backend(request)
    secret = request_token(request)
    if not secret:
        raise errors.ConsulHTTPError(401, "Supplied token does not exist")
    return write(request, backend, lambda: backend.acl.logout(secret))


# -- tokens -------------------------------------------------------------------------------------
async def token_list(request: Request) -> Response:
    backend = acl_backend(request)
    redact = not authorize(backend, request, READ).allowed("acl", "", WRITE)
    params = request.query_params

    def compute() -> list[dict[str, Any]]:
        tokens = backend.acl.list_tokens(
            params.get("policy", ""),
            params.get("role", ""),
            params.get("authmethod", ""),
            params.get("servicename", ""),
        )
        return [backend.acl.token_api(token, redact) for token in tokens]

    return await read(request, backend, compute)


async def token_create(request: Request) -> Response:
    backend = acl_backend(request)
    body = await decode(request, "Token")
    authorize(backend, request, WRITE)
    acl = backend.acl
    return write(request, backend, lambda: acl.token_api(acl.set_token(body, None, create=True)))


async def token_self(request: Request) -> Response:
    backend = acl_backend(request)
    secret = request_token(request)

    def compute() -> dict[str, Any]:
        token = backend.acl.by_secret(secret)
        if token is None:
            raise errors.ConsulHTTPError(404, "Supplied token does not exist")
        return backend.acl.token_api(token)

    return await read(request, backend, compute)


async def token_crud(request: Request) -> Response:
    backend = acl_backend(request)
    acl = backend.acl
    accessor = path_rest(request, "accessor")
    if request.method == "PUT" and accessor.endswith("/clone"):
        body = await decode(request, "Token")
        authorize(backend, request, WRITE)
        source, description = accessor[: -len("/clone")], str(get(body, "Description") or "")
        return write(request, backend, lambda: acl.token_api(acl.clone_token(source, description)))
    if not accessor and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing token AccessorID")
    if request.method == "GET":
        redact = not authorize(backend, request, READ).allowed("acl", "", WRITE)

        def compute() -> dict[str, Any]:
            token = acl.live_token(accessor)
            if token is None:
                # 403, not the 404 policies and roles get: py-consul's suite, run against real
                # agents, expects reading a deleted token to fail (ACL.TokenRead's ErrNotFound).
                raise errors.ConsulHTTPError(403, errors.ACL_NOT_FOUND)
            return acl.token_api(token, redact)

        return await read(request, backend, compute)
    if request.method == "PUT":
        body = await decode(request, "Token")
        _mismatch(body, "AccessorID", accessor, "Token Accessor ID in URL and payload do not match")
        authorize(backend, request, WRITE)
        return write(request, backend, lambda: acl.token_api(acl.set_token(body, accessor, False)))
    authorize(backend, request, WRITE)
    secret = request_token(request)
    return write(request, backend, lambda: acl.delete_token(accessor, secret) or True)


# -- policies -----------------------------------------------------------------------------------
async def policy_list(request: Request) -> Response:
    backend = acl_backend(request)
    authorize(backend, request, READ)
    policies = backend.acl.policies
    return await read(
        request,
        backend,
        lambda: [
            p.to_api(stub=True) for p in sorted(policies.values(), key=lambda p: p.id.lower())
        ],
    )


async def policy_create(request: Request) -> Response:
    backend = acl_backend(request)
    body = await decode(request, "Policy")
    if get(body, "ID"):
        raise errors.ConsulHTTPError(400, "Cannot specify the ID when creating a new policy")
    authorize(backend, request, WRITE)
    return write(request, backend, lambda: backend.acl.set_policy(body, "").to_api())


def _policy_read(request: Request, policy_id: str = "", name: str = "") -> Any:
    backend = acl_backend(request)
    authorize(backend, request, READ)

    def compute() -> dict[str, Any]:
        policy = backend.acl.policy_by(policy_id=policy_id, name=name)
        if policy is None:
            raise not_exist("policy")
        return policy.to_api()

    return read(request, backend, compute)


async def policy_by_name(request: Request) -> Response:
    name = path_rest(request, "name")
    if not name:
        raise errors.ConsulHTTPError(400, "Missing policy Name")
    return await _policy_read(request, name=name)


async def policy_crud(request: Request) -> Response:
    backend = acl_backend(request)
    policy_id = path_rest(request, "policy_id")
    if not policy_id and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing policy ID")
    if request.method == "GET":
        return await _policy_read(request, policy_id=policy_id)
    if request.method == "PUT":
        body = await decode(request, "Policy")
        _mismatch(body, "ID", policy_id, "Policy ID in URL and payload do not match")
        authorize(backend, request, WRITE)
        return write(request, backend, lambda: backend.acl.set_policy(body, policy_id).to_api())
    authorize(backend, request, WRITE)
    return write(request, backend, lambda: backend.acl.delete_policy(policy_id) or True)


# -- roles --------------------------------------------------------------------------------------
async def role_list(request: Request) -> Response:
    backend = acl_backend(request)
    authorize(backend, request, READ)
    policy = request.query_params.get("policy", "").lower()

    def compute() -> list[dict[str, Any]]:
        roles = sorted(backend.acl.roles.values(), key=lambda r: r.id.lower())
        chosen = [r for r in roles if not policy or policy in r.grants.policy_ids]
        return [backend.acl.role_api(role) for role in chosen]

    return await read(request, backend, compute)


async def role_create(request: Request) -> Response:
    backend = acl_backend(request)
    body = await decode(request, "Role")
    _mismatch(body, "ID", "", "Role ID in URL and payload do not match")
    authorize(backend, request, WRITE)
    acl = backend.acl
    return write(request, backend, lambda: acl.role_api(acl.set_role(body, "")))


def _role_read(request: Request, role_id: str = "", name: str = "") -> Any:
    backend = acl_backend(request)
    authorize(backend, request, READ)

    def compute() -> dict[str, Any]:
        role = backend.acl.role_by(role_id=role_id, name=name)
        if role is None:
            raise not_exist("role")
        return backend.acl.role_api(role)

    return read(request, backend, compute)


async def role_by_name(request: Request) -> Response:
    name = path_rest(request, "name")
    if not name:
        raise errors.ConsulHTTPError(400, "Missing role Name")
    return await _role_read(request, name=name)


async def role_crud(request: Request) -> Response:
    backend = acl_backend(request)
    acl = backend.acl
    role_id = path_rest(request, "role_id")
    if not role_id and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing role ID")
    if request.method == "GET":
        return await _role_read(request, role_id=role_id)
    if request.method == "PUT":
        body = await decode(request, "Role")
        _mismatch(body, "ID", role_id, "Role ID in URL and payload do not match")
        authorize(backend, request, WRITE)
        return write(request, backend, lambda: acl.role_api(acl.set_role(body, role_id)))
    authorize(backend, request, WRITE)
    return write(request, backend, lambda: acl.delete_role(role_id) or True)


ENDPOINTS: tuple[tuple[str, tuple[str, ...], Any], ...] = (
    ("/v1/acl/bootstrap", _PUT, bootstrap),
    ("/v1/acl/login", _POST, methods.login),
    ("/v1/acl/logout", _POST, logout),
    ("/v1/acl/policies", _GET, policy_list),
    ("/v1/acl/policy", _PUT, policy_create),
    ("/v1/acl/policy/name/{name:path}", _GET, policy_by_name),
    ("/v1/acl/policy/{policy_id:path}", _CRUD, policy_crud),
    ("/v1/acl/roles", _GET, role_list),
    ("/v1/acl/role", _PUT, role_create),
    ("/v1/acl/role/name/{name:path}", _GET, role_by_name),
    ("/v1/acl/role/{role_id:path}", _CRUD, role_crud),
    ("/v1/acl/tokens", _GET, token_list),
    ("/v1/acl/token", _PUT, token_create),
    ("/v1/acl/token/self", _GET, token_self),
    ("/v1/acl/token/{accessor:path}", _CRUD, token_crud),
    ("/v1/acl/auth-methods", _GET, methods.auth_method_list),
    ("/v1/acl/auth-method", _PUT, methods.auth_method_create),
    ("/v1/acl/auth-method/{name:path}", _CRUD, methods.auth_method_crud),
    ("/v1/acl/binding-rules", _GET, methods.binding_rule_list),
    ("/v1/acl/binding-rule", _PUT, methods.binding_rule_create),
    ("/v1/acl/binding-rule/{rule_id:path}", _CRUD, methods.binding_rule_crud),
    ("/v1/acl/templated-policies", _GET, methods.templated_policy_list),
    ("/v1/acl/templated-policy/name/{name:path}", _GET, methods.templated_policy_read),
    ("/v1/acl/templated-policy/preview/{name:path}", _POST, methods.templated_policy_preview),
)
