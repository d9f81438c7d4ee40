"""Contract of the Consul HTTP API the provider relies on.

These run against a real Consul agent when ``CONSUL_HTTP_ADDR`` is set (``CONSUL_HTTP_TOKEN``
for an ACL-enabled one), else against the emulator, so the emulator's fidelity can be checked
wherever a real agent exists.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import consul
import httpx
import pytest
from consul_testlib import HANG_BOUND, ConsulTarget, unique

#: The longest wait Consul lets a blocking query ask for (10 min, twice the hang bound). A query
#: with this wait that answers sooner was answered (or woken) by a change, not by its wait.
LONGEST_WAIT = "10m"
LONGEST_WAIT_S = 600.0


def _http(target: ConsulTarget) -> httpx.Client:
    headers = {"X-Consul-Token": target.token} if target.token else {}
    return httpx.Client(base_url=target.addr, headers=headers, timeout=30)


def _register(target: ConsulTarget, name: str, service_id: str, **kwargs) -> None:
    kwargs.setdefault("check", consul.Check.ttl("60s"))
    target.client().agent.service.register(name, service_id=service_id, **kwargs)


def _statuses(entry: dict) -> dict[str, str]:
    return {check["CheckID"]: check["Status"] for check in entry["Checks"]}


def test_unknown_service_is_an_empty_list_with_query_headers(consul_target: ConsulTarget):
    with _http(consul_target) as http:
        response = http.get(f"/v1/health/service/{unique('nothing')}")
    assert response.status_code == 200
    assert response.json() == []
    assert int(response.headers["X-Consul-Index"]) >= 1
    assert response.headers["X-Consul-KnownLeader"] == "true"
    assert response.headers["X-Consul-LastContact"] == "0"
    assert response.headers["X-Consul-Effective-Consistency"] == "leader"
    assert response.headers["Content-Type"] == "application/json"


def test_consistency_modes_are_reported_and_conflicts_rejected(consul_target: ConsulTarget):
    name = unique()
    with _http(consul_target) as http:
        stale = http.get(f"/v1/health/service/{name}?stale")
        both = http.get(f"/v1/health/service/{name}?stale&consistent")
    assert stale.headers["X-Consul-Effective-Consistency"] == "stale"
    assert both.status_code == 400
    assert both.text == "Cannot specify ?stale with ?consistent, conflicting semantics."


def test_ttl_check_starts_critical_and_follows_pass_warn_fail_with_notes(
    consul_target: ConsulTarget,
):
    name, service_id = unique("web"), unique("web-1")
    _register(consul_target, name, service_id, port=8080, address="10.1.2.3", tags=["blue"])
    client = consul_target.client()
    check_id = f"service:{service_id}"

    _, entries = client.health.service(name)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["Service"]["ID"] == service_id
    assert entry["Service"]["Service"] == name
    assert entry["Service"]["Address"] == "10.1.2.3"
    assert entry["Service"]["Port"] == 8080
    assert entry["Service"]["Tags"] == ["blue"]
    assert entry["Node"]["Address"]
    checks = {check["CheckID"]: check for check in entry["Checks"]}
    assert checks["serfHealth"]["Status"] == "passing"
    assert checks["serfHealth"]["Name"] == "Serf Health Status"
    assert checks[check_id]["Status"] == "critical"
    assert checks[check_id]["Name"] == f"Service '{name}' check"
    assert checks[check_id]["Type"] == "ttl"
    assert checks[check_id]["ServiceName"] == name
    assert checks[check_id]["ServiceTags"] == ["blue"]

    for update, status in (
        (client.agent.check.ttl_pass, "passing"),
        (client.agent.check.ttl_warn, "warning"),
        (client.agent.check.ttl_fail, "critical"),
    ):
        update(check_id, f"now {status}")
        _, [entry] = client.health.service(name)
        check = next(c for c in entry["Checks"] if c["CheckID"] == check_id)
        assert (check["Status"], check["Output"]) == (status, f"now {status}")


def test_check_update_endpoint_sets_status_and_output(consul_target: ConsulTarget):
    name, service_id = unique(), unique()
    _register(consul_target, name, service_id)
    with _http(consul_target) as http:
        ok = http.put(
            f"/v1/agent/check/update/service:{service_id}",
            json={"Status": "warning", "Output": "disk 91% full"},
        )
        bad = http.put(f"/v1/agent/check/update/service:{service_id}", json={"Status": "sick"})
    assert ok.status_code == 200
    assert ok.content == b""
    assert bad.status_code == 400
    assert bad.text == "Invalid check status: 'sick'"
    _, [entry] = consul_target.client().health.service(name)
    assert _statuses(entry)[f"service:{service_id}"] == "warning"


def test_passing_keeps_only_instances_whose_checks_all_pass(consul_target: ConsulTarget):
    name = unique("api")
    good, bad = unique("api-a"), unique("api-b")
    _register(consul_target, name, good)
    _register(consul_target, name, bad)
    client = consul_target.client()
    client.agent.check.ttl_pass(f"service:{good}")
    _, everything = client.health.service(name)
    _, passing = client.health.service(name, passing=True)
    assert sorted(e["Service"]["ID"] for e in everything) == sorted([good, bad])
    assert [e["Service"]["ID"] for e in passing] == [good]
    with _http(consul_target) as http:
        explicit_false = http.get(f"/v1/health/service/{name}?passing=false").json()
        invalid = http.get(f"/v1/health/service/{name}?passing=maybe")
    assert len(explicit_false) == 2
    assert invalid.status_code == 400
    assert invalid.text == "Invalid value for ?passing"


def test_several_checks_get_numbered_ids_and_every_one_counts(consul_target: ConsulTarget):
    name, service_id = unique(), unique()
    consul_target.client().agent.service.register(
        name,
        service_id=service_id,
        check=consul.Check.ttl("60s"),
        extra_checks=[consul.Check.ttl("60s")],
    )
    client = consul_target.client()
    client.agent.check.ttl_pass(f"service:{service_id}:1")
    _, [entry] = client.health.service(name)
    statuses = _statuses(entry)
    assert statuses[f"service:{service_id}:1"] == "passing"
    assert statuses[f"service:{service_id}:2"] == "critical"
    _, passing = client.health.service(name, passing=True)
    assert passing == []


def test_initial_status_in_the_registration_is_honoured(consul_target: ConsulTarget):
    name, service_id = unique(), unique()
    check = consul.Check.ttl("60s") | {"Status": "passing"}
    _register(consul_target, name, service_id, check=check)
    _, [entry] = consul_target.client().health.service(name, passing=True)
    assert entry["Service"]["ID"] == service_id


def test_tags_are_all_required_and_compared_case_insensitively(consul_target: ConsulTarget):
    name = unique("db")
    primary, replica = unique("db-1"), unique("db-2")
    _register(consul_target, name, primary, tags=["primary", "v2"])
    _register(consul_target, name, replica, tags=["replica", "v2"])
    client = consul_target.client()
    _, tagged = client.health.service(name, tag="Primary")
    _, both = client.health.service(name, tag=["v2", "replica"])
    _, none = client.health.service(name, tag=["primary", "replica"])
    assert [e["Service"]["ID"] for e in tagged] == [primary]
    assert [e["Service"]["ID"] for e in both] == [replica]
    assert none == []


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Service.Tags contains "canary"', {"b"}),
        ('"canary" in Service.Tags', {"b"}),
        ('"canary" not in Service.Tags', {"a"}),
        ('Service.Meta.env == "prod"', {"a"}),
        ('Service.Meta.env == "prod" and Service.Tags contains "stable"', {"a"}),
        ('Service.Meta.env == "prod" or Service.Tags contains "canary"', {"a", "b"}),
        ("Service.Port == 81", {"b"}),
        ('Checks.Status == "critical"', {"a", "b"}),
        ('not (Service.Meta.env == "prod")', {"b"}),
    ],
)
def test_filter_expressions(consul_target: ConsulTarget, expression: str, expected: set[str]):
    name = unique()
    ids = {"a": unique("a"), "b": unique("b")}
    _register(consul_target, name, ids["a"], port=80, tags=["stable"], meta={"env": "prod"})
    _register(consul_target, name, ids["b"], port=81, tags=["canary"], meta={"env": "test"})
    _, entries = consul_target.client().health.service(name, filter_expr=expression)
    by_id = {v: k for k, v in ids.items()}
    assert {by_id[e["Service"]["ID"]] for e in entries} == expected


def test_invalid_filter_is_a_500_naming_the_evaluator(consul_target: ConsulTarget):
    name = unique()
    _register(consul_target, name, unique())
    with _http(consul_target) as http:
        bad_selector = http.get(f"/v1/health/service/{name}", params={"filter": "Nope == 1"})
        bad_syntax = http.get(f"/v1/health/service/{name}", params={"filter": "Service.ID =="})
    for response in (bad_selector, bad_syntax):
        assert response.status_code == 500
        assert response.text.startswith("Failed to create boolean expression evaluator")


def test_bad_requests_get_consul_texts(consul_target: ConsulTarget):
    with _http(consul_target) as http:
        no_name = http.get("/v1/health/service/")
        bad_wait = http.get("/v1/health/service/x?index=1&wait=soon")
        bad_index = http.get("/v1/health/service/x?index=abc")
        unknown_dc = http.get("/v1/health/service/x?dc=no-such-dc")
        no_state = http.get("/v1/health/state/")
    assert (no_name.status_code, no_name.text) == (400, "Missing service name")
    assert (bad_wait.status_code, bad_wait.text) == (400, "Invalid wait time")
    assert (bad_index.status_code, bad_index.text) == (400, "Invalid index")
    assert (unknown_dc.status_code, unknown_dc.text) == (500, "No path to datacenter")
    assert (no_state.status_code, no_state.text) == (400, "Missing check state")


def test_wrong_method_is_405_with_allow_and_unknown_path_a_bare_404(consul_target: ConsulTarget):
    with _http(consul_target) as http:
        wrong = http.post("/v1/health/service/web")
        register_get = http.get("/v1/agent/service/register")
        unknown = http.get("/v1/no/such/endpoint")
    assert wrong.status_code == 405
    assert wrong.text == "method POST not allowed"
    assert wrong.headers["Allow"] == "OPTIONS,GET"
    assert register_get.status_code == 405
    assert register_get.headers["Allow"] == "OPTIONS,PUT"
    assert unknown.status_code == 404
    assert unknown.content == b""


def test_service_and_check_lists(consul_target: ConsulTarget):
    name, service_id = unique(), unique()
    _register(consul_target, name, service_id, tags=["b", "a"])
    client = consul_target.client()
    client.agent.check.ttl_warn(f"service:{service_id}", "slow")
    _, checks = client.health.checks(name)
    assert [(c["CheckID"], c["Status"], c["Output"]) for c in checks] == [
        (f"service:{service_id}", "warning", "slow")
    ]
    _, warning = client.health.state("warning")
    assert f"service:{service_id}" in {c["CheckID"] for c in warning}
    _, services = client.catalog.services()
    assert sorted(services[name]) == ["a", "b"]
    _, nodes = client.catalog.service(name)
    assert [n["ServiceID"] for n in nodes] == [service_id]
    assert client.status.leader()


def test_deregistered_instance_disappears_with_its_checks(consul_target: ConsulTarget):
    name, service_id = unique(), unique()
    _register(consul_target, name, service_id)
    client = consul_target.client()
    client.agent.service.deregister(service_id)
    _, entries = client.health.service(name)
    _, checks = client.health.checks(name)
    _, services = client.catalog.services()
    assert entries == []
    assert checks == []
    assert name not in services


def test_unknown_ids_get_consul_404_texts(consul_target: ConsulTarget):
    with _http(consul_target) as http:
        service = http.put("/v1/agent/service/deregister/no-such-id")
        check = http.put("/v1/agent/check/pass/no-such-check")
    assert service.status_code == 404
    assert service.text == (
        'Unknown service ID "no-such-id". Ensure that the service ID is passed, not the '
        "service name."
    )
    assert check.status_code == 404
    assert check.text == (
        'Unknown check ID "no-such-check". Ensure that the check ID is passed, not the check name.'
    )


def test_registration_validation_texts(consul_target: ConsulTarget):
    with _http(consul_target) as http:
        nameless = http.put("/v1/agent/service/register", json={"Port": 80})
        no_ttl = http.put(
            "/v1/agent/service/register", json={"Name": unique(), "Check": {"Notes": "x"}}
        )
        both = http.put(
            "/v1/agent/service/register",
            json={"Name": unique(), "Check": {"TTL": "10s", "Interval": "10s"}},
        )
        bad_status = http.put(
            "/v1/agent/service/register",
            json={"Name": unique(), "Check": {"TTL": "10s", "Status": "sick"}},
        )
    assert (nameless.status_code, nameless.text) == (400, "Missing service name")
    assert (no_ttl.status_code, no_ttl.text) == (
        400,
        "Invalid check: TTL must be > 0 for TTL checks",
    )
    assert (both.status_code, both.text) == (
        400,
        "Invalid check: Interval and TTL cannot both be specified",
    )
    assert (bad_status.status_code, bad_status.text) == (
        400,
        "Status for checks must 'passing', 'warning', 'critical'",
    )


def test_blocking_query_returns_at_once_when_the_index_is_behind(consul_target: ConsulTarget):
    name, service_id = unique(), unique()
    _register(consul_target, name, service_id)
    client = consul_target.client()
    index, _ = client.health.service(name)
    client.agent.check.ttl_pass(f"service:{service_id}")
    started = time.monotonic()
    new_index, [entry] = client.health.service(name, index=index, wait=LONGEST_WAIT)
    assert time.monotonic() - started < LONGEST_WAIT_S  # answered without waiting
    assert int(new_index) > int(index)
    assert _statuses(entry)[f"service:{service_id}"] == "passing"


def test_blocking_query_wakes_when_a_check_changes(consul_target: ConsulTarget):
    name, service_id = unique(), unique()
    _register(consul_target, name, service_id)
    client = consul_target.client()
    index, _ = client.health.service(name)
    waiter, result = _blocking_read(client, name, index)
    _await_parked(consul_target)
    consul_target.client().agent.check.ttl_pass(f"service:{service_id}", "ready")
    waiter.join(HANG_BOUND)
    # Back within the hang bound, before its 10 minute wait could end: woken by the change.
    assert not waiter.is_alive(), "the blocking query was not woken by the check change"
    new_index, [entry] = result["answer"]
    assert int(new_index) > int(index)
    assert _statuses(entry)[f"service:{service_id}"] == "passing"


def test_blocking_query_ends_after_its_wait_when_nothing_changes(consul_target: ConsulTarget):
    name = unique()
    _register(consul_target, name, unique())
    client = consul_target.client()
    index, _ = client.health.service(name)
    started = time.monotonic()
    same_index, _ = client.health.service(name, index=index, wait="1s")
    elapsed = time.monotonic() - started
    assert same_index == index
    # It waited its 1 s, and only that: not Consul's default 5 minutes.
    assert 1.0 <= elapsed < 5 * 60


def test_other_services_do_not_wake_a_blocking_query(consul_target: ConsulTarget):
    name, other = unique("watched"), unique("other")
    _register(consul_target, name, unique())
    client = consul_target.client()
    index, _ = client.health.service(name)
    _register(consul_target, other, unique())
    started = time.monotonic()
    same_index, _ = client.health.service(name, index=index, wait="1s")
    assert same_index == index
    assert time.monotonic() - started >= 1.0


def test_registering_an_unknown_service_wakes_a_query_blocked_on_it(consul_target: ConsulTarget):
    name = unique("late")
    client = consul_target.client()
    index, entries = client.health.service(name)
    assert entries == []
    waiter, result = _blocking_read(client, name, index)
    _await_parked(consul_target)
    _register(consul_target, name, unique())
    waiter.join(HANG_BOUND)
    assert not waiter.is_alive(), "the blocking query was not woken by the registration"
    _, entries = result["answer"]
    assert len(entries) == 1


def _blocking_read(
    client: consul.Consul, name: str, index: str
) -> tuple[threading.Thread, dict[str, Any]]:
    """Start a health read of ``name`` blocking on ``index`` for the longest wait, in a thread.

    The answer lands in the returned dict under ``"answer"`` once the query returns.
    """
    result: dict[str, Any] = {}

    def block() -> None:
        result["answer"] = client.health.service(name, index=index, wait=LONGEST_WAIT)

    # A daemon: a query that is never woken must not keep the test session alive.
    waiter = threading.Thread(target=block, daemon=True)
    waiter.start()
    return waiter, result


def _await_parked(target: ConsulTarget) -> None:
    """On the emulator, wait until the query is parked, so the change lands while it waits.

    A real agent offers no such signal: the change may then come first, and the query, whose
    index is behind by then, answers at once; the assertions hold either way.
    """
    if target.emulator is not None:
        assert target.emulator.consul.wait_for_blocked_queries(1, timeout=HANG_BOUND)


def test_ttl_expiry_turns_a_passing_check_critical(consul_target: ConsulTarget):
    name, service_id = unique(), unique()
    _register(consul_target, name, service_id, check=consul.Check.ttl("1s"))
    client = consul_target.client()
    client.agent.check.ttl_pass(f"service:{service_id}", "alive")
    index, [entry] = client.health.service(name)
    assert _statuses(entry)[f"service:{service_id}"] == "passing"
    deadline = time.monotonic() + HANG_BOUND  # the TTL expires after 1 s; this bounds a hang
    status, output = "passing", ""
    while status == "passing" and time.monotonic() < deadline:
        index, [entry] = client.health.service(name, index=index, wait="5s")
        check = next(c for c in entry["Checks"] if c["CheckID"] == f"service:{service_id}")
        status, output = check["Status"], check["Output"]
    assert status == "critical"
    assert output.startswith("TTL expired")
    assert "alive" in output
