"""HTTP handlers of Consul's ACL system API (``/v1/acl/...``), thin over :mod:`.acl_store`.

Paths, methods, status codes and texts from Consul's ``agent/acl_endpoint.go`` and
``agent/http_register.go``: ``acl:read`` to read, ``acl:write`` to change (403 ``Permission
denied: ... lacks permission 'acl:write'``), 401 ``ACL support disabled`` without ACLs, a
missing object 404 ``Requested <kind> does not exist: ACL not found``, token secrets shown as
``<hidden>`` to a token without ``acl:write`` (a missing token: 403 ``ACL not found``).
ACL reads do not block (no ``?index=`` wait).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import READ, WRITE, Authorizer
from airflow_provider_nomad.testing.consul.acl_templates import (
    TEMPLATED_POLICIES,
    render_template,
    synthetic_policy,
)
from airflow_provider_nomad.testing.consul.acl_values import field as get
from airflow_provider_nomad.testing.consul.acl_values import not_exist
from airflow_provider_nomad.testing.consul.models import ConsulBackend
from airflow_provider_nomad.testing.consul.responses import _json, request_token

_GET, _PUT, _POST = ("GET",), ("PUT",), ("POST",)
_CRUD = ("GET", "PUT", "DELETE")


def _backend(request: Request) -> ConsulBackend:
    backend: ConsulBackend = request.app.state.backend
    if not backend.acl.enabled:
        raise errors.ConsulHTTPError(401, "ACL support disabled")
    return backend


def _authorize(backend: ConsulBackend, request: Request, access: str) -> Authorizer:
    authz = backend.acl.resolve(request_token(request))
    authz.require("acl", "", access)
    return authz


def _reply(request: Request, backend: ConsulBackend, obj: Any) -> Response:
    headers = {
        "X-Consul-Index": str(max(1, backend.index)),
        "X-Consul-KnownLeader": "true",
        "X-Consul-LastContact": "0",
    }
    return _json(request, obj, headers if request.method == "GET" else None)


async def _decode(request: Request, what: str) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}  # lib.DecodeJSON treats an empty body as an empty object
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise errors.ConsulHTTPError(400, f"{what} decoding failed: {exc.msg}") from exc
    if not isinstance(body, dict):
        raise errors.ConsulHTTPError(400, f"{what} decoding failed: the body must be an object")
    return body


def _rest(request: Request, name: str) -> str:
    return str(request.path_params.get(name, ""))


# -- bootstrap, login, logout -------------------------------------------------------------------
async def bootstrap(request: Request) -> Response:
    backend = _backend(request)
    # The initial management token came with the configuration: bootstrapping is done.
    cause = f"ACL bootstrap no longer allowed (reset index: {backend.acl.bootstrap_index})"
    raise errors.ConsulHTTPError(403, f"{errors.PERMISSION_DENIED}: {cause}")


async def login(request: Request) -> Response:
    backend = _backend(request)
    body = await _decode(request, "Failed to decode request body:")
    name = str(get(body, "AuthMethod") or "")
    if name not in backend.acl.methods.methods:
        raise errors.ConsulHTTPError(403, errors.ACL_NOT_FOUND)
    raise errors.ConsulHTTPError(
        501,
        f"the Consul emulator cannot log in through auth method {name!r}: it has no identity "
        "provider to verify the bearer token against; create the token with PUT /v1/acl/token",
    )


async def logout(request: Request) -> Response:
    backend = _backend(request)
    secret = request_token(request)
    if not secret:
        raise errors.ConsulHTTPError(401, "Supplied token does not exist")
    with backend.lock:
        token = backend.acl.by_secret(secret)
        if token is None:
            raise errors.ConsulHTTPError(403, errors.ACL_NOT_FOUND)
        if not token.auth_method:
            raise errors.ConsulHTTPError(403, errors.PERMISSION_DENIED)
        del backend.acl.tokens[token.accessor_id.lower()]
    return _reply(request, backend, True)


# -- tokens -------------------------------------------------------------------------------------
async def token_list(request: Request) -> Response:
    backend = _backend(request)
    authz = _authorize(backend, request, READ)
    params = request.query_params
    with backend.lock:
        tokens = backend.acl.list_tokens(
            params.get("policy", ""),
            params.get("role", ""),
            params.get("authmethod", ""),
            params.get("servicename", ""),
        )
        redact = not authz.allowed("acl", "", WRITE)
        out = [backend.acl.token_api(t, redact) for t in tokens]
    return _reply(request, backend, out)


async def token_create(request: Request) -> Response:
    backend = _backend(request)
    body = await _decode(request, "Token")
    _authorize(backend, request, WRITE)
    with backend.lock:
        token = backend.acl.set_token(body, None, create=True)
        return _reply(request, backend, backend.acl.token_api(token))


async def token_self(request: Request) -> Response:
    backend = _backend(request)
    with backend.lock:
        token = backend.acl.by_secret(request_token(request))
        if token is None:
            raise errors.ConsulHTTPError(404, "Supplied token does not exist")
        return _reply(request, backend, backend.acl.token_api(token))


async def token_crud(request: Request) -> Response:
    backend = _backend(request)
    accessor = _rest(request, "accessor")
    if request.method == "PUT" and accessor.endswith("/clone"):
        body = await _decode(request, "Token")
        _authorize(backend, request, WRITE)
        with backend.lock:
            clone = backend.acl.clone_token(
                accessor[: -len("/clone")], str(get(body, "Description") or "")
            )
            return _reply(request, backend, backend.acl.token_api(clone))
    if not accessor and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing token AccessorID")
    if request.method == "GET":
        authz = _authorize(backend, request, READ)
        with backend.lock:
            token = backend.acl.live_token(accessor)
            if token is None:
                # 403, not the 404 policies and roles get: py-consul's suite, run against real
                # agents, expects reading a deleted token to fail (ACL.TokenRead's ErrNotFound).
                raise errors.ConsulHTTPError(403, errors.ACL_NOT_FOUND)
            redact = not authz.allowed("acl", "", WRITE)
            return _reply(request, backend, backend.acl.token_api(token, redact))
    if request.method == "PUT":
        body = await _decode(request, "Token")
        body_accessor = str(get(body, "AccessorID") or "")
        if body_accessor and body_accessor != accessor:
            raise errors.ConsulHTTPError(400, "Token Accessor ID in URL and payload do not match")
        _authorize(backend, request, WRITE)
        with backend.lock:
            token = backend.acl.set_token(body, accessor, create=False)
            return _reply(request, backend, backend.acl.token_api(token))
    _authorize(backend, request, WRITE)
    with backend.lock:
        backend.acl.delete_token(accessor, request_token(request))
    return _reply(request, backend, True)


# -- policies -----------------------------------------------------------------------------------
async def policy_list(request: Request) -> Response:
    backend = _backend(request)
    _authorize(backend, request, READ)
    with backend.lock:
        policies = sorted(backend.acl.policies.values(), key=lambda p: p.id.lower())
        return _reply(request, backend, [p.to_api(stub=True) for p in policies])


async def policy_create(request: Request) -> Response:
    backend = _backend(request)
    body = await _decode(request, "Policy")
    if get(body, "ID"):
        raise errors.ConsulHTTPError(400, "Cannot specify the ID when creating a new policy")
    _authorize(backend, request, WRITE)
    with backend.lock:
        return _reply(request, backend, backend.acl.set_policy(body, "").to_api())


async def policy_by_name(request: Request) -> Response:
    backend = _backend(request)
    name = _rest(request, "name")
    if not name:
        raise errors.ConsulHTTPError(400, "Missing policy Name")
    _authorize(backend, request, READ)
    with backend.lock:
        policy = backend.acl.policy_by(name=name)
        if policy is None:
            raise not_exist("policy")
        return _reply(request, backend, policy.to_api())


async def policy_crud(request: Request) -> Response:
    backend = _backend(request)
    policy_id = _rest(request, "policy_id")
    if not policy_id and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing policy ID")
    if request.method == "GET":
        _authorize(backend, request, READ)
        with backend.lock:
            policy = backend.acl.policy_by(policy_id=policy_id)
            if policy is None:
                raise not_exist("policy")
            return _reply(request, backend, policy.to_api())
    if request.method == "PUT":
        body = await _decode(request, "Policy")
        if get(body, "ID") and get(body, "ID") != policy_id:
            raise errors.ConsulHTTPError(400, "Policy ID in URL and payload do not match")
        _authorize(backend, request, WRITE)
        with backend.lock:
            return _reply(request, backend, backend.acl.set_policy(body, policy_id).to_api())
    _authorize(backend, request, WRITE)
    with backend.lock:
        backend.acl.delete_policy(policy_id)
    return _reply(request, backend, True)


# -- roles --------------------------------------------------------------------------------------
async def role_list(request: Request) -> Response:
    backend = _backend(request)
    _authorize(backend, request, READ)
    policy = request.query_params.get("policy", "").lower()
    with backend.lock:
        roles = sorted(backend.acl.roles.values(), key=lambda r: r.id.lower())
        out = [
            backend.acl.role_api(r) for r in roles if not policy or policy in r.grants.policy_ids
        ]
    return _reply(request, backend, out)


async def role_create(request: Request) -> Response:
    backend = _backend(request)
    body = await _decode(request, "Role")
    if get(body, "ID"):
        raise errors.ConsulHTTPError(400, "Role ID in URL and payload do not match")
    _authorize(backend, request, WRITE)
    with backend.lock:
        return _reply(request, backend, backend.acl.role_api(backend.acl.set_role(body, "")))


async def role_by_name(request: Request) -> Response:
    backend = _backend(request)
    name = _rest(request, "name")
    if not name:
        raise errors.ConsulHTTPError(400, "Missing role Name")
    _authorize(backend, request, READ)
    with backend.lock:
        role = backend.acl.role_by(name=name)
        if role is None:
            raise not_exist("role")
        return _reply(request, backend, backend.acl.role_api(role))


async def role_crud(request: Request) -> Response:
    backend = _backend(request)
    role_id = _rest(request, "role_id")
    if not role_id and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing role ID")
    if request.method == "GET":
        _authorize(backend, request, READ)
        with backend.lock:
            role = backend.acl.role_by(role_id=role_id)
            if role is None:
                raise not_exist("role")
            return _reply(request, backend, backend.acl.role_api(role))
    if request.method == "PUT":
        body = await _decode(request, "Role")
        if get(body, "ID") and get(body, "ID") != role_id:
            raise errors.ConsulHTTPError(400, "Role ID in URL and payload do not match")
        _authorize(backend, request, WRITE)
        with backend.lock:
            return _reply(
                request, backend, backend.acl.role_api(backend.acl.set_role(body, role_id))
            )
    _authorize(backend, request, WRITE)
    with backend.lock:
        backend.acl.delete_role(role_id)
    return _reply(request, backend, True)


# -- auth methods and binding rules -------------------------------------------------------------
async def auth_method_list(request: Request) -> Response:
    backend = _backend(request)
    _authorize(backend, request, READ)
    with backend.lock:
        methods = sorted(backend.acl.methods.methods.values(), key=lambda m: m.name)
        return _reply(request, backend, [m.to_api(stub=True) for m in methods])


async def auth_method_create(request: Request) -> Response:
    backend = _backend(request)
    body = await _decode(request, "AuthMethod")
    _authorize(backend, request, WRITE)
    with backend.lock:
        return _reply(request, backend, backend.acl.methods.set_method(body, "").to_api())


async def auth_method_crud(request: Request) -> Response:
    backend = _backend(request)
    name = _rest(request, "name")
    if not name and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing auth method name")
    methods = backend.acl.methods
    if request.method == "GET":
        _authorize(backend, request, READ)
        with backend.lock:
            method = methods.methods.get(name)
            if method is None:
                raise not_exist("auth method")
            return _reply(request, backend, method.to_api())
    if request.method == "PUT":
        body = await _decode(request, "AuthMethod")
        _authorize(backend, request, WRITE)
        with backend.lock:
            return _reply(request, backend, methods.set_method(body, name).to_api())
    _authorize(backend, request, WRITE)
    with backend.lock:
        methods.delete_method(name)
    return _reply(request, backend, True)


async def binding_rule_list(request: Request) -> Response:
    backend = _backend(request)
    _authorize(backend, request, READ)
    method = request.query_params.get("authmethod", "")
    with backend.lock:
        rules = sorted(backend.acl.methods.rules.values(), key=lambda r: r.id.lower())
        out = [r.to_api() for r in rules if not method or r.auth_method == method]
    return _reply(request, backend, out)


async def binding_rule_create(request: Request) -> Response:
    backend = _backend(request)
    body = await _decode(request, "BindingRule")
    if get(body, "ID"):
        raise errors.ConsulHTTPError(400, "BindingRule ID in URL and payload do not match")
    _authorize(backend, request, WRITE)
    with backend.lock:
        return _reply(request, backend, backend.acl.methods.set_rule(body, "").to_api())


async def binding_rule_crud(request: Request) -> Response:
    backend = _backend(request)
    rule_id = _rest(request, "rule_id")
    if not rule_id and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing binding rule ID")
    methods = backend.acl.methods
    if request.method == "GET":
        _authorize(backend, request, READ)
        with backend.lock:
            rule = methods.rule(rule_id)
            if rule is None:
                raise not_exist("binding rule")
            return _reply(request, backend, rule.to_api())
    if request.method == "PUT":
        body = await _decode(request, "BindingRule")
        if get(body, "ID") and get(body, "ID") != rule_id:
            raise errors.ConsulHTTPError(400, "BindingRule ID in URL and payload do not match")
        _authorize(backend, request, WRITE)
        with backend.lock:
            return _reply(request, backend, methods.set_rule(body, rule_id).to_api())
    _authorize(backend, request, WRITE)
    with backend.lock:
        methods.delete_rule(rule_id)
    return _reply(request, backend, True)


# -- templated policies -------------------------------------------------------------------------
def _template(request: Request):
    name = _rest(request, "name")
    template = TEMPLATED_POLICIES.get(name)
    if template is None:
        raise errors.ConsulHTTPError(400, f"Invalid templated policy Name: {name}")
    return template


async def templated_policy_list(request: Request) -> Response:
    backend = _backend(request)
    _authorize(backend, request, READ)
    out = {name: TEMPLATED_POLICIES[name].to_api() for name in sorted(TEMPLATED_POLICIES)}
    return _reply(request, backend, out)


async def templated_policy_read(request: Request) -> Response:
    backend = _backend(request)
    _authorize(backend, request, READ)
    return _reply(request, backend, _template(request).to_api())


async def templated_policy_preview(request: Request) -> Response:
    backend = _backend(request)
    body = await _decode(request, "Templated policy variables")
    _authorize(backend, request, READ)
    template = _template(request)
    variables = {"name": str(get(body, "Name"))} if get(body, "Name") else {}
    try:
        rules = render_template(template, variables)
    except ValueError as exc:
        raise errors.ConsulHTTPError(400, str(exc)) from exc
    description = f"synthetic policy generated from templated policy: {template.name}"
    return _reply(request, backend, synthetic_policy(rules, description, []))


ENDPOINTS: tuple[tuple[str, tuple[str, ...], Any], ...] = (
    ("/v1/acl/bootstrap", _PUT, bootstrap),
    ("/v1/acl/login", _POST, login),
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
    ("/v1/acl/auth-methods", _GET, auth_method_list),
    ("/v1/acl/auth-method", _PUT, auth_method_create),
    ("/v1/acl/auth-method/{name:path}", _CRUD, auth_method_crud),
    ("/v1/acl/binding-rules", _GET, binding_rule_list),
    ("/v1/acl/binding-rule", _PUT, binding_rule_create),
    ("/v1/acl/binding-rule/{rule_id:path}", _CRUD, binding_rule_crud),
    ("/v1/acl/templated-policies", _GET, templated_policy_list),
    ("/v1/acl/templated-policy/name/{name:path}", _GET, templated_policy_read),
    ("/v1/acl/templated-policy/preview/{name:path}", _POST, templated_policy_preview),
)
