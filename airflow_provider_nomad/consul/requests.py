"""Builders of the Consul HTTP requests the provider makes (pure: no I/O).

Each builder returns a :class:`ConsulRequest`; :class:`~airflow_provider_nomad.hooks.consul.
ConsulHook` sends it through py-consul's HTTP client, :class:`~airflow_provider_nomad.hooks.
consul.ConsulAsyncHook` through httpx. The token never goes into a request built here: the
hooks send it in the ``X-Consul-Token`` header.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_nomad.consul.health import entries_problem, json_type

__all__ = [
    "MAX_BLOCKING_WAIT",
    "ConsulRequest",
    "blocking_read_timeout",
    "catalog_service",
    "check_service_name",
    "format_wait",
    "health_service",
    "status_leader",
]

#: Consul caps a blocking query's wait at 10 minutes (``max_query_time``).
MAX_BLOCKING_WAIT = 600.0


@dataclass(frozen=True)
class ConsulRequest:
    """One Consul HTTP request, ready to send.

    :param method: HTTP method.
    :param path: URL path, the service name escaped as one segment.
    :param params: query parameters in order; ``tag`` may repeat.
    :param wait: a blocking query's wait in seconds, so the sender extends its read timeout.
    :param answer: the JSON answer's expected type (``list`` or ``str``).
    :param instances_of: for a health query, the service whose instances the answer must
        list, each entry shaped as Consul sends them.
    """

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    wait: float | None = None
    answer: type | None = None
    instances_of: str | None = None

    def answer_problem(self, body: Any) -> str | None:
        """What is wrong with a decoded answer (a proxy's page, a foreign one), or None."""
        if self.answer is not None and not isinstance(body, self.answer):
            return f"expected a JSON {json_type(self.answer)}, got {json_type(type(body))}"
        if self.instances_of is not None:
            return entries_problem(body, self.instances_of)
        return None

    @property
    def description(self) -> str:
        """``METHOD path`` for messages and logs (never the query string)."""
        return f"{self.method} {self.path}"

    @property
    def idempotent(self) -> bool:
        """Whether sending it again after it reached Consul is harmless: the provider only
        reads from Consul, so always."""
        return True


def check_service_name(service: str) -> str:
    """``service``, if it can be sent as a path segment; a ``ValueError`` naming it if not.

    ``.`` and ``..`` are path steps, not names: URL normalisation drops them, so the request
    would reach another endpoint (``/v1/health/service/..`` is ``/v1/health/``).
    """
    if not service:
        raise ValueError("the Consul service name must not be empty")
    if {".", ".."} & set(service.split("/")):
        raise ValueError(
            f"{service!r} cannot be a Consul service name: '.' and '..' are path steps that "
            "URL normalisation removes, so the request would reach another Consul endpoint; "
            "use the name the service is registered under"
        )
    return service


def _segment(value: str) -> str:
    return quote(check_service_name(value), safe="")


def format_wait(seconds: float) -> str:
    """A wait for ``?wait=``, in whole milliseconds (Consul parses Go durations)."""
    seconds = min(max(seconds, 0.001), MAX_BLOCKING_WAIT)
    return f"{math.ceil(seconds * 1000)}ms"


def blocking_read_timeout(wait: float | None, timeout: float) -> float:
    """Read timeout of a request: its wait, Consul's jitter (up to wait/16), plus ``timeout``."""
    if not wait:
        return timeout
    wait = min(wait, MAX_BLOCKING_WAIT)
    return wait + wait / 16 + timeout


def _blocking(params: list[tuple[str, str]], index: int | None, wait: float | None) -> float | None:
    if index:
        params.append(("index", str(index)))
        if wait:
            params.append(("wait", format_wait(wait)))
            return min(wait, MAX_BLOCKING_WAIT)
        return MAX_BLOCKING_WAIT / 2  # Consul's default wait is 5 minutes
    return None


def health_service(
    service: str,
    *,
    tags: tuple[str, ...] | list[str] = (),
    datacenter: str | None = None,
    filter_expr: str | None = None,
    passing_only: bool = False,
    index: int | None = None,
    wait: float | None = None,
) -> ConsulRequest:
    """``GET /v1/health/service/:service``: every instance with all its checks.

    :param service: the service name.
    :param tags: only instances carrying all these tags.
    :param datacenter: ``?dc=``; the agent's own when ``None``.
    :param filter_expr: a bexpr ``?filter=`` expression.
    :param passing_only: ``?passing``: only instances whose checks all pass.
    :param index: block until the service's index passes this one.
    :param wait: longest wait in seconds of the blocking query.
    """
    params: list[tuple[str, str]] = [("tag", tag) for tag in tags]
    if datacenter:
        params.append(("dc", datacenter))
    if filter_expr:
        params.append(("filter", filter_expr))
    if passing_only:
        params.append(("passing", "1"))
    blocking_wait = _blocking(params, index, wait)
    path = f"/v1/health/service/{_segment(service)}"
    return ConsulRequest(
        "GET", path, tuple(params), blocking_wait, answer=list, instances_of=service
    )


def catalog_service(service: str, *, datacenter: str | None = None) -> ConsulRequest:
    """``GET /v1/catalog/service/:service``: tells an unknown service from one with no match."""
    params = (("dc", datacenter),) if datacenter else ()
    return ConsulRequest("GET", f"/v1/catalog/service/{_segment(service)}", params, answer=list)


def status_leader(*, datacenter: str | None = None) -> ConsulRequest:
    """``GET /v1/status/leader``: the Raft leader's address (needs no ACL)."""
    params = (("dc", datacenter),) if datacenter else ()
    return ConsulRequest("GET", "/v1/status/leader", params, answer=str)
