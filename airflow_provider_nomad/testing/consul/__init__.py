"""Consul side of the emulator: a starlette app serving the part of Consul's HTTP API the
provider and its users' tools use (health, agent self/members/service/check registration,
catalog, status, KV with sessions and locks, maintenance mode, transactions, script and HTTP
checks, agent reload/leave/tokens/metrics/monitor, coordinates, user events, operator,
snapshots, the ACL system API: tokens, policies, roles, auth methods, binding rules, templated
policies; and the service mesh: proxies, sidecars and gateways, config entries, intentions,
the Connect CA, discovery chains), with Consul's fields, headers, texts, ACL enforcement and
blocking queries. A route Consul has but the emulator does not serve answers 501 naming it.

``create_app(acl_token=...)`` builds the app; ``app.state.backend`` (a :class:`ConsulBackend`)
holds the state, has ``reset()``, and offers control hooks for tests (``set_serf_health``,
``set_check_status``, ``add_datacenter``, ``create_token``, ``wait_for_blocked_queries``),
also served over HTTP under ``/_emulator/consul/`` (client: :class:`ConsulControl`).
The emulator server mounts the app on its Consul port.
"""

from __future__ import annotations

from starlette.applications import Starlette

from airflow_provider_nomad.testing.consul.control import ConsulControl
from airflow_provider_nomad.testing.consul.models import ConsulBackend
from airflow_provider_nomad.testing.consul.routes import build_routes


def create_app(
    *,
    acl_token: str | None = None,
    datacenter: str = "dc1",
    enable_script_checks: bool = False,
) -> Starlette:
    """Build the Consul emulator app.

    :param acl_token: management token; when set, ACLs are enforced with a default-deny policy
        and requests need a token (``X-Consul-Token`` header or ``?token=``).
    :param datacenter: the agent's datacenter.
    :param enable_script_checks: run script checks, as an agent with ``enable_script_checks``.
    """
    app = Starlette(routes=build_routes())
    app.state.backend = ConsulBackend(
        acl_token=acl_token, datacenter=datacenter, enable_script_checks=enable_script_checks
    )
    return app


__all__ = ["ConsulBackend", "ConsulControl", "create_app"]
