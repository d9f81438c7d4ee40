"""Typed errors of the provider, and the mappings from an HTTP answer to an error class.

Every error raised by the hooks is a :class:`NomadProviderError` (an ``AirflowException``), so a
DAG author can catch the whole family or one precise case. API errors carry the HTTP status,
the server's own message, the method and the path (never the query string, never the ACL
token), and survive pickling, so they cross process boundaries (triggerer, executor) intact.
Nomad's answers map through :func:`error_for_response`, Consul's through
:func:`consul_error_for_response`.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from airflow.sdk.exceptions import AirflowException

__all__ = [
    "ConsulApiError",
    "ConsulConnectionError",
    "ConsulDatacenterError",
    "ConsulInvalidRequestError",
    "ConsulNotFoundError",
    "ConsulPermissionError",
    "ConsulRedirectError",
    "ConsulServiceNotFoundError",
    "ConsulTlsError",
    "ConsulTransientError",
    "ConsulUnexpectedResponseError",
    "ConsulUnreachableError",
    "NomadApiError",
    "NomadConnectionError",
    "NomadDispatchValidationError",
    "NomadForeignChildError",
    "NomadInvalidInputError",
    "NomadJobFailedError",
    "NomadJobTimeoutError",
    "NomadLogStreamError",
    "NomadNotFoundError",
    "NomadPermissionError",
    "NomadPlacementError",
    "NomadProviderError",
    "NomadRedirectError",
    "NomadTlsError",
    "NomadTransientError",
    "NomadUnreachableError",
    "consul_error_for_response",
    "error_for_response",
]


class NomadProviderError(AirflowException):
    """Base class of every error raised by this provider."""

    #: constructor arguments passed by keyword; positional ones live in ``self.args``
    _keyword_fields: tuple[str, ...] = ()

    def __reduce__(self) -> tuple[Any, ...]:
        # BaseException pickles as cls(*self.args) + __dict__; subclasses keep their positional
        # constructor arguments in self.args, so this one definition serves them all.
        return (self.__class__, self.args, self.__dict__)

    def serialize(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        """How Airflow's serializer rebuilds the error: ``cls(*args, **kwargs)``."""
        cls = self.__class__
        kwargs = {name: getattr(self, name) for name in self._keyword_fields}
        return f"{cls.__module__}.{cls.__name__}", tuple(self.args), kwargs


class NomadConnectionError(NomadProviderError):
    """Bad connection settings, an unreachable agent or a failed TLS handshake."""


class NomadUnreachableError(NomadConnectionError):
    """The agent could not be reached, or the connection dropped or timed out.

    Retried by the shared retry policy. ``request_sent`` tells whether the request may have
    reached Nomad (a drop or a read timeout) or certainly did not (refused, DNS, connect
    timeout): only the latter is safe to retry for a request that is not idempotent.

    :param message: what happened, naming the address.
    :param request_sent: whether Nomad may have received the request.
    """

    def __init__(self, message: str, request_sent: bool = True) -> None:
        super().__init__(message, request_sent)
        self.message = message
        self.request_sent = request_sent

    def __str__(self) -> str:
        return self.message


class NomadTlsError(NomadConnectionError):
    """The TLS handshake failed (untrusted certificate, wrong name, mTLS refused). Not retried."""


class NomadRedirectError(NomadConnectionError):
    """The agent answered with a redirect (3xx), which the provider never follows.

    Following it would send the ACL token to whatever host the answer names. Not retried.
    """


class _ServiceApiError(NomadProviderError):
    """An HTTP error answer of Nomad or Consul: what both families carry and how they read.

    Private, and a sibling base rather than :class:`NomadApiError` itself: catching
    ``NomadApiError`` must not catch a Consul 404, so :class:`ConsulApiError` derives from
    this class. (Only :class:`ConsulTransientError` is also a Nomad one, for the retry policy.)
    """

    #: the service named at the start of the message
    service_name: ClassVar[str]

    def __init__(
        self, status: int, message: str, method: str, path: str, hint: str | None = None
    ) -> None:
        super().__init__(status, message, method, path, hint)
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        self.hint = hint

    def __str__(self) -> str:
        text = (
            f"{self.service_name} {self.method} {self.path} failed with HTTP {self.status}: "
            f"{self.message}"
        )
        return f"{text}. {self.hint}" if self.hint else text


class NomadApiError(_ServiceApiError):
    """Nomad answered with an HTTP error.

    :param status: HTTP status code.
    :param message: Nomad's response body text (trimmed).
    :param method: HTTP method of the request.
    :param path: request path, without the query string.
    :param hint: how to fix it, when known.
    """

    service_name = "Nomad"


class NomadNotFoundError(NomadApiError):
    """404: the job, evaluation, allocation or file does not exist (or was garbage-collected)."""


class NomadPermissionError(NomadApiError):
    """403 (or a 500 ``Permission denied`` relayed by a forwarding server). Never retried."""


class NomadTransientError(NomadApiError):
    """A server-side failure that may pass (no cluster leader, 502/503/504, rate limit)."""


class NomadDispatchValidationError(NomadApiError):
    """Nomad rejected a dispatch's meta or payload. Sent as HTTP 500, but never retried."""


class NomadInvalidInputError(NomadProviderError):
    """Our own check of operator input (meta, payload, arguments) failed before any request."""


class NomadLogStreamError(NomadProviderError):
    """The log stream was not the framed JSON Nomad sends (corrupt or truncated frame)."""


class NomadJobFailedError(NomadProviderError):
    """A dispatched or registered job ended without success.

    :param message: human summary of the failure.
    :param job_id: the Nomad job ID.
    :param alloc_id: the final allocation ID, when one exists.
    :param task: the task that failed.
    :param exit_code: the task's exit code, when it exited.
    :param signal: the signal that killed the task, when one did.
    :param oom: whether the task was killed for running out of memory.
    :param stderr_tail: the last lines of the task's stderr.
    :param ui_url: link to the job in the Nomad UI.
    """

    _keyword_fields = (
        "job_id",
        "alloc_id",
        "task",
        "exit_code",
        "signal",
        "oom",
        "stderr_tail",
        "ui_url",
    )

    def __init__(
        self,
        message: str,
        *,
        job_id: str | None = None,
        alloc_id: str | None = None,
        task: str | None = None,
        exit_code: int | None = None,
        signal: int | None = None,
        oom: bool = False,
        stderr_tail: str | None = None,
        ui_url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.alloc_id = alloc_id
        self.task = task
        self.exit_code = exit_code
        self.signal = signal
        self.oom = oom
        self.stderr_tail = stderr_tail
        self.ui_url = ui_url


class NomadPlacementError(NomadJobFailedError):
    """The scheduler could not place the job (a blocked evaluation): no allocation ran."""


class NomadJobTimeoutError(NomadProviderError):
    """The job did not finish before the task's deadline."""


class NomadForeignChildError(NomadProviderError):
    """A job carries the name of a task instance's child, but its signed dispatch token says
    the task instance did not dispatch it (:mod:`~airflow_provider_nomad.nomad.signature`).

    It is neither adopted nor dispatched beside: the message names it and how to proceed.
    """


# --- Nomad's own error texts ------------------------------------------------------------------
# Read off nomad/job_endpoint.go (validateDispatchRequest, Dispatch) and the ACL code. The
# dispatch ones come back as HTTP 500 although retrying them can never succeed.
DISPATCH_VALIDATION_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p)
    for p in (
        r"parameterized job not found",
        r"is not a parameterized job",
        r"Specified job \".*\" is stopped",
        r"Payload is not provided but required",
        r"Payload provided but forbidden",
        r"Payload exceeds maximum size",
        r"unpermitted metadata keys",
        r"did not provide required meta keys",
    )
)
PERMISSION_DENIED = "Permission denied"
ACL_TOKEN_NOT_FOUND = "ACL token not found"
# Server-side texts of failures that pass by themselves (leader election, a server restarting).
TRANSIENT_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"no cluster leader",
        r"leadership lost",
        r"raft is already shutdown",
        r"rpc error: EOF",
        r"connection reset by peer",
        r"i/o timeout",
        r"context deadline exceeded",
        r"rate limit exceeded",
    )
)
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
MAX_MESSAGE_CHARS = 2000


def _capability_for(method: str, path: str) -> str:
    """The Nomad ACL capability a request needs, to name it in a permission error."""
    if path.endswith("/dispatch"):
        return "dispatch-job"
    if path.startswith("/v1/client/fs/logs/"):
        return "read-logs"
    if path.startswith("/v1/client/fs/"):
        return "read-fs"
    if path == "/v1/jobs/parse":
        return "parse-job"
    if path.startswith(("/v1/job", "/v1/jobs")) and method in ("POST", "PUT", "DELETE"):
        return "submit-job"
    if path == "/v1/jobs":
        return "list-jobs"
    return "read-job"


def _permission_hint(message: str, method: str, path: str, namespace: str | None) -> str:
    if ACL_TOKEN_NOT_FOUND.lower() in message.lower():
        return (
            "Nomad does not know the ACL token of the Airflow connection (expired, deleted or "
            "from another region): put a valid token secret in the connection's password field"
        )
    where = f"namespace {namespace!r}" if namespace else "the job's namespace"
    return (
        f"The connection's ACL token needs the {_capability_for(method, path)!r} capability in "
        f"{where}: grant it in the token's policy, use a token that has it (check that the "
        "token in the connection's password field exists and has not expired), or point the "
        "connection (or the operator's namespace argument) at the namespace the job lives in"
    )


def _trim(text: str) -> str:
    text = (text or "").strip()
    if len(text) > MAX_MESSAGE_CHARS:
        return text[:MAX_MESSAGE_CHARS] + "..."
    return text or "(empty response body)"


def _is_transient(status: int, message: str, patterns: tuple[re.Pattern[str], ...]) -> bool:
    """A status that says "try later", or a server error whose text is a known passing one."""
    return status in TRANSIENT_STATUSES or (
        status >= 500 and any(p.search(message) for p in patterns)
    )


def error_for_response(
    status: int, text: str, method: str, path: str, *, namespace: str | None = None
) -> NomadApiError:
    """Map an HTTP error answer of Nomad to the typed error to raise. The one such mapping.

    :param status: HTTP status code (>= 400).
    :param text: response body text.
    :param method: HTTP method of the request.
    :param path: request path, without the query string (it may carry tokens).
    :param namespace: the namespace the request targeted, to name it in a permission hint.
    """
    method = method.upper()
    message = _trim(text)
    lowered = message.lower()
    if status == 404:
        return NomadNotFoundError(status, message, method, path)
    # A forwarding server relays an ACL denial as a plain error, i.e. HTTP 500.
    if (
        status == 403
        or PERMISSION_DENIED.lower() in lowered
        or ACL_TOKEN_NOT_FOUND.lower() in lowered
    ):
        hint = _permission_hint(message, method, path, namespace)
        return NomadPermissionError(status, message, method, path, hint)
    if status >= 500 and any(p.search(message) for p in DISPATCH_VALIDATION_PATTERNS):
        hint = "Fix the dispatch meta or payload; Nomad will reject it again, so it is not retried"
        return NomadDispatchValidationError(status, message, method, path, hint)
    if _is_transient(status, message, TRANSIENT_PATTERNS):
        return NomadTransientError(status, message, method, path)
    return NomadApiError(status, message, method, path)


# --- Consul -----------------------------------------------------------------------------------
# The Consul hook, sensor and trigger raise these. The transient and unreachable ones subclass
# their Nomad counterparts so the shared retry policy (retry.is_retryable) treats them alike.

CONSUL_ACL_NOT_FOUND = "ACL not found"
CONSUL_NO_PATH_TO_DATACENTER = "No path to datacenter"
CONSUL_FILTER_ERROR = "Failed to create boolean expression evaluator"
# 500 texts of Consul failures that pass by themselves (agent/structs/errors.go, rpc layer).
CONSUL_TRANSIENT_PATTERNS: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"no cluster leader",
        r"no known consul servers",
        r"not ready to serve consistent reads",
        r"remote dc has no server currently reachable",
        r"rpc error",
        r"rate limit",
        r"i/o timeout",
        r"connection reset by peer",
    )
)


class ConsulConnectionError(NomadConnectionError):
    """Bad settings of a ``consul`` connection, or a Consul agent that cannot be reached."""


class ConsulUnreachableError(NomadUnreachableError, ConsulConnectionError):
    """The Consul agent could not be reached, or the connection dropped or timed out. Retried."""


class ConsulTlsError(NomadTlsError, ConsulConnectionError):
    """The TLS handshake with the Consul agent failed. Not retried."""


class ConsulRedirectError(NomadRedirectError, ConsulConnectionError):
    """The Consul agent answered with a redirect (3xx), never followed. Not retried."""


class ConsulApiError(_ServiceApiError):
    """Consul answered with an HTTP error.

    :param status: HTTP status code.
    :param message: Consul's response body text (trimmed).
    :param method: HTTP method of the request.
    :param path: request path, without the query string (``?token=`` may be there).
    :param hint: how to fix it, when known.
    """

    service_name = "Consul"


class ConsulNotFoundError(ConsulApiError):
    """404: unknown service ID or check ID on the agent."""


class ConsulPermissionError(ConsulApiError):
    """403: the token is unknown (``ACL not found``) or lacks a permission. Never retried."""


class ConsulDatacenterError(ConsulApiError):
    """The datacenter is unknown to the agent (``No path to datacenter``). Never retried."""


class ConsulInvalidRequestError(ConsulApiError):
    """Consul rejected the request itself (400, or an invalid ``filter`` expression)."""


class ConsulTransientError(ConsulApiError, NomadTransientError):
    """A Consul failure that may pass (no cluster leader, 429/502/503/504): retried."""


class ConsulServiceNotFoundError(NomadProviderError):
    """The service is not registered in the datacenter (or the token cannot see it).

    :param service: the service name.
    :param datacenter: the datacenter queried (``None``: the agent's own).
    :param message: the full explanation.
    """

    def __init__(self, service: str, datacenter: str | None, message: str) -> None:
        super().__init__(service, datacenter, message)
        self.service = service
        self.datacenter = datacenter
        self.message = message

    def __str__(self) -> str:
        return self.message


def _consul_permission_hint(message: str, conn_id: str | None) -> str:
    connection = f"Airflow connection {conn_id!r}" if conn_id else "the Airflow connection"
    if CONSUL_ACL_NOT_FOUND.lower() in message.lower():
        return (
            f"Consul does not know the ACL token of {connection} (expired, deleted, or from "
            "another cluster): put a valid token secret in the connection's password field"
        )
    needed = re.search(r"lacks permission '([^']+)'(?: on (\"[^\"]*\"))?", message)
    what = f"{needed.group(1)} on {needed.group(2) or 'the resource'}" if needed else None
    return (
        f"Grant {what} in the policy of the token of {connection}, or use a token that has it"
        if what
        else f"The token of {connection} lacks a permission this request needs"
    )


def consul_error_for_response(
    status: int, text: str, method: str, path: str, *, conn_id: str | None = None
) -> ConsulApiError:
    """Map an HTTP error answer of Consul to the typed error to raise.

    :param status: HTTP status code (>= 400).
    :param text: response body text.
    :param method: HTTP method of the request.
    :param path: request path, without the query string.
    :param conn_id: the Airflow connection, to name it in a permission hint.
    """
    method = method.upper()
    message = _trim(text)
    lowered = message.lower()
    if status == 403 or lowered.startswith(PERMISSION_DENIED.lower()):
        return ConsulPermissionError(
            status, message, method, path, _consul_permission_hint(message, conn_id)
        )
    if status == 404:
        return ConsulNotFoundError(status, message, method, path)
    if CONSUL_NO_PATH_TO_DATACENTER.lower() in lowered:
        return ConsulDatacenterError(
            status,
            message,
            method,
            path,
            "The datacenter is not known to this Consul agent: check its spelling, the "
            "datacenter extra of the connection, and that the datacenters are federated",
        )
    if status == 400 or CONSUL_FILTER_ERROR.lower() in lowered:
        return ConsulInvalidRequestError(status, message, method, path)
    if _is_transient(status, message, CONSUL_TRANSIENT_PATTERNS):
        return ConsulTransientError(status, message, method, path)
    return ConsulApiError(status, message, method, path)


class ConsulUnexpectedResponseError(NomadProviderError):
    """Consul answered something this provider does not understand (e.g. an unknown status)."""
