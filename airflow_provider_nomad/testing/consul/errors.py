"""Consul's error texts, as the agent writes them, and the exception that carries them.

The texts come from Consul's source (``agent/http.go``, ``agent/acl.go``,
``agent/agent_endpoint.go``, ``agent/structs/errors.go``, ``acl/errors.go``) so that clients
see exactly what a real agent would answer.
"""

from __future__ import annotations

import json

# Status 400 texts written straight to the response by the HTTP handlers.
MISSING_SERVICE_NAME = "Missing service name"
MISSING_CHECK_STATE = "Missing check state"
MISSING_CHECK_NAME = "Missing check name"
INVALID_WAIT = "Invalid wait time"
INVALID_INDEX = "Invalid index"
INVALID_PASSING = "Invalid value for ?passing"
CONFLICTING_CONSISTENCY = "Cannot specify ?stale with ?consistent, conflicting semantics."
INVALID_SERVICE_ADDRESS = "Invalid service address"
INVALID_CHECK_STATUS_IN_SERVICE = "Status for checks must 'passing', 'warning', 'critical'"
INVALID_CHECK_STATE = "Invalid check state"

# Status 500 texts (errors returned by the RPC layer, written by the generic error handler).
NO_PATH_TO_DATACENTER = "No path to datacenter"
NO_CLUSTER_LEADER = "No cluster leader"
TAG_FILTERING_NOT_SUPPORTED = "Tag filtering is not supported"
SCRIPTS_DISABLED = (
    "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or "
    "'enable_local_script_checks' to true"
)
FILTER_ERROR_PREFIX = "Failed to create boolean expression evaluator: "

# Status 403 texts (acl/errors.go).
ACL_NOT_FOUND = "ACL not found"
PERMISSION_DENIED = "Permission denied"
ANONYMOUS_TOKEN_ACCESSOR_ID = "00000000-0000-0000-0000-000000000002"


def go_quote(text: str) -> str:
    """Quote like Go's ``%q`` for the plain strings that appear in these messages."""
    return json.dumps(text, ensure_ascii=False)


def permission_denied(accessor_id: str, resource: str, access: str, name: str | None) -> str:
    """Text of ``acl.PermissionDeniedError`` for a token lacking ``resource:access`` on ``name``."""
    if accessor_id == ANONYMOUS_TOKEN_ACCESSOR_ID:
        message = f"{PERMISSION_DENIED}: anonymous token"
    else:
        message = f"{PERMISSION_DENIED}: token with AccessorID '{accessor_id}'"
    message += f" lacks permission '{resource}:{access}'"
    if name:
        message += f" on {go_quote(name)}"
    if accessor_id == ANONYMOUS_TOKEN_ACCESSOR_ID:
        message += (
            ". The anonymous token is used implicitly when a request does not specify a token."
        )
    return message


def unknown_service_id(service_id: str) -> str:
    return (
        f"Unknown service ID {go_quote(service_id)}. "
        "Ensure that the service ID is passed, not the service name."
    )


def unknown_check_id(check_id: str) -> str:
    return (
        f"Unknown check ID {go_quote(check_id)}. "
        "Ensure that the check ID is passed, not the check name."
    )


def check_without_ttl(check_id: str) -> str:
    return f"CheckID {go_quote(check_id)} does not have associated TTL"


def method_not_allowed(method: str) -> str:
    return f"method {method} not allowed"


class ConsulHTTPError(Exception):
    """An error answered as ``status`` with the plain-text body ``text``.

    :param status: HTTP status code.
    :param text: body, one of the texts above.
    :param headers: extra response headers (e.g. ``Allow`` for 405).
    """

    def __init__(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = headers or {}
