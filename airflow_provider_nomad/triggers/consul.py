"""Trigger that waits in the triggerer until enough instances of a Consul service are healthy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_nomad import exceptions
from airflow_provider_nomad.blocking import BlockingPacer, next_index
from airflow_provider_nomad.consul.health import HealthReport, judge
from airflow_provider_nomad.exceptions import NomadProviderError
from airflow_provider_nomad.hooks.consul import ConsulAsyncHook, ConsulHook

__all__ = ["ConsulHealthEvent", "ConsulHealthTrigger"]

EventStatus = Literal["healthy", "missing", "error"]
#: Longest wait of one blocking query (Consul caps it at 10 minutes).
DEFAULT_BLOCKING_WAIT = 300.0


@dataclass(frozen=True)
class ConsulHealthEvent:
    """The one event a :class:`ConsulHealthTrigger` fires.

    :param status: ``healthy`` (enough instances pass), ``missing`` (the service is not
        registered and ``fail_on_missing`` is set) or ``error`` (waiting failed).
    :param service: the service waited for.
    :param datacenter: the datacenter asked (``None``: the agent's own).
    :param index: ``X-Consul-Index`` of the last answer.
    :param addresses: ``address:port`` of the healthy instances.
    :param message: what the trigger saw last, in words.
    :param error: for ``error``, the provider error as ``[class name, args]``, so the task
        raises the same type.
    """

    status: EventStatus
    service: str
    datacenter: str | None
    index: int = 0
    addresses: list[str] = field(default_factory=list)
    message: str = ""
    error: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "service": self.service,
            "datacenter": self.datacenter,
            "index": self.index,
            "addresses": list(self.addresses),
            "message": self.message,
            "error": list(self.error) if self.error else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConsulHealthEvent:
        status = data["status"]
        if status not in ("healthy", "missing", "error"):
            raise ValueError(f"unknown Consul health event status {status!r}")
        return cls(
            status=status,
            service=data["service"],
            datacenter=data.get("datacenter"),
            index=int(data.get("index") or 0),
            addresses=list(data.get("addresses") or []),
            message=data.get("message") or "",
            error=list(data["error"]) if data.get("error") else None,
        )

    @classmethod
    def from_error(
        cls, service: str, datacenter: str | None, exc: NomadProviderError
    ) -> ConsulHealthEvent:
        return cls(
            status="error",
            service=service,
            datacenter=datacenter,
            message=str(exc),
            error=[type(exc).__name__, list(exc.args)],
        )

    def exception(self) -> NomadProviderError:
        """The error an ``error`` event carries, rebuilt as its own provider error class."""
        name, args = (self.error or ["NomadProviderError", [self.message]])[:2]
        # Only this provider's own error classes are rebuilt; anything else becomes the base.
        cls = getattr(exceptions, str(name), None)
        if isinstance(cls, type) and issubclass(cls, NomadProviderError):
            try:
                return cls(*args)
            except TypeError:
                pass
        return NomadProviderError(self.message)


class ConsulHealthTrigger(BaseTrigger):
    """Wait with Consul blocking queries until ``min_passing`` instances have all checks passing.

    Each query blocks on the service's ``X-Consul-Index`` for up to ``wait`` seconds, so the
    trigger wakes as soon as a check changes and makes no request while nothing does; an
    agent (or a proxy) that answers at once without a new index is asked at a slowing pace
    (:class:`~airflow_provider_nomad.blocking.BlockingPacer`), never in a busy loop.

    :param service: the Consul service name.
    :param min_passing: healthy instances needed.
    :param tags: only instances carrying all these tags count.
    :param datacenter: Consul datacenter (default: the connection's, else the agent's).
    :param filter_expr: a Consul ``filter`` expression the instances must match.
    :param treat_warning_as_passing: count ``warning`` checks as passing.
    :param fail_on_missing: end with a ``missing`` event when the service is not registered,
        instead of waiting for it to appear.
    :param consul_conn_id: connection of type ``consul``.
    :param index: ``X-Consul-Index`` to block on first (0: read at once).
    :param wait: longest wait in seconds of one blocking query.
    """

    def __init__(
        self,
        *,
        service: str,
        min_passing: int = 1,
        tags: Sequence[str] = (),
        datacenter: str | None = None,
        filter_expr: str | None = None,
        treat_warning_as_passing: bool = False,
        fail_on_missing: bool = False,
        consul_conn_id: str = ConsulHook.default_conn_name,
        index: int = 0,
        wait: float = DEFAULT_BLOCKING_WAIT,
    ) -> None:
        super().__init__()
        self.service = service
        self.min_passing = min_passing
        self.tags = tuple(tags)
        self.datacenter = datacenter
        self.filter_expr = filter_expr
        self.treat_warning_as_passing = treat_warning_as_passing
        self.fail_on_missing = fail_on_missing
        self.consul_conn_id = consul_conn_id
        self.index = index
        self.wait = wait

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "service": self.service,
                "min_passing": self.min_passing,
                "tags": list(self.tags),
                "datacenter": self.datacenter,
                "filter_expr": self.filter_expr,
                "treat_warning_as_passing": self.treat_warning_as_passing,
                "fail_on_missing": self.fail_on_missing,
                "consul_conn_id": self.consul_conn_id,
                "index": self.index,
                "wait": self.wait,
            },
        )

    def _hook(self) -> ConsulAsyncHook:
        return ConsulAsyncHook(self.consul_conn_id, datacenter=self.datacenter)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            event = await self._wait()
        except NomadProviderError as exc:
            event = ConsulHealthEvent.from_error(self.service, self.datacenter, exc)
        yield TriggerEvent(event.to_dict())

    async def _wait(self) -> ConsulHealthEvent:
        index = self.index
        last_message = None
        pacer = BlockingPacer()
        async with self._hook() as hook:
            while True:
                await asyncio.sleep(pacer.delay())
                pacer.sending(index)
                report = await hook.health_report(
                    self.service,
                    tags=self.tags,
                    filter_expr=self.filter_expr,
                    treat_warning_as_passing=self.treat_warning_as_passing,
                    index=index or None,
                    wait=self.wait,
                )
                pacer.answered(report.index)
                verdict = judge(report, self.min_passing)
                if verdict.done:
                    return self._event("healthy", report, verdict.message)
                if verdict.missing and self.fail_on_missing:
                    return self._event("missing", report, verdict.message)
                if verdict.message != last_message:
                    self._log_waiting(report, verdict.message)
                    last_message = verdict.message
                # If the index went back (a snapshot restore), the next query is a plain read
                # that restarts the loop, as Consul's docs prescribe.
                index = next_index(index, report.index)

    def _event(self, status: EventStatus, report: HealthReport, message: str) -> ConsulHealthEvent:
        return ConsulHealthEvent(
            status=status,
            service=self.service,
            datacenter=self.datacenter,
            index=report.index,
            addresses=report.addresses,
            message=message,
        )

    def _log_waiting(self, report: HealthReport, message: str) -> None:
        self.log.info("Waiting for Consul service %r: %s", self.service, message)
        for line in report.unhealthy_details():
            self.log.info("  %s", line)
