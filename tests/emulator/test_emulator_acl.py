"""ACL tokens: where Nomad says ``Permission denied`` and where ``ACL token not found``.

Nomad's server RPCs authenticate first and answer any failure, an unknown token included,
with 403 ``Permission denied`` (``nomad/auth/auth.go``). The client's log endpoint resolves
the token itself: an unknown token reads ``ACL token not found`` and, as its stream error
carries no code, arrives with status 500 (like ``Permission denied`` there).

With ACLs on, the emulator's own control API (``/_emulator/`` on both ports) takes the
management token only: it mints tokens and starts processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from emulator_testlib import Nomad, batch_job, sh_task, unique

from airflow_provider_nomad.testing import EmulatorControl
from airflow_provider_nomad.testing.consul import ConsulControl

UNKNOWN = "6a2bc5d2-9b39-4c2d-8f7e-2f4a7f4f1a11"


@pytest.fixture
def acl_emulator(nomad_emulator_acl):
    return nomad_emulator_acl


@pytest.fixture
def admin(acl_emulator) -> Iterator[Nomad]:
    client = Nomad(acl_emulator.nomad_addr, acl_emulator.token)
    yield client
    client.close()


def as_token(emulator, token: str | None) -> Nomad:
    return Nomad(emulator.nomad_addr, token)


def template(admin, namespace: str = "default") -> str:
    job_id = unique("acl")
    body = batch_job(job_id, [sh_task("t", "echo hi")], parameterized={"Payload": "optional"})
    admin.register(body, namespace=namespace)
    return job_id


def test_no_token_and_unknown_token_are_permission_denied(acl_emulator, admin):
    job_id = template(admin)
    for token in (None, UNKNOWN, "not-a-uuid"):
        client = as_token(acl_emulator, token)
        for response in (
            client.get("/v1/jobs"),
            client.get(f"/v1/job/{job_id}"),
            client.dispatch(job_id, {}),
        ):
            assert (response.status_code, response.text) == (403, "Permission denied")


def test_an_unknown_token_fails_before_any_lookup(acl_emulator):
    missing = "/v1/allocation/00000000-0000-0000-0000-000000000001"
    assert as_token(acl_emulator, UNKNOWN).get(missing).status_code == 403
    assert as_token(acl_emulator, None).get(missing).status_code == 404


def test_management_token_by_header_or_bearer(acl_emulator):
    by_header = Nomad(acl_emulator.nomad_addr, acl_emulator.token)
    assert by_header.get("/v1/jobs").status_code == 200
    bearer = Nomad(acl_emulator.nomad_addr)
    response = bearer.get("/v1/jobs", headers={"Authorization": f"Bearer {acl_emulator.token}"})
    assert response.status_code == 200


def test_capabilities_are_checked_per_operation(acl_emulator, admin):
    job_id = template(admin)
    reader = acl_emulator.control.create_token(capabilities=("read-job",))
    client = as_token(acl_emulator, reader)
    assert client.get(f"/v1/job/{job_id}").status_code == 200
    assert client.dispatch(job_id, {}).status_code == 403
    assert client.get("/v1/jobs").status_code == 403  # list-jobs is its own capability
    assert (
        client.post("/v1/jobs", batch_job(unique("x"), [sh_task("t", "true")])).status_code == 403
    )
    dispatcher = as_token(
        acl_emulator, acl_emulator.control.create_token(capabilities=("dispatch-job",))
    )
    assert dispatcher.dispatch(job_id, {}).status_code == 200


def test_tokens_are_limited_to_their_namespaces(acl_emulator, admin):
    acl_emulator.control.create_namespace("risk")
    job_id = template(admin, namespace="risk")
    default_only = as_token(
        acl_emulator, acl_emulator.control.create_token(("default",), ("read-job", "list-jobs"))
    )
    response = default_only.get(f"/v1/job/{job_id}", params={"namespace": "risk"})
    assert (response.status_code, response.text) == (403, "Permission denied")
    risk = as_token(acl_emulator, acl_emulator.control.create_token(("risk",), ("read-job",)))
    assert risk.get(f"/v1/job/{job_id}", params={"namespace": "risk"}).status_code == 200


def test_log_endpoint_resolves_tokens_like_the_client(acl_emulator, admin):
    job_id = template(admin)
    child = admin.dispatch(job_id, {}).json()["DispatchedJobID"]
    [alloc] = admin.final_allocs(child)
    url = f"/v1/client/fs/logs/{alloc['ID']}"
    params = {"task": "t", "type": "stdout", "plain": "true"}
    unknown = as_token(acl_emulator, UNKNOWN).get(url, params=params)
    assert (unknown.status_code, unknown.text) == (500, "ACL token not found")
    reader = as_token(acl_emulator, acl_emulator.control.create_token(capabilities=("read-job",)))
    denied = reader.get(url, params=params)
    assert (denied.status_code, denied.text) == (500, "Permission denied")
    for capability in ("read-logs", "read-fs"):
        token = acl_emulator.control.create_token(capabilities=(capability,))
        assert as_token(acl_emulator, token).get(url, params=params).content == b"hi\n"
    cat = reader.get(f"/v1/client/fs/cat/{alloc['ID']}", params={"path": "alloc"})
    assert (cat.status_code, cat.text) == (403, "Permission denied")


def test_status_leader_needs_no_token_but_agent_self_does(acl_emulator):
    anonymous = as_token(acl_emulator, None)
    assert anonymous.get("/v1/status/leader").status_code == 200
    assert anonymous.get("/v1/agent/self").status_code == 403


def test_the_management_token_survives_a_reset(acl_emulator, admin):
    acl_emulator.control.reset()
    assert admin.get("/v1/jobs").status_code == 200


# -- the control API ------------------------------------------------------------------------------

#: Control calls that would change the emulator, or tell about it.
NOMAD_CONTROL_CALLS = (
    ("POST", "/_emulator/tokens", {"capabilities": ["submit-job", "dispatch-job"]}),
    ("POST", "/_emulator/nodes", {"name": "intruder"}),
    ("POST", "/_emulator/faults", {"route": "*", "status": 500, "count": None}),
    ("POST", "/_emulator/namespaces", {"name": "intruder"}),
    ("POST", "/_emulator/reset", None),
    ("GET", "/_emulator/processes", None),
    ("GET", "/_emulator/health", None),
)


def refusals(http: httpx.Client, calls, headers_list) -> list[tuple[int, str]]:
    """Each call with each set of headers: the distinct (status, body) answers."""
    answers = set()
    for headers in headers_list:
        for method, path, body in calls:
            response = http.request(method, path, json=body, headers=headers)
            answers.add((response.status_code, response.text))
    return sorted(answers)


def test_control_api_refuses_anything_but_the_management_token(acl_emulator, admin):
    job_id = template(admin)
    reader = acl_emulator.control.create_token(capabilities=("read-job",))
    not_management = (
        {},
        {"X-Nomad-Token": reader},
        {"Authorization": f"Bearer {reader}"},
        {"X-Nomad-Token": UNKNOWN},
    )
    with httpx.Client(base_url=acl_emulator.nomad_addr) as http:
        answers = refusals(http, NOMAD_CONTROL_CALLS, not_management)
    assert answers == [(403, "Permission denied")]
    # Nothing changed: no node, fault or namespace added, no reset (the job and token remain).
    assert [node["Name"] for node in acl_emulator.control.nodes()] == ["node-1"]
    assert acl_emulator.control.faults() == []
    assert "intruder" not in [ns["Name"] for ns in admin.get("/v1/namespaces").json()]
    assert as_token(acl_emulator, reader).get(f"/v1/job/{job_id}").status_code == 200


def test_control_api_takes_the_management_token_by_header_or_bearer(acl_emulator):
    token = acl_emulator.token
    with httpx.Client(base_url=acl_emulator.nomad_addr) as http:
        by_header = http.post(
            "/_emulator/namespaces", json={"name": "risk"}, headers={"X-Nomad-Token": token}
        )
        bearer = http.get("/_emulator/health", headers={"Authorization": f"Bearer {token}"})
    assert (by_header.status_code, bearer.status_code) == (200, 200)
    assert by_header.json()["Name"] == "risk"


def test_a_control_client_without_the_token_says_what_is_missing(acl_emulator):
    client = EmulatorControl(acl_emulator.nomad_addr)
    try:
        with pytest.raises(RuntimeError, match=r"403 Permission denied .*management token"):
            client.add_node("intruder")
    finally:
        client.close()
    assert [node["Name"] for node in acl_emulator.control.nodes()] == ["node-1"]


def test_without_acls_the_control_api_needs_no_token(nomad_emulator):
    response = httpx.get(f"{nomad_emulator.nomad_addr}/_emulator/health")
    assert response.status_code == 200 and response.json()["ok"] is True


def test_consul_control_api_refuses_anything_but_the_management_token(acl_emulator):
    management = ConsulControl(acl_emulator.consul_addr, token=acl_emulator.token)
    writer = management.create_token({"service_prefix": {"": "write"}})
    calls = (
        ("POST", "/_emulator/consul/tokens", {"Rules": {"service_prefix": {"": "write"}}}),
        ("POST", "/_emulator/consul/datacenters", {"Name": "intruder"}),
        ("POST", "/_emulator/consul/serf-health", {"Passing": False}),
        ("POST", "/_emulator/consul/reset", None),
        ("GET", "/_emulator/consul/blocked", None),
    )
    not_management = (
        {},
        {"X-Consul-Token": writer},
        {"Authorization": f"Bearer {writer}"},
        {"X-Consul-Token": UNKNOWN},
    )
    try:
        with httpx.Client(base_url=acl_emulator.consul_addr) as http:
            answers = refusals(http, calls, not_management)
            datacenters = http.get("/v1/catalog/datacenters").json()
            # No reset: the writer token still works.
            registered = http.put(
                "/v1/agent/service/register",
                json={"Name": "web", "ID": "web-1"},
                headers={"X-Consul-Token": writer},
            )
        assert answers == [(403, "Permission denied")]
        assert datacenters == ["dc1"]
        assert registered.status_code == 200, registered.text
        management.add_datacenter("dc2")  # the management token works
        assert management.blocked_queries() == 0
    finally:
        management.close()
