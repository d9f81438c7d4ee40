"""Health of a Consul service's instances, judged from ``/v1/health/service`` (pure: no I/O).

An instance is healthy when every check on it is ``passing``: its own checks and its node's
(``serfHealth``, node maintenance). With ``treat_warning_as_passing`` a ``warning`` counts as
passing too. A status this module does not know raises instead of being taken for "not yet",
and an answer not shaped like Consul's (a proxy's page, another endpoint's JSON, an instance of
another service) raises instead of being counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_nomad.exceptions import ConsulUnexpectedResponseError

__all__ = [
    "CRITICAL",
    "MAINTENANCE",
    "PASSING",
    "WARNING",
    "CheckState",
    "HealthReport",
    "InstanceHealth",
    "Verdict",
    "entries_problem",
    "json_type",
    "judge",
    "parse_instances",
]

PASSING = "passing"
WARNING = "warning"
CRITICAL = "critical"
MAINTENANCE = "maintenance"
_SEVERITY = {PASSING: 0, WARNING: 1, CRITICAL: 2, MAINTENANCE: 2}
_OUTPUT_CHARS = 500


@dataclass(frozen=True)
class CheckState:
    """One check's result as Consul reports it."""

    check_id: str
    name: str
    status: str
    output: str = ""
    service_id: str = ""

    def describe(self) -> str:
        text = f"check {self.name!r} ({self.check_id}) is {self.status}"
        output = " ".join(self.output.split())
        if output:
            if len(output) > _OUTPUT_CHARS:
                output = output[:_OUTPUT_CHARS] + "..."
            text += f": {output}"
        return text


@dataclass(frozen=True)
class InstanceHealth:
    """One instance of the service, where it listens, and its checks (node checks first)."""

    service_id: str
    node: str
    address: str
    port: int
    checks: tuple[CheckState, ...]

    @property
    def status(self) -> str:
        """The worst status among the checks (``passing`` when there are none)."""
        return max((c.status for c in self.checks), key=_SEVERITY.__getitem__, default=PASSING)

    def failing_checks(self, treat_warning_as_passing: bool = False) -> list[CheckState]:
        accepted = {PASSING, WARNING} if treat_warning_as_passing else {PASSING}
        return [check for check in self.checks if check.status not in accepted]

    def is_healthy(self, treat_warning_as_passing: bool = False) -> bool:
        return not self.failing_checks(treat_warning_as_passing)

    @property
    def endpoint(self) -> str:
        """``address:port`` (IPv6 addresses in brackets)."""
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    def describe(self, treat_warning_as_passing: bool = False) -> str:
        failing = self.failing_checks(treat_warning_as_passing)
        reasons = "; ".join(check.describe() for check in failing) or "healthy"
        return f"instance {self.service_id!r} on node {self.node!r} ({self.endpoint}): {reasons}"


def _status(value: Any, check_id: str) -> str:
    if value not in _SEVERITY:
        raise ConsulUnexpectedResponseError(
            f"Consul reported status {value!r} for check {check_id!r}; expected one of "
            f"{sorted(_SEVERITY)}"
        )
    return str(value)


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number"}


def json_type(python_type: type) -> str:
    """The JSON name of a decoded value's type (``list``: ``array``), for messages."""
    if python_type is bool:
        return "boolean"
    if python_type is type(None):
        return "null"
    return _JSON_TYPES.get(python_type, python_type.__name__)


def _has_text(obj: Mapping[str, Any], *keys: str) -> bool:
    return all(isinstance(obj.get(key), str) for key in keys)


def _entry_problem(entry: Any, service: str) -> str | None:
    if not isinstance(entry, dict):
        return f"expected an object, got {json_type(type(entry))}"
    node, own, checks = entry.get("Node"), entry.get("Service"), entry.get("Checks")
    if not (isinstance(node, dict) and _has_text(node, "Node")):
        return "no Node object naming the node"
    if not (isinstance(own, dict) and _has_text(own, "ID", "Service")):
        return "no Service object with ID and Service"
    # Consul matches service names without regard to case.
    if own["Service"].lower() != service.lower():
        return f"it is an instance of service {own['Service']!r}, not of {service!r}"
    port = own.get("Port") or 0
    if isinstance(port, bool) or not isinstance(port, int):
        return f"Service.Port is not a number (got {json_type(type(port))})"
    if not all(isinstance(x.get("Address") or "", str) for x in (own, node)):
        return "an Address that is not a string"
    if not isinstance(checks, list):
        return "no Checks array"
    if not all(isinstance(c, dict) and _has_text(c, "CheckID", "Status") for c in checks):
        return "a check without CheckID or Status"
    return None


def entries_problem(entries: Any, service: str) -> str | None:
    """Why ``entries`` is not Consul's list of ``service``'s instances, or None.

    ``GET /v1/health/service/:service`` answers an array of entries; each must carry ``Node``
    (an object naming the node), ``Service`` (an object with ``ID`` and ``Service``, the
    latter naming ``service``) and ``Checks`` (an array of objects with ``CheckID`` and
    ``Status``): anything less cannot say that an instance is healthy.

    :param entries: the decoded JSON answer.
    :param service: the service asked about.
    """
    if not isinstance(entries, list):
        return f"expected a JSON array of instances, got {json_type(type(entries))}"
    for number, entry in enumerate(entries):
        problem = _entry_problem(entry, service)
        if problem:
            return f"instance {number}: {problem}"
    return None


def parse_instances(entries: Any, service: str) -> tuple[InstanceHealth, ...]:
    """Instances from the JSON of ``GET /v1/health/service/:service``.

    The address is the service's own, else its node's, as Consul's DNS interface does.

    :param entries: the decoded JSON answer.
    :param service: the service asked about: an instance of another one is not counted, it
        makes the whole answer suspect.
    :raises ConsulUnexpectedResponseError: the answer is not shaped like Consul's.
    """
    problem = entries_problem(entries, service)
    if problem:
        raise ConsulUnexpectedResponseError(
            f"Unexpected answer from Consul about the health of service {service!r}: "
            f"{problem}. Something other than a Consul agent may be answering at the "
            "connection's address"
        )
    instances = []
    for entry in entries:
        node, own = entry["Node"], entry["Service"]
        checks = tuple(
            CheckState(
                check_id=check["CheckID"],
                name=str(check.get("Name", "")),
                status=_status(check["Status"], check["CheckID"]),
                output=str(check.get("Output") or ""),
                service_id=str(check.get("ServiceID") or ""),
            )
            for check in entry["Checks"]
        )
        instances.append(
            InstanceHealth(
                service_id=own["ID"],
                node=node["Node"],
                address=own.get("Address") or node.get("Address") or "",
                port=own.get("Port") or 0,
                checks=checks,
            )
        )
    return tuple(instances)


@dataclass(frozen=True)
class HealthReport:
    """What one health query found, and what the reader needs to explain it.

    :param service: the service name.
    :param datacenter: the datacenter asked (``None``: the agent's own).
    :param index: ``X-Consul-Index`` of the answer, to block on next.
    :param instances: the instances matching the tags and filter.
    :param treat_warning_as_passing: whether ``warning`` counts as healthy.
    :param service_exists: whether the catalog knows the service; ``None`` when not asked
        (instances were found, so it does).
    :param filtered_by_acls: Consul removed results the token may not read.
    :param anonymous: the request carried no token.
    :param tags: the tags asked for.
    :param filter_expr: the filter expression asked for.
    """

    service: str
    datacenter: str | None
    index: int
    instances: tuple[InstanceHealth, ...]
    treat_warning_as_passing: bool = False
    service_exists: bool | None = None
    filtered_by_acls: bool = False
    anonymous: bool = False
    tags: tuple[str, ...] = ()
    filter_expr: str | None = None

    @property
    def healthy(self) -> tuple[InstanceHealth, ...]:
        return tuple(i for i in self.instances if i.is_healthy(self.treat_warning_as_passing))

    @property
    def unhealthy(self) -> tuple[InstanceHealth, ...]:
        return tuple(i for i in self.instances if not i.is_healthy(self.treat_warning_as_passing))

    @property
    def addresses(self) -> list[str]:
        """``address:port`` of every healthy instance."""
        return [instance.endpoint for instance in self.healthy]

    @property
    def is_missing(self) -> bool:
        """The service itself is unknown (not merely without a matching instance)."""
        return self.service_exists is False

    @property
    def where(self) -> str:
        return f"datacenter {self.datacenter!r}" if self.datacenter else "the agent's datacenter"

    def _visibility_hint(self) -> str:
        if self.filtered_by_acls:
            return (
                " Consul filtered the answer by ACLs: the connection's token lacks "
                f"service:read on {self.service!r} or node:read on the nodes running it."
            )
        if self.anonymous:
            return (
                " The connection has no token: if the cluster enforces ACLs, Consul hides "
                "what the anonymous token may not read (give it service:read and node:read)."
            )
        return ""

    def explain(self, min_passing: int) -> str:
        """One paragraph: where the service stands against ``min_passing``."""
        if self.is_missing:
            return (
                f"Service {self.service!r} is not registered in Consul ({self.where})."
                + self._visibility_hint()
            )
        if not self.instances:
            criteria = []
            if self.tags:
                criteria.append(f"tags {list(self.tags)}")
            if self.filter_expr:
                criteria.append(f"filter {self.filter_expr!r}")
            wanted = " and ".join(criteria) or "the query"
            return (
                f"Service {self.service!r} is registered ({self.where}) but no instance "
                f"matches {wanted}." + self._visibility_hint()
            )
        counted = "passing or warning" if self.treat_warning_as_passing else "passing"
        return (
            f"{len(self.healthy)} of {len(self.instances)} instance(s) of {self.service!r} "
            f"({self.where}) have all checks {counted}; {min_passing} needed."
        )

    def unhealthy_details(self) -> list[str]:
        """One line per instance not counted as healthy, naming its failing checks and output."""
        return [i.describe(self.treat_warning_as_passing) for i in self.unhealthy]


@dataclass(frozen=True)
class Verdict:
    """What a sensor should do with a report."""

    done: bool
    missing: bool
    message: str


def judge(report: HealthReport, min_passing: int) -> Verdict:
    """Decide from ``report`` whether ``min_passing`` healthy instances are there."""
    if report.is_missing:
        return Verdict(done=False, missing=True, message=report.explain(min_passing))
    done = len(report.healthy) >= min_passing
    return Verdict(done=done, missing=False, message=report.explain(min_passing))
