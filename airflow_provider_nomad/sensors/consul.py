"""Sensor that waits until enough instances of a Consul service are healthy."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from airflow_provider_nomad.blocking import BlockingPacer, next_index
from airflow_provider_nomad.consul.health import HealthReport, Verdict, judge
from airflow_provider_nomad.consul.requests import MAX_BLOCKING_WAIT, check_service_name
from airflow_provider_nomad.exceptions import ConsulServiceNotFoundError
from airflow_provider_nomad.hooks.consul import ConsulHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_nomad.triggers.consul import ConsulHealthTrigger

__all__ = ["ConsulHealthSensor"]

#: A blocking query shorter than this is not worth sending: the poke ends instead.
_MIN_BLOCKING_WAIT = 0.5


class ConsulHealthSensor(BaseSensorOperator):
    """Wait until at least ``min_passing`` instances of a Consul service have all checks passing.

    An instance counts when every check on it passes: its own checks and its node's
    (``serfHealth``, maintenance mode). While waiting, the sensor logs which instances are
    not healthy, which checks hold them back and the checks' output. A service that is not
    registered is reported as such; with ``fail_on_missing`` the task fails at once.

    Waiting uses Consul blocking queries: in ``poke`` mode each poke blocks on the service's
    ``X-Consul-Index`` for up to ``poke_interval`` and returns as soon as a check changes; the
    index is kept between pokes, so a change made while the sensor slept is seen at the next
    poke without waiting; an agent (or a proxy) that answers at once without a new index is
    asked at a slowing pace, never in a busy loop. In ``reschedule`` mode each poke is a
    single read. With ``deferrable=True`` the wait runs in :class:`~airflow_provider_nomad.
    triggers.consul.ConsulHealthTrigger` and the result is checked again through the hook
    when it fires.

    Returns (XCom ``return_value``) the ``address:port`` of each healthy instance: the
    service's address, or its node's when the service registered none.

    :param service: Consul service name. (templated)
    :param min_passing: healthy instances needed (at least 1).
    :param tag: a tag, or tags, every counted instance must carry. (templated)
    :param datacenter: Consul datacenter; default the connection's ``datacenter`` extra, else
        the agent's. (templated)
    :param filter: a Consul ``filter`` expression the instances must match, e.g.
        ``Service.Meta.env == "prod"``. (templated)
    :param treat_warning_as_passing: count checks in ``warning`` as passing.
    :param fail_on_missing: fail at once when the service is not registered, instead of
        waiting for it to appear.
    :param return_addresses: return the healthy instances' addresses (XCom); ``False``
        returns nothing.
    :param consul_conn_id: Airflow connection of type ``consul``.
    :param deferrable: wait in the triggerer instead of holding a worker slot.
    """

    template_fields: Sequence[str] = ("service", "tag", "filter", "datacenter")
    ui_color = "#e3f0ea"

    def __init__(
        self,
        *,
        service: str,
        min_passing: int = 1,
        tag: str | Sequence[str] | None = None,
        datacenter: str | None = None,
        filter: str | None = None,
        treat_warning_as_passing: bool = False,
        fail_on_missing: bool = False,
        return_addresses: bool = True,
        consul_conn_id: str = ConsulHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(min_passing, bool) or not isinstance(min_passing, int) or min_passing < 1:
            raise ValueError(f"min_passing must be a positive integer, got {min_passing!r}")
        self.service = service
        self.min_passing = min_passing
        self.tag = tag
        self.datacenter = datacenter
        self.filter = filter
        self.treat_warning_as_passing = treat_warning_as_passing
        self.fail_on_missing = fail_on_missing
        self.return_addresses = return_addresses
        self.consul_conn_id = consul_conn_id
        self.deferrable = deferrable
        self._last_index: int | None = None
        self._pacer = BlockingPacer()
        self._first_poke: float | None = None
        self._last_logged: tuple[str, tuple[str, ...]] | None = None

    @cached_property
    def hook(self) -> ConsulHook:
        return ConsulHook(self.consul_conn_id, datacenter=self.datacenter or None)

    @property
    def tags(self) -> tuple[str, ...]:
        if not self.tag:
            return ()
        if isinstance(self.tag, str):
            return (self.tag,)
        return tuple(self.tag)

    # -- one read ---------------------------------------------------------------------------

    def _read(self, index: int | None = None, wait: float | None = None) -> HealthReport:
        """One health read, blocking on ``index`` for up to ``wait`` seconds when both are set.

        Keeps the index to block on next in ``_last_index``.
        """
        if not self.service:
            raise ValueError("service must name a Consul service")
        check_service_name(self.service)
        self._pacer.sending(index)
        report = self.hook.health_report(
            self.service,
            tags=self.tags,
            filter_expr=self.filter or None,
            treat_warning_as_passing=self.treat_warning_as_passing,
            index=index,
            wait=wait,
        )
        self._pacer.answered(report.index)
        self._last_index = next_index(index, report.index)
        return report

    def _judge(self, report: HealthReport) -> Verdict:
        """Verdict on a report; raises when the service is missing and that must fail."""
        verdict = judge(report, self.min_passing)
        if verdict.missing and self.fail_on_missing:
            raise ConsulServiceNotFoundError(self.service, report.datacenter, verdict.message)
        return verdict

    def _result(self, report: HealthReport) -> list[str] | None:
        addresses = report.addresses
        self.log.info(
            "Consul service %r is healthy: %d instance(s) passing (%s)",
            self.service,
            len(report.healthy),
            ", ".join(addresses),
        )
        return addresses if self.return_addresses else None

    def _log_waiting(self, report: HealthReport, verdict: Verdict) -> None:
        # The details are logged when they change, not at every read.
        details = (verdict.message, tuple(report.unhealthy_details()))
        if details == self._last_logged:
            return
        self._last_logged = details
        self.log.info("Waiting for Consul service %r: %s", self.service, verdict.message)
        for line in report.unhealthy_details():
            self.log.info("  %s", line)

    # -- poke / reschedule ------------------------------------------------------------------

    def _blocking_budget(self) -> float:
        """How long this poke may block: the poke interval, never past the sensor's timeout."""
        if self.reschedule:
            return 0.0
        now = time.monotonic()
        if self._first_poke is None:
            self._first_poke = now
        left = self.timeout - (now - self._first_poke) if self.timeout else self.poke_interval
        return max(0.0, min(self.poke_interval, MAX_BLOCKING_WAIT, left))

    def poke(self, context: Context) -> PokeReturnValue:
        budget = self._blocking_budget()
        deadline = time.monotonic() + budget
        # With an index from the previous poke the first read already blocks: a change made
        # while the sensor slept returns at once, no change waits for it.
        index = self._last_index if budget else None
        report = self._read(index, budget if index else None)
        while True:
            verdict = self._judge(report)
            if verdict.done:
                return PokeReturnValue(is_done=True, xcom_value=self._result(report))
            self._log_waiting(report, verdict)
            pause = self._pacer.delay()
            remaining = deadline - time.monotonic() - pause
            if remaining < _MIN_BLOCKING_WAIT:
                return PokeReturnValue(is_done=False)
            time.sleep(pause)  # non-zero only when Consul answers early or churns
            report = self._read(self._last_index, remaining)

    # -- deferrable -------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        report = self._read()
        verdict = self._judge(report)
        if verdict.done:
            return self._result(report)
        self._log_waiting(report, verdict)
        self._defer(report.index)
        return None  # pragma: no cover - defer() raises

    def _trigger(self, index: int) -> ConsulHealthTrigger:
        from airflow_provider_nomad.triggers.consul import ConsulHealthTrigger

        return ConsulHealthTrigger(
            service=self.service,
            min_passing=self.min_passing,
            tags=self.tags,
            datacenter=self.datacenter or None,
            filter_expr=self.filter or None,
            treat_warning_as_passing=self.treat_warning_as_passing,
            fail_on_missing=self.fail_on_missing,
            consul_conn_id=self.consul_conn_id,
            index=index,
        )

    def _defer(self, index: int) -> None:
        self.defer(
            trigger=self._trigger(index),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Resume after the trigger fired: check again through the hook before succeeding."""
        from airflow_provider_nomad.triggers.consul import ConsulHealthEvent

        fired = ConsulHealthEvent.from_dict(event)
        if fired.status == "error":
            raise fired.exception()
        if fired.status == "missing":
            raise ConsulServiceNotFoundError(self.service, fired.datacenter, fired.message)
        report = self._read()
        verdict = self._judge(report)
        if verdict.done:
            return self._result(report)
        # The service flapped between the trigger's answer and this read: wait again.
        self.log.info("Re-check after the trigger fired: %s", verdict.message)
        self._log_waiting(report, verdict)
        self._defer(report.index)
        return None  # pragma: no cover - defer() raises
