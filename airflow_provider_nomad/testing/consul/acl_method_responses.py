"""HTTP handlers of Consul's ACL auth methods, binding rules, login and templated policies
(``agent/acl_endpoint.go``); the routes are in :mod:`.acl_responses`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

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
from airflow_provider_nomad.testing.consul.acl_templates import (
    TEMPLATED_POLICIES,
    TemplatedPolicy,
    render_template,
    synthetic_policy,
)
from airflow_provider_nomad.testing.consul.acl_values import field as get
from airflow_provider_nomad.testing.consul.acl_values import not_exist
from airflow_provider_nomad.testing.consul.responses import _json


async def login(request: Request) -> Response:
    backend = acl_backend(request)
    body = await decode(request, "Failed to decode request body:")
    name = str(get(body, "AuthMethod") or "")
    if name not in backend.acl.methods.methods:
        raise errors.ConsulHTTPError(403, errors.ACL_NOT_FOUND)
    raise errors.ConsulHTTPError(
        501,
        f"the Consul emulator cannot log in through auth method {name!r}: it has no identity "
        "provider to verify the bearer token against; create the token with PUT /v1/acl/token",
    )


# -- auth methods -------------------------------------------------------------------------------
async def auth_method_list(request: Request) -> Response:
    backend = acl_backend(request)
    authorize(backend, request, READ)
    store = backend.acl.methods
    return await read(
        request,
        backend,
        lambda: [store.methods[name].to_api(stub=True) for name in sorted(store.methods)],
    )


async def auth_method_create(request: Request) -> Response:
    backend = acl_backend(request)
    body = await decode(request, "AuthMethod")
    authorize(backend, request, WRITE)
    return write(request, backend, lambda: backend.acl.methods.set_method(body, "").to_api())


async def auth_method_crud(request: Request) -> Response:
    backend = acl_backend(request)
    store = backend.acl.methods
    name = path_rest(request, "name")
    if not name and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing auth method name")
    if request.method == "GET":
        authorize(backend, request, READ)

        def compute() -> dict[str, Any]:
            method = store.methods.get(name)
            if method is None:
                raise not_exist("auth method")
            return method.to_api()

        return await read(request, backend, compute)
    if request.method == "PUT":
        body = await decode(request, "AuthMethod")
        authorize(backend, request, WRITE)
        return write(request, backend, lambda: store.set_method(body, name).to_api())
    authorize(backend, request, WRITE)
    return write(request, backend, lambda: store.delete_method(name) or True)


# -- binding rules ------------------------------------------------------------------------------
async def binding_rule_list(request: Request) -> Response:
    backend = acl_backend(request)
    authorize(backend, request, READ)
    method = request.query_params.get("authmethod", "")
    store = backend.acl.methods

    def compute() -> list[dict[str, Any]]:
        rules = sorted(store.rules.values(), key=lambda r: r.id.lower())
        return [r.to_api() for r in rules if not method or r.auth_method == method]

    return await read(request, backend, compute)


async def binding_rule_create(request: Request) -> Response:
    backend = acl_backend(request)
    body = await decode(request, "BindingRule")
    if get(body, "ID"):
        raise errors.ConsulHTTPError(400, "BindingRule ID in URL and payload do not match")
    authorize(backend, request, WRITE)
    return write(request, backend, lambda: backend.acl.methods.set_rule(body, "").to_api())


async def binding_rule_crud(request: Request) -> Response:
    backend = acl_backend(request)
    store = backend.acl.methods
    rule_id = path_rest(request, "rule_id")
    if not rule_id and request.method != "PUT":
        raise errors.ConsulHTTPError(400, "Missing binding rule ID")
    if request.method == "GET":
        authorize(backend, request, READ)

        def compute() -> dict[str, Any]:
            rule = store.rule(rule_id)
            if rule is None:
                raise not_exist("binding rule")
            return rule.to_api()

        return await read(request, backend, compute)
    if request.method == "PUT":
        body = await decode(request, "BindingRule")
        if get(body, "ID") and get(body, "ID") != rule_id:
            raise errors.ConsulHTTPError(400, "BindingRule ID in URL and payload do not match")
        authorize(backend, request, WRITE)
        return write(request, backend, lambda: store.set_rule(body, rule_id).to_api())
    authorize(backend, request, WRITE)
    return write(request, backend, lambda: store.delete_rule(rule_id) or True)


# -- templated policies -------------------------------------------------------------------------
def _template(request: Request) -> TemplatedPolicy:
    name = path_rest(request, "name")
    template = TEMPLATED_POLICIES.get(name)
    if template is None:
        raise errors.ConsulHTTPError(400, f"Invalid templated policy Name: {name}")
    return template


async def templated_policy_list(request: Request) -> Response:
    backend = acl_backend(request)
    authorize(backend, request, READ)
    return await read(
        request,
        backend,
        lambda: {name: TEMPLATED_POLICIES[name].to_api() for name in sorted(TEMPLATED_POLICIES)},
    )


async def templated_policy_read(request: Request) -> Response:
    backend = acl_backend(request)
    authorize(backend, request, READ)
    template = _template(request)
    return await read(request, backend, template.to_api)


async def templated_policy_preview(request: Request) -> Response:
    backend = acl_backend(request)
    body = await decode(request, "Templated policy variables")
    authorize(backend, request, READ)
    template = _template(request)
    variables = {"name": str(get(body, "Name"))} if get(body, "Name") else {}
    try:
        rules = render_template(template, variables)
    except ValueError as exc:
        raise errors.ConsulHTTPError(400, str(exc)) from exc
    description = f"synthetic policy generated from templated policy: {template.name}"
    return _json(request, synthetic_policy(rules, description, []))  # nothing is stored
