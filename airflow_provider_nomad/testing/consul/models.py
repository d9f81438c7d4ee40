"""State of the emulated Consul cluster and its transitions: registrations, check results, reads.

Every write takes the next Raft index and records it on the tables and services it touched, so
a blocking query returns exactly when the data it reads changed, as in Consul's state store.
Writes may come from the loop serving the API or from another thread (a test driving
``app.state.backend``): one lock guards the data, and :class:`~.blocking.ChangeFeed` hands the
wake-ups to the loop.

Script and HTTP checks are run by :mod:`.check_runner`. Known simplifications: TCP/UDP/gRPC
checks are accepted but not run (they keep the status they were registered with, critical by
default); a new output with an unchanged status is
visible at once, where a real agent may defer it by ``check_update_interval``.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from airflow_provider_nomad.testing.consul import errors, kv_ops
from airflow_provider_nomad.testing.consul.acl import READ, WRITE, Authorizer
from airflow_provider_nomad.testing.consul.acl_store import AclStore
from airflow_provider_nomad.testing.consul.blocking import ChangeFeed
from airflow_provider_nomad.testing.consul.check_runner import CheckRunner
from airflow_provider_nomad.testing.consul.definitions import (
    CRITICAL,
    PASSING,
    VALID_STATUSES,
    CatalogRegistration,
    CheckSpec,
    ServiceSpec,
    default_service_addresses,
)
from airflow_provider_nomad.testing.consul.proxy_config import CONNECT_PROXY, GATEWAY_KINDS
from airflow_provider_nomad.testing.consul.records import (
    SERF_ALIVE_OUTPUT,
    SERF_CHECK_ID,
    SERF_CHECK_NAME,
    SERF_FAILED_OUTPUT,
    Datacenter,
    HealthCheck,
    Node,
    ServiceInstance,
    check_from_spec,
)
from airflow_provider_nomad.testing.consul.sessions import sessions_on_check
from airflow_provider_nomad.testing.consul.sidecars import sidecar_spec

CHECK_OUTPUT_MAX = 4096  # checks.DefaultBufSize
TTL_EXPIRED = "TTL expired"
SERVER_RPC_PORT = 8300


class ConsulBackend:
    """The emulated cluster. One per app; ``reset()`` returns it to its initial state.

    :param acl_token: management token; when set, ACLs are enforced (default policy deny).
    :param datacenter: the agent's datacenter.
    :param node_name: the agent's node name.
    :param node_address: the agent's node address (``Node.Address``).
    :param rng: random source of the blocking-query jitter.
    :param enable_script_checks: run script checks (``Args``) as local subprocesses, as an
        agent with ``enable_script_checks``; without it registering one is refused.
    """

    def __init__(
        self,
        *,
        acl_token: str | None = None,
        datacenter: str = "dc1",
        node_name: str = "node-1",
        node_address: str = "127.0.0.1",
        rng: random.Random | None = None,
        enable_script_checks: bool = False,
    ) -> None:
        self.local_datacenter = datacenter
        self.enable_script_checks = enable_script_checks
        self.node_name = node_name
        self.node_address = node_address
        self._index = 0
        self.acl = AclStore(acl_token, next_index=self._write, datacenter=datacenter)
        self.lock = threading.RLock()
        self.feed = ChangeFeed(self.lock, rng)
        self.check_runner = CheckRunner(self)
        self._ttl_generation = 0
        self._datacenters: dict[str, Datacenter] = {}
        #: tokens set through ``PUT /v1/agent/token/:type``, by slot (``default``, ``agent``...)
        self.agent_tokens: dict[str, str] = {}
        #: state of the modules serving other endpoints (user events, autopilot...), each
        #: under its own key; a reset empties it
        self.extra_state: dict[str, Any] = {}
        self.started_at = time.time()  # when the (only) server became leader and stable
        #: set by the server hosting the agent: stops its listener after ``/v1/agent/leave``
        self.on_leave: Callable[[], None] | None = None
        self.reset()

    def reset(self) -> None:
        """Drop every registration, datacenter and token; keep the Raft index increasing.

        The index never goes back, so a client still holding an index from before the reset
        gets an answer at once instead of blocking until its wait runs out.
        """
        with self.lock:
            self._ttl_generation += 1  # pending TTL timers become no-ops
            self._datacenters = {}
            self.agent_tokens = {}
            self.extra_state = {}
            self.acl.reset()
            self._add_datacenter(self.local_datacenter, self.node_name, self.node_address)
        self.feed.notify()

    def restore_datacenter(self, dc: Datacenter, snapshot_index: int) -> int:
        """Put a datacenter restored from a snapshot in place of the one of the same name.

        Like :meth:`reset`, the Raft index keeps increasing and every table is written at the
        new index, so queries parked on the old state wake up and see the restored one.
        """
        with self.lock:
            self._ttl_generation += 1  # TTL timers of the old checks become no-ops
            self._index = max(self._index, snapshot_index)
            index = self._write()
            for table in dc.table_index:
                dc.table_index[table] = index
            for name in dc.service_names():
                dc.service_index[name] = index
            dc.extinction_index = index
            dc.kv.table_index = index
            # In place: a parked query holds the datacenter record it started with.
            current = self._datacenters.setdefault(dc.name, dc)
            for record_field in dataclasses.fields(dc):
                setattr(current, record_field.name, getattr(dc, record_field.name))
            for node in dc.nodes.values():
                for check in node.checks.values():
                    self._arm_ttl(dc.name, node.name, check)
            # Entries keep their snapshot indexes, lower than what parked queries wait past:
            # they are answered at once instead, as Consul abandons its old state store.
            self.feed.abandon()
        self.feed.notify()
        return index

    @property
    def index(self) -> int:
        """The last Raft index handed out."""
        return self._index

    def _write(self) -> int:
        self._index += 1
        return self._index

    def next_index(self) -> int:
        """Take the next Raft index for a write (the caller holds :attr:`lock`)."""
        return self._write()

    def datacenter_or_none(self, name: str) -> Datacenter | None:
        return self._datacenters.get(name)

    def _touch(
        self,
        dc: Datacenter,
        index: int,
        tables: Iterable[str],
        services: Iterable[str] = (),
    ) -> None:
        for table in tables:
            dc.table_index[table] = index
        for name in services:
            dc.service_index[name] = index

    # -- test hooks around blocking queries --------------------------------------------------
    @property
    def blocked_queries(self) -> int:
        """Number of blocking queries parked right now."""
        return self.feed.blocked_queries

    def wait_for_blocked_queries(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block the calling thread until ``count`` queries are parked (test hook)."""
        return self.feed.wait_for_blocked_queries(count, timeout)

    # -- datacenters and nodes -------------------------------------------------------------------
    def datacenter(self, name: str | None) -> Datacenter:
        """The datacenter ``?dc=`` names (the agent's when empty); 500 for an unknown one."""
        dc = self._datacenters.get(name or self.local_datacenter)
        if dc is None:
            raise errors.ConsulHTTPError(500, errors.NO_PATH_TO_DATACENTER)
        return dc

    @property
    def datacenters(self) -> list[str]:
        return sorted(self._datacenters)

    @property
    def local_node(self) -> Node:
        return self._datacenters[self.local_datacenter].nodes[self.node_name]

    def add_datacenter(
        self, name: str, node_name: str | None = None, address: str = "127.0.0.2"
    ) -> None:
        """Add a (federated) datacenter with one healthy server node (control hook)."""
        with self.lock:
            if name in self._datacenters:
                raise ValueError(f"datacenter {name!r} already exists")
            self._add_datacenter(name, node_name or f"{name}-server-1", address)
        self.feed.notify()

    def _add_datacenter(self, name: str, node_name: str, address: str) -> None:
        dc = Datacenter(name=name)
        self._datacenters[name] = dc
        index = self._write()
        node = Node(
            id=str(uuid.uuid4()),
            name=node_name,
            address=address,
            datacenter=name,
            tagged_addresses={
                "lan": address,
                "lan_ipv4": address,
                "wan": address,
                "wan_ipv4": address,
            },
            meta={"consul-network-segment": ""},
            create_index=index,
            modify_index=index,
        )
        node.checks[SERF_CHECK_ID] = HealthCheck(
            node=node_name,
            check_id=SERF_CHECK_ID,
            name=SERF_CHECK_NAME,
            status=PASSING,
            output=SERF_ALIVE_OUTPUT,
            create_index=index,
            modify_index=index,
            agent_local=False,
        )
        # Every server registers the "consul" service, as a real server agent does.
        node.services["consul"] = ServiceInstance(
            id="consul",
            name="consul",
            tags=[],
            address="",
            port=SERVER_RPC_PORT,
            meta={"raft_version": "3", "serf_protocol_current": "2"},
            weights={"Passing": 1, "Warning": 1},
            create_index=index,
            modify_index=index,
            agent_local=False,
        )
        dc.nodes[node_name] = node
        self._touch(dc, index, ("nodes", "services", "checks"), ("consul",))
        # Everything that existed before is gone as of this index (a reset, like a snapshot
        # restore): queries parked on any other service wake up and see it missing.
        dc.extinction_index = index

    def set_serf_health(
        self, passing: bool, *, node: str | None = None, datacenter: str | None = None
    ) -> None:
        """Flip a node's ``serfHealth`` check (control hook): every instance on it follows."""
        with self.lock:
            dc = self.datacenter(datacenter)
            if node is None and dc.name != self.local_datacenter:
                node = next(iter(dc.nodes))  # the datacenter's first (server) node
            target = dc.nodes.get(node or self.node_name)
            if target is None:
                raise KeyError(f"unknown node {node!r} in datacenter {dc.name!r}")
            check = target.checks[SERF_CHECK_ID]
            status, output = (
                (PASSING, SERF_ALIVE_OUTPUT) if passing else (CRITICAL, SERF_FAILED_OUTPUT)
            )
            self._set_check(dc, target, check, status, output)
        self.feed.notify()

    # -- check state -----------------------------------------------------------------------------
    def _set_check(
        self, dc: Datacenter, node: Node, check: HealthCheck, status: str, output: str
    ) -> bool:
        """Record a check result; a write (new index) only when status or output changed."""
        if status == check.status and output == check.output:
            return False
        index = self._write()
        check.status, check.output, check.modify_index = status, output, index
        if status == CRITICAL:
            # A session is only as alive as its checks (Session.Apply's health contract).
            for session in sessions_on_check(dc, node.name, check.check_id):
                kv_ops.invalidate(self, dc, session.id)
        affected = (
            [check.service_name]
            if check.service_id
            else [service.name for service in node.services.values()]
        )
        self._touch(dc, index, ("checks",), affected)
        return True

    def record_check_result(
        self, dc_name: str, node_name: str, check: HealthCheck, status: str, output: str
    ) -> bool:
        """A run of a check the agent runs ended; False when that check is no longer there."""
        with self.lock:
            dc = self._datacenters.get(dc_name)
            node = dc.nodes.get(node_name) if dc else None
            if dc is None or node is None or node.checks.get(check.check_id) is not check:
                return False
            changed = self._set_check(dc, node, check, status, output)
        if changed:
            self.feed.notify()
        return True

    def _arm_ttl(self, dc_name: str, node_name: str, check: HealthCheck) -> None:
        if check.ttl <= 0:
            return
        self._ttl_generation += 1
        generation = check.ttl_generation = self._ttl_generation
        check_id = check.check_id

        def expire() -> None:
            with self.lock:
                dc = self._datacenters.get(dc_name)
                node = dc.nodes.get(node_name) if dc else None
                current = node.checks.get(check_id) if node else None
                if dc is None or node is None or current is None:
                    return
                if current.ttl_generation != generation:
                    return
                last = current.output
                output = (
                    TTL_EXPIRED
                    if not last or last.startswith(TTL_EXPIRED)
                    else f"{TTL_EXPIRED} (last output before timeout follows): {last}"
                )
                changed = self._set_check(dc, node, current, CRITICAL, output)
            if changed:
                self.feed.notify()

        self.feed.call_later(check.ttl, expire)

    def update_ttl_check(self, check_id: str, status: str, output: str, authz: Authorizer) -> None:
        """``PUT /v1/agent/check/{pass,warn,fail,update}/:check_id`` on the agent's node."""
        with self.lock:
            dc = self._datacenters[self.local_datacenter]
            node = self.local_node
            check = node.checks.get(check_id)
            if check is None:
                raise errors.ConsulHTTPError(404, errors.unknown_check_id(check_id))
            self._require_check_write(authz, node, check)
            if check.type != "ttl":
                raise errors.ConsulHTTPError(500, errors.check_without_ttl(check_id))
            if len(output) > CHECK_OUTPUT_MAX:
                output = (
                    f"{output[:CHECK_OUTPUT_MAX]} ... "
                    f"(captured {CHECK_OUTPUT_MAX} of {len(output)} bytes)"
                )
            self._set_check(dc, node, check, status, output)
            self._arm_ttl(dc.name, node.name, check)
        self.feed.notify()

    def _require_check_write(self, authz: Authorizer, node: Node, check: HealthCheck) -> None:
        if check.service_name:
            authz.require("service", check.service_name, WRITE)
        else:
            authz.require("node", node.name, WRITE)

    # -- agent registrations -------------------------------------------------------------------
    def register_service(
        self, spec: ServiceSpec, authz: Authorizer, *, replace_existing_checks: bool = False
    ) -> None:
        """``PUT /v1/agent/service/register``: add or replace an instance on the agent's node,
        and its sidecar proxy when it asks for one (``Connect.SidecarService``)."""
        with self.lock:
            node = self.local_node
            sidecar = None
            if spec.sidecar is not None:
                in_use = [(service.id, service.port) for service in node.services.values()]
                sidecar = sidecar_spec(spec, in_use)
            for candidate in (spec, sidecar):
                if candidate is None:
                    continue
                authz.require("service", candidate.name, WRITE)
                existing = node.services.get(candidate.id)
                if existing is not None:
                    authz.require("service", existing.name, WRITE)
                if not self.enable_script_checks and any(
                    check.is_script for check in candidate.checks
                ):
                    raise errors.ConsulHTTPError(500, errors.SCRIPTS_DISABLED)
            self._add_local_service(spec, replace_existing_checks)
            if sidecar is not None:
                self._add_local_service(sidecar, replace_existing_checks)
        self.feed.notify()

    def _add_local_service(self, spec: ServiceSpec, replace_existing_checks: bool) -> None:
        """Write one instance and its checks on the agent's node (the caller holds the lock
        and has checked the token)."""
        dc = self._datacenters[self.local_datacenter]
        node = self.local_node
        existing = node.services.get(spec.id)
        default_service_addresses(spec)
        index = self._write()
        service = _instance(spec, existing, index)
        node.services[spec.id] = service
        registered: set[str] = set()
        for position, check_spec in enumerate(spec.checks, start=1):
            check_id = check_spec.check_id or f"service:{spec.id}"
            if not check_spec.check_id and len(spec.checks) > 1:
                check_id += f":{position}"
            check = check_from_spec(
                check_spec,
                node=node.name,
                check_id=check_id,
                name=check_spec.name or f"Service '{spec.name}' check",
                service=service,
                previous=node.checks.get(check_id),
            )
            check.create_index = check.create_index or index
            check.modify_index = index
            node.checks[check_id] = check
            registered.add(check_id)
            self._arm_ttl(dc.name, node.name, check)
            self.check_runner.watch(dc.name, node.name, check, check_spec)
        for check in node.service_checks(spec.id):
            if check.check_id in registered:
                continue
            if replace_existing_checks:
                del node.checks[check.check_id]
            else:
                check.service_tags = list(service.tags)
        names = {spec.name} | ({existing.name} if existing else set())
        self._touch(dc, index, ("services", "checks"), names)
        if existing and existing.name != spec.name:
            self._mark_extinct_if_gone(dc, existing.name, index)

    def deregister_service(self, service_id: str, authz: Authorizer) -> None:
        """``PUT /v1/agent/service/deregister/:service_id``: the instance and its checks go,
        with the sidecar the agent registered for it (``removeServiceSidecars``)."""
        with self.lock:
            dc = self._datacenters[self.local_datacenter]
            node = self.local_node
            self._remove_service(dc, node, service_id, authz)
            sidecars = [s.id for s in node.services.values() if s.sidecar_of == service_id]
            for sidecar in sidecars:
                self._remove_service(dc, node, sidecar, authz)
        self.feed.notify()

    def _remove_service(
        self, dc: Datacenter, node: Node, service_id: str, authz: Authorizer
    ) -> None:
        service = node.services.get(service_id)
        if service is None:
            raise errors.ConsulHTTPError(404, errors.unknown_service_id(service_id))
        authz.require("service", service.name, WRITE)
        index = self._write()
        del node.services[service_id]
        for check in node.service_checks(service_id):
            del node.checks[check.check_id]
        self._touch(dc, index, ("services", "checks"), (service.name,))
        self._mark_extinct_if_gone(dc, service.name, index)

    def _mark_extinct_if_gone(self, dc: Datacenter, name: str, index: int) -> None:
        if not dc.instances(name):
            dc.service_index.pop(name, None)
            dc.extinction_index = index

    def register_check(self, spec: CheckSpec, authz: Authorizer) -> None:
        """``PUT /v1/agent/check/register``: a node check, or a check of an existing instance."""
        with self.lock:
            dc = self._datacenters[self.local_datacenter]
            node = self.local_node
            service = None
            if spec.service_id:
                service = node.services.get(spec.service_id)
                if service is None:
                    raise errors.ConsulHTTPError(
                        404, f"ServiceID {errors.go_quote(spec.service_id)} does not exist"
                    )
            if service is not None:
                authz.require("service", service.name, WRITE)
            else:
                authz.require("node", node.name, WRITE)
            if spec.is_script and not self.enable_script_checks:
                raise errors.ConsulHTTPError(500, errors.SCRIPTS_DISABLED)
            index = self._write()
            check = check_from_spec(
                spec,
                node=node.name,
                check_id=spec.check_id,
                name=spec.name,
                service=service,
                previous=node.checks.get(spec.check_id),
            )
            check.create_index = check.create_index or index
            check.modify_index = index
            node.checks[check.check_id] = check
            self._arm_ttl(dc.name, node.name, check)
            self.check_runner.watch(dc.name, node.name, check, spec)
            affected = [service.name] if service else [s.name for s in node.services.values()]
            self._touch(dc, index, ("checks",), affected)
        self.feed.notify()

    def deregister_check(self, check_id: str, authz: Authorizer) -> None:
        """``PUT /v1/agent/check/deregister/:check_id``."""
        with self.lock:
            dc = self._datacenters[self.local_datacenter]
            node = self.local_node
            check = node.checks.get(check_id)
            if check is None:
                raise errors.ConsulHTTPError(404, errors.unknown_check_id(check_id))
            self._require_check_write(authz, node, check)
            index = self._write()
            del node.checks[check_id]
            affected = (
                [check.service_name]
                if check.service_id
                else [s.name for s in node.services.values()]
            )
            self._touch(dc, index, ("checks",), affected)
        self.feed.notify()

    # -- catalog registrations -----------------------------------------------------------------
    def catalog_register(self, registration: CatalogRegistration, authz: Authorizer) -> None:
        """``PUT /v1/catalog/register``: an external node, service and checks in any datacenter.

        Checks registered this way are static: they keep the status they were given.
        """
        with self.lock:
            dc = self.datacenter(registration.datacenter or None)
            authz.require("node", registration.node, WRITE)
            if registration.service is not None:
                authz.require("service", registration.service.name, WRITE)
            index = self._write()
            node = dc.nodes.get(registration.node)
            if node is None:
                node = Node(
                    id=registration.node_id or str(uuid.uuid4()),
                    name=registration.node,
                    address=registration.address,
                    datacenter=dc.name,
                    create_index=index,
                )
                dc.nodes[node.name] = node
            node.address = registration.address
            node.tagged_addresses = registration.tagged_addresses or node.tagged_addresses
            node.meta = registration.node_meta or node.meta
            node.modify_index = index
            names: set[str] = set()
            spec = registration.service
            if spec is not None:
                previous = node.services.get(spec.id)
                node.services[spec.id] = _instance(spec, previous, index)
                names.add(spec.name)
            for raw in registration.checks:
                service_id = str(raw.get("serviceid") or "")
                service = node.services.get(service_id) if service_id else None
                if service_id and service is None:
                    raise errors.ConsulHTTPError(
                        500, f"Unknown service ID {errors.go_quote(service_id)} for check"
                    )
                check_id = str(raw.get("checkid") or raw.get("name") or "")
                previous_check = node.checks.get(check_id)
                node.checks[check_id] = HealthCheck(
                    node=node.name,
                    check_id=check_id,
                    name=str(raw.get("name") or check_id),
                    status=str(raw.get("status") or CRITICAL),
                    notes=str(raw.get("notes") or ""),
                    output=str(raw.get("output") or ""),
                    service_id=service.id if service else "",
                    service_name=service.name if service else "",
                    service_tags=list(service.tags) if service else [],
                    create_index=previous_check.create_index if previous_check else index,
                    modify_index=index,
                )
                names |= {service.name} if service else {s.name for s in node.services.values()}
            self._touch(dc, index, ("nodes", "services", "checks"), names)
        self.feed.notify()

    def catalog_deregister(
        self,
        datacenter: str | None,
        node_name: str,
        service_id: str | None,
        check_id: str | None,
        authz: Authorizer,
    ) -> None:
        """``PUT /v1/catalog/deregister``: a node, one of its services, or one of its checks."""
        with self.lock:
            dc = self.datacenter(datacenter)
            node = dc.nodes.get(node_name)
            if node is None:
                return  # Consul answers true for an unknown node
            if service_id:
                if service_id in node.services:
                    self._remove_service(dc, node, service_id, authz)
            elif check_id:
                check = node.checks.get(check_id)
                if check is not None:
                    self._require_check_write(authz, node, check)
                    index = self._write()
                    del node.checks[check_id]
                    affected = (
                        [check.service_name]
                        if check.service_id
                        else [s.name for s in node.services.values()]
                    )
                    self._touch(dc, index, ("checks",), affected)
            else:
                authz.require("node", node.name, WRITE)
                index = self._write()
                names = {s.name for s in node.services.values()}
                del dc.nodes[node_name]
                self._touch(dc, index, ("nodes", "services", "checks"), names)
                for name in names:
                    self._mark_extinct_if_gone(dc, name, index)
        self.feed.notify()

    # -- reads (run under the lock by ChangeFeed.blocking_query) ---------------------------------
    def service_index(self, dc: Datacenter, name: str) -> int:
        """The index a query on one service reports and blocks on.

        While the service has instances: the last write that touched it (its instances, their
        checks, or a node check of a node hosting it). Without instances: the last time any
        service disappeared, so registering *this* service wakes the query, others do not.
        """
        if dc.instances(name):
            return max(1, dc.service_index.get(name, 1))
        return max(1, dc.extinction_index)

    def health_service(
        self,
        dc: Datacenter,
        name: str,
        tags: list[str] | None,
        authz: Authorizer,
        instances: list[tuple[Node, ServiceInstance]] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """Entries of ``/v1/health/service/:name`` before ``?filter`` and ``?passing``.

        Returns the entries the token may read and whether ACLs removed any.

        :param instances: the instances to answer with instead of ``name``'s (the mesh
            endpoints: a service's proxies, its ingress gateways).
        """
        entries: list[dict[str, Any]] = []
        filtered = False
        for node, service in dc.instances(name) if instances is None else instances:
            if tags and not service.has_tags(tags):
                continue
            if not (
                authz.allowed("node", node.name, READ)
                and authz.allowed("service", service.acl_name, READ)
            ):
                filtered = True
                continue
            checks = node.node_checks() + node.service_checks(service.id)
            entries.append(
                {
                    "Node": node.to_api(),
                    "Service": service.to_api(),
                    "Checks": [check.to_api() for check in checks],
                }
            )
        return entries, filtered

    def service_checks(
        self, dc: Datacenter, name: str, authz: Authorizer
    ) -> tuple[list[dict[str, Any]], bool]:
        """Checks of ``/v1/health/checks/:name``: the service checks of every instance."""
        out: list[dict[str, Any]] = []
        filtered = False
        for node, service in dc.instances(name):
            for check in sorted(node.service_checks(service.id), key=lambda c: c.check_id):
                if not self.may_read_check(authz, node, check):
                    filtered = True
                    continue
                out.append(check.to_api())
        return out, filtered

    def checks_in_state(
        self, dc: Datacenter, state: str, authz: Authorizer
    ) -> tuple[list[dict[str, Any]], bool]:
        """Checks of ``/v1/health/state/:state`` (``any`` or one status)."""
        out: list[dict[str, Any]] = []
        filtered = False
        for node in sorted(dc.nodes.values(), key=lambda n: n.name):
            for check in sorted(node.checks.values(), key=lambda c: c.check_id):
                if state != "any" and check.status != state:
                    continue
                if not self.may_read_check(authz, node, check):
                    filtered = True
                    continue
                out.append(check.to_api())
        return out, filtered

    @staticmethod
    def may_read_check(authz: Authorizer, node: Node, check: HealthCheck) -> bool:
        if not authz.allowed("node", node.name, READ):
            return False
        return not check.service_name or authz.allowed("service", check.service_name, READ)

    def catalog_services(
        self, dc: Datacenter, authz: Authorizer, instance_filter: Any = None
    ) -> tuple[dict[str, list[str]], bool]:
        """``/v1/catalog/services``: service name -> the union of its instances' tags.

        :param instance_filter: a compiled ``?filter=`` over ``ServiceNode`` fields.
        """
        tags: dict[str, set[str]] = {}
        filtered = False
        for node in dc.nodes.values():
            for service in node.services.values():
                if not authz.allowed("service", service.name, READ):
                    filtered = True
                    continue
                if instance_filter is not None and not instance_filter.apply(
                    [service_node(dc, node, service)]
                ):
                    continue
                tags.setdefault(service.name, set()).update(service.tags)
        return {name: sorted(values) for name, values in sorted(tags.items())}, filtered

    def catalog_service(
        self,
        dc: Datacenter,
        name: str,
        tags: list[str] | None,
        authz: Authorizer,
        instances: list[tuple[Node, ServiceInstance]] | None = None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """``/v1/catalog/service/:name``: one flat ``ServiceNode`` per instance (of
        ``instances`` when given, as for :meth:`health_service`)."""
        out: list[dict[str, Any]] = []
        filtered = False
        for node, service in dc.instances(name) if instances is None else instances:
            if tags and not service.has_tags(tags):
                continue
            if not (
                authz.allowed("node", node.name, READ)
                and authz.allowed("service", service.acl_name, READ)
            ):
                filtered = True
                continue
            out.append(service_node(dc, node, service))
        return out, filtered

    def leader_address(self, datacenter: str | None) -> str:
        """``/v1/status/leader``: the (only) server's RPC address in the datacenter."""
        with self.lock:
            dc = self.datacenter(datacenter)
            address = self.node_address
            if dc.name != self.local_datacenter:
                address = next(iter(dc.nodes.values())).address
        return f"{address}:{SERVER_RPC_PORT}"

    # -- control hooks for tests ---------------------------------------------------------------
    def create_token(self, rules: dict[str, Any], description: str = "") -> str:
        """Create an ACL token with ``rules`` (Consul JSON policy syntax); returns its secret."""
        with self.lock:
            return self.acl.create_rules_token(rules, description).secret_id

    def set_check_status(
        self,
        check_id: str,
        status: str,
        output: str = "",
        *,
        node: str | None = None,
        datacenter: str | None = None,
    ) -> None:
        """Set any check's status, TTL or not, on any node (control hook)."""
        if status not in VALID_STATUSES:
            raise ValueError(f"status must be one of {VALID_STATUSES}, not {status!r}")
        with self.lock:
            dc = self.datacenter(datacenter)
            for candidate in dc.nodes.values():
                if node and candidate.name != node:
                    continue
                check = candidate.checks.get(check_id)
                if check is not None:
                    self._set_check(dc, candidate, check, status, output)
                    self._arm_ttl(dc.name, candidate.name, check)
                    break
            else:
                raise KeyError(f"unknown check {check_id!r} in datacenter {dc.name!r}")
        self.feed.notify()


def service_node(dc: Datacenter, node: Node, service: ServiceInstance) -> dict[str, Any]:
    """A ``ServiceNode``: one instance flattened with its node (``/v1/catalog/service``)."""
    out = {
        "ID": node.id,
        "Node": node.name,
        "Address": node.address,
        "Datacenter": dc.name,
        "TaggedAddresses": dict(node.tagged_addresses),
        "NodeMeta": dict(node.meta),
        "ServiceKind": service.kind,
        "ServiceID": service.id,
        "ServiceName": service.name,
        "ServiceTags": list(service.tags),
        "ServiceAddress": service.address,
    }
    if service.tagged_addresses:  # `json:",omitempty"`
        out["ServiceTaggedAddresses"] = {k: dict(v) for k, v in service.tagged_addresses.items()}
    return (
        out
        | {
            "ServiceWeights": dict(service.weights),
            "ServiceMeta": dict(service.meta),
            "ServicePort": service.port,
            "ServiceEnableTagOverride": service.enable_tag_override,
            "ServiceProxy": service.proxy_api(),
            "ServiceConnect": service.connect_api(),
        }
        | ({"ServiceLocality": dict(service.locality)} if service.locality is not None else {})
        | {
            "CreateIndex": service.create_index,
            "ModifyIndex": service.modify_index,
        }
    )


def _instance(spec: Any, previous: ServiceInstance | None, index: int) -> ServiceInstance:
    """The registered instance for a service definition, keeping its creation index."""
    return ServiceInstance(
        id=spec.id,
        name=spec.name,
        tags=list(spec.tags),
        address=spec.address,
        port=spec.port,
        meta=dict(spec.meta),
        weights=dict(spec.weights),
        enable_tag_override=spec.enable_tag_override,
        tagged_addresses=dict(spec.tagged_addresses),
        kind=spec.kind,
        proxy=dict(spec.proxy) if spec.kind in (CONNECT_PROXY, *GATEWAY_KINDS) else {},
        connect_native=spec.connect_native,
        locality=dict(spec.locality) if spec.locality is not None else None,
        sidecar_of=spec.sidecar_of,
        create_index=previous.create_index if previous else index,
        modify_index=index,
    )
