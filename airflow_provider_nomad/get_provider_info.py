"""Provider metadata read by Airflow's ProvidersManager.

This module must stay import-free (no Airflow, no hooks): Airflow calls it for every provider at
start-up, and the connection form in the UI is built from the ``conn-fields`` declared here.
"""

from __future__ import annotations

from airflow_provider_nomad.executors import config as executor_config
from airflow_provider_nomad.triggers import config as triggerer_config

_STRING = {"type": ["string", "null"]}
_BOOLEAN_OFF = {"type": ["boolean", "null"], "default": False}
_PEM = {"type": ["string", "null"], "format": "multiline"}


def _tls_fields(product: str, server_name_example: str) -> dict:
    return {
        "ca_cert": {
            "label": "CA certificate",
            "schema": _PEM,
            "description": f"Path to, or PEM text of, the CA that signed the {product} server "
            "certificate. Empty: the system trust store.",
        },
        "client_cert": {
            "label": "Client certificate",
            "schema": _PEM,
            "description": "Path to, or PEM text of, the client certificate (mTLS).",
        },
        "client_private_key": {
            "label": "Client key (PEM text)",
            "schema": {"type": ["string", "null"], "format": "password"},
            "description": "PEM text of the client private key (mTLS), hidden like a "
            "password. Or give a key file's path under Client key file.",
        },
        "client_key": {
            "label": "Client key file",
            "schema": _STRING,
            "description": "Path to the client private key file (mTLS) on the machines "
            "running the tasks. PEM text goes under Client key (PEM text).",
        },
        "tls_server_name": {
            "label": "TLS server name",
            "schema": _STRING,
            "description": "Name to verify the server certificate against, when it differs "
            f"from the host (e.g. {server_name_example}).",
        },
        "tls_skip_verify": {
            "label": "Skip TLS verification",
            "schema": _BOOLEAN_OFF,
            "description": "Do not verify the server certificate. Off by default; never in "
            "production.",
        },
    }


def get_provider_info() -> dict:
    return {
        "package-name": "airflow-provider-nomad",
        "name": "HashiCorp Nomad and Consul",
        "description": "Dispatch parameterized Nomad batch jobs, follow them with blocking "
        "queries, stream their logs into the task log, and gate them on Consul health.",
        "versions": ["0.1.0"],
        "integrations": [
            {"integration-name": "HashiCorp Nomad", "tags": ["software"]},
            {"integration-name": "HashiCorp Consul", "tags": ["software"]},
        ],
        "operators": [
            {
                "integration-name": "HashiCorp Nomad",
                "python-modules": ["airflow_provider_nomad.operators.nomad"],
            }
        ],
        "sensors": [
            {
                "integration-name": "HashiCorp Nomad",
                "python-modules": ["airflow_provider_nomad.sensors.nomad"],
            },
            {
                "integration-name": "HashiCorp Consul",
                "python-modules": ["airflow_provider_nomad.sensors.consul"],
            },
        ],
        "hooks": [
            {
                "integration-name": "HashiCorp Nomad",
                "python-modules": ["airflow_provider_nomad.hooks.nomad"],
            },
            {
                "integration-name": "HashiCorp Consul",
                "python-modules": ["airflow_provider_nomad.hooks.consul"],
            },
        ],
        "triggers": [
            {
                "integration-name": "HashiCorp Nomad",
                "python-modules": ["airflow_provider_nomad.triggers.nomad"],
            },
            {
                "integration-name": "HashiCorp Consul",
                "python-modules": ["airflow_provider_nomad.triggers.consul"],
            },
        ],
        "extra-links": ["airflow_provider_nomad.links.nomad.NomadJobLink"],
        # `from airflow.sdk import task; @task.nomad(...)`: the function runs in a Nomad job.
        "task-decorators": [
            {"name": "nomad", "class-name": "airflow_provider_nomad.decorators.nomad.nomad_task"}
        ],
        "executors": ["airflow_provider_nomad.executors.nomad.NomadExecutor"],
        "cli": ["airflow_provider_nomad.executors.cli.get_cli_commands"],
        # Import-free data (no Airflow): the [nomad_executor] options and their defaults.
        "config": {**executor_config.provider_config(), **triggerer_config.provider_config()},
        "connection-types": [
            {
                "connection-type": "nomad",
                "hook-class-name": "airflow_provider_nomad.hooks.nomad.NomadHook",
                "hook-name": "Nomad",
                "conn-fields": {
                    "namespace": {
                        "label": "Namespace",
                        "schema": _STRING,
                        "description": "Nomad namespace (default: default).",
                    },
                    "region": {
                        "label": "Region",
                        "schema": _STRING,
                        "description": "Nomad region (default: the agent's region).",
                    },
                    **_tls_fields("Nomad", "server.global.nomad"),
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "extra"],
                    "relabeling": {
                        "host": "Address",
                        "schema": "Scheme (http or https)",
                        "password": "ACL token",
                    },
                    "placeholders": {
                        "host": "https://nomad.example.internal",
                        "port": "4646",
                        "schema": "http (default) or https; https with TLS extras",
                        "password": "Nomad ACL token secret ID",
                    },
                },
            },
            {
                "connection-type": "consul",
                "hook-class-name": "airflow_provider_nomad.hooks.consul.ConsulHook",
                "hook-name": "Consul",
                "conn-fields": {
                    "datacenter": {
                        "label": "Datacenter",
                        "schema": _STRING,
                        "description": "Consul datacenter (default: the agent's).",
                    },
                    **_tls_fields("Consul", "server.dc1.consul"),
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "extra"],
                    "relabeling": {
                        "host": "Address",
                        "schema": "Scheme (http or https)",
                        "password": "ACL token",
                    },
                    "placeholders": {
                        "host": "https://consul.example.internal",
                        "port": "8500",
                        "schema": "http (default) or https; https with TLS extras",
                        "password": "Consul ACL token secret ID",
                    },
                },
            },
        ],
    }
