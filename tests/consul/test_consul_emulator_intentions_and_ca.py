"""Intentions and the Connect CA on the emulated Consul."""

from __future__ import annotations

import httpx
from consul_testlib import ConsulEmulator
from cryptography import x509


def upsert(http: httpx.Client, source: str, destination: str, action: str, **extra) -> None:
    response = http.put(
        "/v1/connect/intentions/exact",
        params={"source": source, "destination": destination},
        json={"Action": action, **extra},
    )
    assert (response.status_code, response.json()) == (200, True), response.text


def allowed(http: httpx.Client, source: str, destination: str) -> bool:
    response = http.get(
        "/v1/connect/intentions/check", params={"source": source, "destination": destination}
    )
    assert response.status_code == 200, response.text
    return response.json()["Allowed"]


def test_exact_intentions_are_service_intentions_sources(http):
    upsert(http, "web", "db", "allow", Description="web reads db")
    got = http.get("/v1/connect/intentions/exact", params={"source": "web", "destination": "db"})
    intention = got.json()
    assert intention.pop("CreateIndex") == intention.pop("ModifyIndex")
    assert intention == {
        "Description": "web reads db",
        "SourceNS": "default",
        "SourceName": "web",
        "DestinationNS": "default",
        "DestinationName": "db",
        "SourceType": "consul",
        "Action": "allow",
        "Meta": {},
        "Precedence": 9,
    }
    entry = http.get("/v1/config/service-intentions/db").json()
    assert [(s["Name"], s["Action"]) for s in entry["Sources"]] == [("web", "allow")]
    assert http.delete(
        "/v1/connect/intentions/exact", params={"source": "web", "destination": "db"}
    ).json()
    missing = http.get(
        "/v1/connect/intentions/exact", params={"source": "web", "destination": "db"}
    )
    assert (missing.status_code, missing.text) == (404, "Intention not found")
    # the entry goes with its last source
    assert http.get("/v1/config/service-intentions/db").status_code == 404


def test_check_follows_precedence_and_the_default_policy(http):
    assert allowed(http, "web", "db") is True  # no ACLs: default allow
    upsert(http, "*", "db", "deny")
    upsert(http, "web", "db", "allow")
    assert allowed(http, "web", "db") is True  # exact source beats the wildcard
    assert allowed(http, "api", "db") is False
    listed = http.get("/v1/connect/intentions").json()
    assert [(i["SourceName"], i["Precedence"]) for i in listed] == [("web", 9), ("*", 8)]
    matched = http.get("/v1/connect/intentions/match", params={"by": "destination", "name": "db"})
    assert [i["SourceName"] for i in matched.json()["db"]] == ["web", "*"]
    by_source = http.get("/v1/connect/intentions/match", params={"by": "source", "name": "api"})
    assert [i["DestinationName"] for i in by_source.json()["api"]] == ["db"]
    filtered = http.get("/v1/connect/intentions", params={"filter": 'Action == "deny"'})
    assert [i["SourceName"] for i in filtered.json()] == ["*"]


def test_required_parameters_answer_consuls_errors(http):
    response = http.get("/v1/connect/intentions/check", params={"source": "web"})
    assert (response.status_code, response.text) == (
        500,
        "required query parameter 'destination' not set",
    )
    response = http.get("/v1/connect/intentions/match", params={"by": "sideways", "name": "x"})
    assert response.text == "'by' parameter must be one of 'source' or 'destination'"
    response = http.put(
        "/v1/connect/intentions/exact",
        params={"source": "web", "destination": "db"},
        json={"Action": "maybe"},
    )
    assert (response.status_code, response.text) == (
        500,
        "Sources[0].Action must be set to 'allow' or 'deny'",
    )


def test_deprecated_id_endpoints(http):
    created = http.post(
        "/v1/connect/intentions",
        json={"SourceName": "web", "DestinationName": "db", "Action": "deny", "Meta": {"k": "v"}},
    )
    intention_id = created.json()["ID"]
    read = http.get(f"/v1/connect/intentions/{intention_id}").json()
    assert (read["ID"], read["Action"], read["Meta"]) == (intention_id, "deny", {"k": "v"})
    assert read["CreatedAt"].endswith("Z")
    duplicate = http.post(
        "/v1/connect/intentions",
        json={"SourceName": "web", "DestinationName": "db", "Action": "allow"},
    )
    assert duplicate.status_code == 500
    assert duplicate.text == (
        f"duplicate intention found: web => db (ID: {intention_id}, Precedence: 9, Action: DENY)"
    )
    updated = http.put(
        f"/v1/connect/intentions/{intention_id}",
        json={"SourceName": "web", "DestinationName": "db", "Action": "allow"},
    )
    assert updated.json() == {"ID": intention_id}
    assert http.get(f"/v1/connect/intentions/{intention_id}").json()["Action"] == "allow"
    assert http.delete(f"/v1/connect/intentions/{intention_id}").json() is True
    assert http.get(f"/v1/connect/intentions/{intention_id}").status_code == 404
    gone = http.delete(f"/v1/connect/intentions/{intention_id}")
    assert gone.status_code == 500
    assert gone.text == f'Cannot delete non-existent intention: "{intention_id}"'


def test_with_acls_no_intention_means_deny_and_writes_need_intention_write(
    consul_emulator_acl: ConsulEmulator,
):
    emulator = consul_emulator_acl
    reader = emulator.consul.create_token({"service": {"db": "read"}})
    with httpx.Client(base_url=emulator.addr) as http:
        as_admin = {"X-Consul-Token": emulator.token}
        as_reader = {"X-Consul-Token": reader}
        check = {"source": "web", "destination": "db"}
        assert http.get("/v1/connect/intentions/check", params=check, headers=as_admin).json() == {
            "Allowed": False
        }
        denied = http.put(
            "/v1/connect/intentions/exact",
            params=check,
            json={"Action": "allow"},
            headers=as_reader,
        )
        assert denied.status_code == 403
        assert "lacks permission 'intention:write' on \"db\"" in denied.text
        assert http.put(
            "/v1/connect/intentions/exact", params=check, json={"Action": "allow"}, headers=as_admin
        ).json()
        # service:read on the destination is enough to read its intentions
        assert http.get("/v1/connect/intentions/check", params=check, headers=as_reader).json() == {
            "Allowed": True
        }
        assert len(http.get("/v1/connect/intentions", headers=as_reader).json()) == 1
        assert http.get("/v1/connect/intentions").json() == []


def test_ca_roots_are_a_real_spiffe_root(http):
    roots = http.get("/v1/connect/ca/roots").json()
    [root] = roots["Roots"]
    assert roots["ActiveRootID"] == root["ID"]
    assert roots["TrustDomain"] == f"{root['ExternalTrustDomain']}.consul"
    assert (root["Active"], root["PrivateKeyType"], root["PrivateKeyBits"]) == (True, "ec", 256)
    cert = x509.load_pem_x509_certificate(root["RootCert"].encode())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert uris.get_values_for_type(x509.UniformResourceIdentifier) == [
        f"spiffe://{roots['TrustDomain']}"
    ]
    pem = http.get("/v1/connect/ca/roots", params={"pem": "true"})
    assert pem.headers["content-type"] == "application/pem-certificate-chain"
    assert pem.text == root["RootCert"]
    assert http.get("/v1/agent/connect/ca/roots").json()["ActiveRootID"] == root["ID"]


def test_ca_configuration_update_is_validated_and_can_rotate_the_root(http):
    config = http.get("/v1/connect/ca/configuration").json()
    assert (config["Provider"], config["Config"]["LeafCertTTL"]) == ("consul", "72h")
    short = http.put(
        "/v1/connect/ca/configuration",
        json={"Provider": "consul", "Config": {"LeafCertTTL": "30m"}},
    )
    assert (short.status_code, short.text) == (
        500,
        "leaf cert TTL must be greater or equal than 1h0m0s",
    )
    unknown = http.put("/v1/connect/ca/configuration", json={"Provider": "acme", "Config": {}})
    assert unknown.text == 'unknown CA provider "acme"'
    before = http.get("/v1/connect/ca/roots").json()["ActiveRootID"]
    rsa = {"Provider": "consul", "Config": {"PrivateKeyType": "rsa", "PrivateKeyBits": 2048}}
    assert http.put("/v1/connect/ca/configuration", json=rsa).status_code == 200
    after = http.get("/v1/connect/ca/roots").json()
    assert after["ActiveRootID"] != before
    assert after["Roots"][0]["PrivateKeyType"] == "rsa"
    assert http.get("/v1/connect/ca/configuration").json()["Config"] == rsa["Config"]


def test_ca_configuration_needs_operator_write(consul_emulator_acl: ConsulEmulator):
    emulator = consul_emulator_acl
    with httpx.Client(base_url=emulator.addr) as http:
        anonymous = http.get("/v1/connect/ca/configuration")
        assert anonymous.status_code == 403
        assert "lacks permission 'operator:write'" in anonymous.text
        assert http.get("/v1/connect/ca/roots").status_code == 200  # roots need no token


def test_agent_connect_authorize_decides_by_intentions(http):
    uri = "spiffe://11111111-2222-3333-4444-555555555555.consul/ns/default/dc/dc1/svc/web"
    body = {"Target": "db", "ClientCertURI": uri, "ClientCertSerial": "01"}
    assert http.post("/v1/agent/connect/authorize", json=body).json() == {
        "Authorized": True,
        "Reason": "Default behavior configured by ACLs",
    }
    upsert(http, "web", "db", "deny")
    assert http.post("/v1/agent/connect/authorize", json=body).json() == {
        "Authorized": False,
        "Reason": "Matched L4 intention: web => db (Precedence: 9, Action: DENY)",
    }
    agent_uri = body | {"ClientCertURI": "spiffe://x.consul/agent/client/dc/dc1/id/1"}
    refused = http.post("/v1/agent/connect/authorize", json=agent_uri)
    assert (refused.status_code, refused.text) == (
        400,
        "ClientCertURI not a valid Service identifier",
    )
    no_target = http.post("/v1/agent/connect/authorize", json={"ClientCertURI": uri})
    assert no_target.text == "Target service must be specified"


def test_leaf_certificates_are_signed_by_the_active_root(http):
    leaf = http.get("/v1/agent/connect/ca/leaf/web").json()
    roots = http.get("/v1/connect/ca/roots").json()
    root = x509.load_pem_x509_certificate(roots["Roots"][0]["RootCert"].encode())
    cert = x509.load_pem_x509_certificate(leaf["CertPEM"].encode())
    cert.verify_directly_issued_by(root)
    uri = f"spiffe://{roots['TrustDomain']}/ns/default/dc/dc1/svc/web"
    assert leaf["ServiceURI"] == uri
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [uri]
    assert leaf["PrivateKeyPEM"].startswith("-----BEGIN EC PRIVATE KEY-----")
    assert http.get("/v1/agent/connect/ca/leaf/web").json()["CertPEM"] == leaf["CertPEM"]
    rotate = {"Provider": "consul", "Config": {"PrivateKeyType": "ec", "PrivateKeyBits": 384}}
    assert http.put("/v1/connect/ca/configuration", json=rotate).status_code == 200
    renewed = http.get("/v1/agent/connect/ca/leaf/web").json()
    new_root = http.get("/v1/connect/ca/roots").json()["Roots"][0]["RootCert"]
    x509.load_pem_x509_certificate(renewed["CertPEM"].encode()).verify_directly_issued_by(
        x509.load_pem_x509_certificate(new_root.encode())
    )


def test_a_leaf_needs_service_write(consul_emulator_acl: ConsulEmulator):
    emulator = consul_emulator_acl
    reader = emulator.consul.create_token({"service": {"web": "read"}})
    with httpx.Client(base_url=emulator.addr) as http:
        denied = http.get("/v1/agent/connect/ca/leaf/web", headers={"X-Consul-Token": reader})
        assert denied.status_code == 403
        assert "lacks permission 'service:write' on \"web\"" in denied.text
        allowed = http.get(
            "/v1/agent/connect/ca/leaf/web", headers={"X-Consul-Token": emulator.token}
        )
        assert allowed.json()["Service"] == "web"
