"""Airflow discovers the provider, its connection types, hooks and extra link."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airflow_provider_nomad.get_provider_info import get_provider_info


def airflow(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
        timeout=120,
    )
    # Airflow may print notices before the table; the JSON document is the last line.
    return done.stdout.strip().splitlines()[-1]


def test_package_name_is_the_distribution_name():
    from importlib.metadata import distribution

    info = get_provider_info()
    assert info["package-name"] == distribution("airflow-provider-nomad").metadata["Name"]


def test_airflow_lists_provider_hooks_and_link(airflow_db):
    providers = json.loads(airflow("providers", "list", "--output", "json"))
    assert "airflow-provider-nomad" in {p["package_name"] for p in providers}

    hooks = json.loads(airflow("providers", "hooks", "--output", "json"))
    by_type = {h["connection_type"]: h["class"] for h in hooks}
    assert by_type["nomad"] == "airflow_provider_nomad.hooks.nomad.NomadHook"
    assert by_type["consul"] == "airflow_provider_nomad.hooks.consul.ConsulHook"

    links = json.loads(airflow("providers", "links", "--output", "json"))
    assert "airflow_provider_nomad.links.nomad.NomadJobLink" in {
        link["extra_link_class_name"] for link in links
    }


def test_nomad_connection_form_fields_are_declared():
    [nomad] = [
        c for c in get_provider_info()["connection-types"] if c["connection-type"] == "nomad"
    ]
    assert set(nomad["conn-fields"]) == {
        "namespace",
        "region",
        "ca_cert",
        "client_cert",
        "client_key",
        "client_private_key",
        "tls_server_name",
        "tls_skip_verify",
    }
    assert nomad["conn-fields"]["client_private_key"]["schema"]["format"] == "password"
    assert nomad["conn-fields"]["tls_skip_verify"]["schema"]["default"] is False
    assert nomad["ui-field-behaviour"]["relabeling"]["password"] == "ACL token"
