"""Consul's ACL system API (``/v1/acl/...``) on the emulator: tokens made through it are
enforced by every endpoint, with Consul's shapes and texts (real HTTP, py-consul and httpx)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import consul
import httpx
import pytest
from consul.exceptions import BadRequest
from consul_testlib import HANG_BOUND, ConsulEmulator

from airflow_provider_nomad.testing.consul import create_app, errors
from airflow_provider_nomad.testing.consul.acl_rules import RulesError, parse_rules

READ_ONLY_APP = 'key_prefix "app/" {\n  policy = "read"\n}\n'


def _client(emulator: ConsulEmulator, token: str | None) -> consul.Consul:
    host, port = emulator.addr.removeprefix("http://").rsplit(":", 1)
    return consul.Consul(host=host, port=int(port), token=token)


def _policy_token(emulator: ConsulEmulator, name: str, rules: str) -> tuple[str, str]:
    """A policy with ``rules`` (HCL, sent as Consul's CLI sends it) and a token linked to it."""
    with httpx.Client(base_url=emulator.addr, headers={"X-Consul-Token": emulator.token}) as http:
        policy = http.put("/v1/acl/policy", json={"Name": name, "Rules": rules})
        assert policy.status_code == 200, policy.text
        token = http.put("/v1/acl/token", json={"Policies": [{"Name": name}]})
        assert token.status_code == 200, token.text
    return token.json()["SecretID"], token.json()["AccessorID"]


def test_a_read_only_key_policy_reads_but_gets_consuls_403_on_write(
    consul_emulator_acl: ConsulEmulator,
):
    admin = _client(consul_emulator_acl, consul_emulator_acl.token)
    admin.kv.put("app/setting", "v1")
    secret, accessor = _policy_token(consul_emulator_acl, "app-read", READ_ONLY_APP)
    limited = _client(consul_emulator_acl, secret)

    assert limited.kv.get("app/setting")[1]["Value"] == b"v1"
    with pytest.raises(consul.ACLPermissionDenied) as denied:
        limited.kv.put("app/setting", "v2")
    assert str(denied.value) == (
        f"Permission denied: token with AccessorID '{accessor}' lacks permission "
        "'key:write' on \"app/setting\""
    )
    with pytest.raises(consul.ACLPermissionDenied, match="'key:write' on \"other/key\""):
        limited.kv.put("other/key", "x")  # outside the prefix: default deny
    admin.kv.put("other/key", "secret")
    for key in ("other/key", "other/missing"):  # refused whether or not the key exists
        with pytest.raises(consul.ACLPermissionDenied, match=f"'key:read' on \"{key}\""):
            limited.kv.get(key)
    assert admin.kv.get("app/setting")[1]["Value"] == b"v1"


def test_changing_a_linked_policy_changes_what_the_token_may_do(
    consul_emulator_acl: ConsulEmulator,
):
    secret, _ = _policy_token(consul_emulator_acl, "app-rw", READ_ONLY_APP)
    limited = _client(consul_emulator_acl, secret)
    with pytest.raises(consul.ACLPermissionDenied):
        limited.kv.put("app/x", "1")

    with httpx.Client(
        base_url=consul_emulator_acl.addr, headers={"X-Consul-Token": consul_emulator_acl.token}
    ) as http:
        policy = http.get("/v1/acl/policy/name/app-rw").json()
        updated = http.put(
            f"/v1/acl/policy/{policy['ID']}",
            json={"Name": "app-rw", "Rules": '{"key_prefix": {"app/": {"policy": "write"}}}'},
        )
    assert updated.status_code == 200, updated.text
    assert limited.kv.put("app/x", "1") is True


def test_service_identity_lets_a_token_register_its_service_only(
    consul_emulator_acl: ConsulEmulator,
):
    admin = _client(consul_emulator_acl, consul_emulator_acl.token)
    token = admin.acl.token.create(service_identities=[{"ServiceName": "settlement"}])
    assert token["ServiceIdentities"] == [{"ServiceName": "settlement"}]
    batch = _client(consul_emulator_acl, token["SecretID"])

    assert batch.agent.service.register("settlement", service_id="settlement-1") is True
    with pytest.raises(consul.ACLPermissionDenied, match="lacks permission 'service:write'"):
        batch.agent.service.register("pricing", service_id="pricing-1")


def test_anonymous_and_management_tokens_are_listed_as_consul_lists_them(
    consul_emulator_acl: ConsulEmulator,
):
    with httpx.Client(
        base_url=consul_emulator_acl.addr, headers={"X-Consul-Token": consul_emulator_acl.token}
    ) as http:
        tokens = http.get("/v1/acl/tokens")
        management = http.get("/v1/acl/token/self")
    assert tokens.status_code == 200
    by_accessor = {t["AccessorID"]: t for t in tokens.json()}
    anonymous = by_accessor["00000000-0000-0000-0000-000000000002"]
    assert (anonymous["SecretID"], anonymous["Description"]) == ("anonymous", "Anonymous Token")
    assert "Policies" not in anonymous  # omitempty: no policies linked
    me = management.json()
    assert me["Policies"] == [
        {"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}
    ]
    assert me["SecretID"] == consul_emulator_acl.token
    assert set(me) == {
        "AccessorID", "SecretID", "Description", "Policies", "Local", "CreateTime", "Hash",
        "CreateIndex", "ModifyIndex",
    }  # fmt: skip


def test_acl_endpoints_need_acl_read_or_write(consul_emulator_acl: ConsulEmulator):
    secret, accessor = _policy_token(consul_emulator_acl, "acl-read", 'acl = "read"')
    with httpx.Client(base_url=consul_emulator_acl.addr, headers={"X-Consul-Token": secret}) as h:
        listed = h.get("/v1/acl/tokens")
        create = h.put("/v1/acl/token", json={})
    assert listed.status_code == 200
    # acl:read without acl:write sees every secret but its own hidden, as Consul redacts them
    assert {t["SecretID"] for t in listed.json()} == {"<hidden>"}
    assert (create.status_code, create.text) == (
        403,
        f"Permission denied: token with AccessorID '{accessor}' lacks permission 'acl:write'",
    )


def test_bad_input_gets_consuls_errors(consul_emulator_acl: ConsulEmulator):
    with httpx.Client(
        base_url=consul_emulator_acl.addr, headers={"X-Consul-Token": consul_emulator_acl.token}
    ) as http:
        no_name = http.put("/v1/acl/policy", json={"Rules": ""})
        bad_rules = http.put(
            "/v1/acl/policy", json={"Name": "p", "Rules": 'key "a" { policy = "all" }'}
        )
        unknown_policy = http.put(
            "/v1/acl/token", json={"Policies": [{"ID": "5e52a099-4c90-c067-5478-980f06be9af5"}]}
        )
        bad_ttl = http.put("/v1/acl/token", json={"ExpirationTTL": "10s"})
        not_uuid = http.get("/v1/acl/token/unknown")
        delete_anonymous = http.delete("/v1/acl/token/00000000-0000-0000-0000-000000000002")
    assert (no_name.status_code, no_name.text) == (500, "Invalid Policy: no Name is set")
    assert bad_rules.status_code == 500 and 'Invalid key policy "a": "all"' in bad_rules.text
    assert (
        unknown_policy.text == 'No such ACL policy with ID "5e52a099-4c90-c067-5478-980f06be9af5"'
    )
    assert bad_ttl.text == "ExpirationTime cannot be less than 1m0s in the future (was 10s)"
    assert (not_uuid.status_code, not_uuid.text) == (
        500,
        "failed acl token lookup: index error: UUID must be 36 characters",
    )
    assert delete_anonymous.text == "Delete operation not permitted on the anonymous token"


def test_acl_api_without_acls_is_401(consul_emulator: ConsulEmulator):
    with httpx.Client(base_url=consul_emulator.addr) as http:
        response = http.get("/v1/acl/tokens")
    assert (response.status_code, response.text) == (401, "ACL support disabled")


def test_rules_parse_hcl_and_json_alike_and_refuse_what_is_not_understood():
    hcl = parse_rules(
        '# comment\nservice_prefix "" { policy = "read" }\nservice "web" {\n'
        '  policy = "write"\n  intentions = "read"\n}\noperator = "read"\n'
    )
    as_json = parse_rules(
        '{"service_prefix": {"": {"policy": "read"}}, '
        '"service": {"web": {"policy": "write", "intentions": "read"}}, "operator": "read"}'
    )
    assert hcl == as_json
    assert hcl.access("service", "web") == "write"
    assert hcl.access("service", "db") == "read"
    assert hcl.access("operator", "") == "read"
    assert hcl.access("acl", "") == "deny"
    with pytest.raises(RulesError, match='key_prefix "app/" needs a block'):
        parse_rules('{"key_prefix": {"app/": "read"}}')  # Consul refuses the bare level
    shorthand = parse_rules({"key_prefix": {"app/": "read"}}, shorthand=True)  # control API's
    assert shorthand.access("key", "app/x") == "read"
    with pytest.raises(RulesError, match=r"unsupported attribute\(s\) intentions in key"):
        parse_rules('key "a" { policy = "read" intentions = "read" }')
    with pytest.raises(RulesError, match="Consul Enterprise"):
        parse_rules('namespace "team" { policy = "read" }')
    with pytest.raises(RulesError, match="unsupported ACL rule 'database'"):
        parse_rules('database "x" { policy = "read" }')
    with pytest.raises(RulesError, match=r"expected \{, found '\}' on line 3"):
        parse_rules('key "a" {\n  policy "read"\n}')


def test_deny_wins_when_policies_disagree():
    merged = parse_rules('key_prefix "" { policy = "write" }').merge(
        parse_rules('key_prefix "" { policy = "deny" }')
    )
    assert merged.access("key", "anything") == "deny"


def test_a_parked_token_list_wakes_when_a_token_is_created(consul_emulator_acl: ConsulEmulator):
    headers = {"X-Consul-Token": consul_emulator_acl.token}
    with httpx.Client(base_url=consul_emulator_acl.addr, headers=headers) as http:
        first = http.get("/v1/acl/tokens")
    index = int(first.headers["X-Consul-Index"])
    result: dict = {}

    def block() -> None:
        # Consul's longest wait, twice the hang bound: only the write can end it in time.
        with httpx.Client(base_url=consul_emulator_acl.addr, headers=headers) as http:
            result["answer"] = http.get(
                "/v1/acl/tokens", params={"index": index, "wait": "10m"}, timeout=HANG_BOUND * 3
            )

    waiter = threading.Thread(target=block, daemon=True)
    waiter.start()
    assert consul_emulator_acl.consul.wait_for_blocked_queries(1, timeout=HANG_BOUND)
    with httpx.Client(base_url=consul_emulator_acl.addr, headers=headers) as http:
        created = http.put("/v1/acl/token", json={"Description": "nightly"}).json()
    waiter.join(HANG_BOUND)
    assert not waiter.is_alive(), "the parked token list was not woken by the token's creation"
    answer = result["answer"]
    assert int(answer.headers["X-Consul-Index"]) == created["CreateIndex"] > index
    assert created["AccessorID"] in {t["AccessorID"] for t in answer.json()}


def test_an_expired_token_is_gone_and_refused():
    acl = create_app(acl_token="management").state.backend.acl
    now = [datetime(2026, 12, 7, 1, 0, tzinfo=timezone.utc)]
    acl.now = lambda: now[0]  # the store's clock: expiry without waiting ten minutes
    token = acl.set_token({"ExpirationTTL": "10m"}, None, create=True)
    shown = acl.token_api(token)
    assert shown["ExpirationTime"] == "2026-12-07T01:10:00Z"
    assert acl.resolve(token.secret_id).token.accessor_id == token.accessor_id

    now[0] += timedelta(minutes=10, seconds=1)
    with pytest.raises(errors.ConsulHTTPError) as refused:
        acl.resolve(token.secret_id)
    assert (refused.value.status, refused.value.text) == (403, "ACL not found")
    assert token.accessor_id not in {t.accessor_id for t in acl.list_tokens()}


def test_roles_and_templated_policies_grant_through_the_token(
    consul_emulator_acl: ConsulEmulator,
):
    admin = _client(consul_emulator_acl, consul_emulator_acl.token)
    policy = admin.acl.policy.create(
        name="ledger-kv", rules={"key_prefix": {"ledger/": {"policy": "write"}}}
    )
    role = admin.acl.role.create(name="ledger", policies_id=[policy["ID"]])
    assert role["Policies"] == [{"ID": policy["ID"], "Name": "ledger-kv"}]
    token = admin.acl.token.create(
        roles_id=[role["ID"]], templated_policies=[{"builtin/service": {"Name": "pricing"}}]
    )
    limited = _client(consul_emulator_acl, token["SecretID"])

    assert limited.kv.put("ledger/close", "done") is True  # from the role's policy
    assert limited.agent.service.register("pricing", service_id="pricing-1") is True  # template
    with pytest.raises(consul.ACLPermissionDenied, match="'key:write' on \"prices/x\""):
        limited.kv.put("prices/x", "1")

    admin.acl.role.delete(role_id=role["ID"])  # the grant goes with the role
    with pytest.raises(consul.ACLPermissionDenied):
        limited.kv.put("ledger/close", "again")


def test_templated_policy_preview_is_consuls_synthetic_policy(consul_emulator_acl: ConsulEmulator):
    admin = _client(consul_emulator_acl, consul_emulator_acl.token)
    preview = admin.acl.templated_policy.preview(
        name="builtin/service", template_variables={"Name": "web"}
    )
    rules = (
        '\nservice "web" {\n\tpolicy = "write"\n}\n'
        'service "web-sidecar-proxy" {\n\tpolicy = "write"\n}'
        '\nservice_prefix "" {\n\tpolicy = "read"\n}\nnode_prefix "" {\n\tpolicy = "read"\n}'
    )
    assert preview["Rules"] == rules
    # Go's fnv.New128a().Sum(rules) appends the hash of nothing to the rules' bytes
    assert preview["ID"] == rules.encode().hex() + "6c62272e07bb014262b821756295c58d"
    assert preview["Name"] == "synthetic-policy-" + preview["ID"]
    with pytest.raises(BadRequest, match="name is required"):
        admin.acl.templated_policy.preview(name="builtin/service")
