"""Real jobspecs parse to the JSON Nomad gives for them.

``jobspecs/example.nomad.hcl`` is the jobspec ``nomad job init`` writes (Nomad 2.0.5's
``command/asset/example.nomad.hcl``, byte for byte). ``jobspecs/settlement.nomad.hcl`` is a
securities batch of the kind this provider dispatches: parameterized, docker, a template reading
Nomad Variables and Vault, an artifact, HCL2 variables and locals. Expected values are written
from Nomad's source: jobspec2 (decoding, ``normalizeJob``) and the api package's
``Canonicalize`` methods.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_nomad.testing.nomad.jobspec import JobspecError, parse_jobspec

JOBSPECS = Path(__file__).parent / "jobspecs"
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


def read(name: str) -> str:
    return (JOBSPECS / name).read_text()


# --------------------------------------------------------------------------------------------
# nomad job init
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example() -> dict:
    return parse_jobspec(read("example.nomad.hcl"), canonicalize=True)


def test_init_jobspec_is_a_service_job_with_its_update_migrate_and_ui(example):
    assert (example["ID"], example["Name"], example["Type"]) == ("example", "example", "service")
    assert example["Datacenters"] == ["*"]
    assert (example["Namespace"], example["Region"], example["Priority"]) == (
        "default",
        "global",
        50,
    )
    # The update block's own values, completed with DefaultUpdateStrategy.
    assert example["Update"] == {
        "Stagger": 30 * SECOND,
        "MaxParallel": 1,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * SECOND,
        "HealthyDeadline": 3 * MINUTE,
        "ProgressDeadline": 10 * MINUTE,
        "Canary": 0,
        "AutoRevert": False,
        "AutoPromote": False,
    }
    assert example["Migrate"] == {
        "MaxParallel": 1,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * SECOND,
        "HealthyDeadline": 5 * MINUTE,
    }
    assert example["UI"] == {
        "Description": "Nomad **Example** Job",
        "Links": [
            {"Label": "Learn more about Nomad", "URL": "https://developer.hashicorp.com/nomad"}
        ],
    }


def test_init_jobspec_group_inherits_update_and_migrate_and_keeps_its_policies(example):
    [group] = example["TaskGroups"]
    assert (group["Name"], group["Count"]) == ("cache", 1)
    # api TaskGroup.Canonicalize copies the job's (already canonical) strategies.
    assert group["Update"] == example["Update"]
    assert group["Migrate"] == example["Migrate"]
    assert group["RestartPolicy"] == {
        "Interval": 30 * MINUTE,
        "Attempts": 2,
        "Delay": 15 * SECOND,
        "Mode": "fail",
        "RenderTemplates": False,
    }
    assert group["ReschedulePolicy"] == {
        "Attempts": 0,
        "Interval": 0,
        "Delay": 30 * SECOND,
        "DelayFunction": "exponential",
        "MaxDelay": HOUR,
        "Unlimited": True,
    }
    assert group["EphemeralDisk"] == {"Sticky": False, "Migrate": False, "SizeMB": 300}
    assert (group["Consul"], group["Scaling"], group["Disconnect"]) == (None, None, None)


def test_init_jobspec_network_port_and_nomad_service(example):
    [group] = example["TaskGroups"]
    assert group["Networks"] == [
        {
            "Mode": "",
            "Device": "",
            "CIDR": "",
            "IP": "",
            "DNS": None,
            # normalizeNetworkPorts: a port without "static" stays dynamic, none is reserved.
            "ReservedPorts": None,
            "DynamicPorts": [
                {"Label": "db", "Value": 0, "To": 6379, "HostNetwork": "", "IgnoreCollision": False}
            ],
            "Hostname": "",
            "MBits": None,
            "CNI": None,
        }
    ]
    assert group["Services"] == [
        {
            "Name": "redis-cache",
            "Tags": ["global", "cache"],
            "CanaryTags": None,
            "EnableTagOverride": False,
            "PortLabel": "db",
            "AddressMode": "auto",
            "Address": "",
            "Checks": None,
            "CheckRestart": None,
            "Connect": None,
            "Meta": None,
            "CanaryMeta": None,
            "TaggedAddresses": None,
            "TaskName": "",
            "OnUpdate": "require_healthy",
            "Identity": None,
            "Weights": None,
            "Provider": "nomad",
            "Cluster": "default",
            "Kind": "",
        }
    ]


def test_init_jobspec_task_identity_config_and_resources(example):
    [task] = example["TaskGroups"][0]["Tasks"]
    assert (task["Name"], task["Driver"]) == ("redis", "docker")
    assert task["Config"] == {"auth_soft_fail": True, "image": "redis:7", "ports": ["db"]}
    # normalizeJob moves the unnamed identity to Task.Identity; what remains is an empty list.
    assert task["Identity"] == {
        "Name": "",
        "Audience": None,
        "ChangeMode": "",
        "ChangeSignal": "",
        "Env": True,
        "File": True,
        "Filepath": "",
        "ServiceName": "",
        "TTL": 0,
        "ExtraClaims": None,
    }
    assert task["Identities"] == []
    assert task["ShutdownDelay"] == 10 * SECOND
    assert task["Resources"] == {
        "CPU": 500,
        "Cores": 0,
        "MemoryMB": 256,
        "MemoryMaxMB": None,
        "DiskMB": None,
        "Networks": None,
        "Devices": None,
        "NUMA": None,
        "SecretsMB": None,
        "IOPS": None,
    }
    assert task["RestartPolicy"] == example["TaskGroups"][0]["RestartPolicy"]
    assert task["LogConfig"] == {
        "MaxFiles": 10,
        "MaxFileSizeMB": 10,
        "Enabled": None,
        "Disabled": False,
    }
    assert task["KillTimeout"] == 5 * SECOND
    assert "CSIPluginConfig" not in task  # omitempty in api.Task


def test_init_jobspec_without_canonicalize_keeps_what_the_file_says():
    job = parse_jobspec(read("example.nomad.hcl"))
    assert job["Update"] == {
        "Stagger": None,
        "MaxParallel": 1,
        "HealthCheck": None,
        "MinHealthyTime": 10 * SECOND,
        "HealthyDeadline": 3 * MINUTE,
        "ProgressDeadline": 10 * MINUTE,
        "Canary": 0,
        "AutoRevert": False,
        "AutoPromote": None,
    }
    [group] = job["TaskGroups"]
    assert (group["Update"], group["Migrate"], group["ReschedulePolicy"]) == (None, None, None)
    assert group["EphemeralDisk"] == {"Sticky": None, "Migrate": None, "SizeMB": 300}
    assert group["Services"][0]["AddressMode"] == ""
    # normalizeJob runs either way: the default identity moved, ports split.
    [task] = group["Tasks"]
    assert (task["Identity"]["Env"], task["Identities"]) == (True, [])


def test_init_jobspec_answer_is_plain_json_in_go_field_order(example):
    assert json.loads(json.dumps(example)) == example
    assert list(example)[:5] == ["Region", "Namespace", "ID", "Name", "Type"]
    task = example["TaskGroups"][0]["Tasks"][0]
    assert list(task)[-4:] == ["Identity", "Identities", "Actions", "Schedule"]


# --------------------------------------------------------------------------------------------
# A securities batch: settlement
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def settlement() -> dict:
    return parse_jobspec(read("settlement.nomad.hcl"), canonicalize=True)


def only_task(job: dict) -> dict:
    [group] = job["TaskGroups"]
    [task] = group["Tasks"]
    return task


def test_settlement_is_a_parameterized_batch_built_from_variables_and_locals(settlement):
    assert (settlement["ID"], settlement["Type"], settlement["Namespace"]) == (
        "settlement",
        "batch",
        "finance",
    )
    assert settlement["Datacenters"] == ["ldn-1", "ldn-2"]  # the variable's default
    assert settlement["Priority"] == 50  # local.is_prod ? 80 : 50, with environment "uat"
    assert settlement["Meta"] == {
        "desk": "fixed-income",
        "engine.version": "2026.05.1",
        "owner": "back-office",
    }
    assert settlement["ParameterizedJob"] == {
        "Payload": "optional",
        "MetaRequired": ["business_date"],
        "MetaOptional": ["account_range", "dry_run"],
    }
    assert settlement["Constraints"] == [
        {"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}
    ]


def test_settlement_docker_task_keeps_runtime_references_for_the_client(settlement):
    task = only_task(settlement)
    assert task["Driver"] == "docker"
    assert task["Config"] == {
        "args": [
            "settle",
            "--business-date",
            "${NOMAD_META_business_date}",
            "--accounts",
            "${NOMAD_META_account_range}",
            "--input",
            "${NOMAD_TASK_DIR}/instructions.json",
        ],
        "image": "registry.internal.example.com/settlement/engine:2026.05.1",
        # an object-valued local stays an object; a block becomes a list of objects
        "labels": {"desk": "fixed-income", "team": "back-office"},
        "logging": [{"config": [{"max-size": "50m"}], "type": "json-file"}],
    }
    assert task["Env"] == {
        "DRY_RUN": "${NOMAD_META_dry_run}",
        "ENVIRONMENT": "uat",
        "TZ": "Europe/London",
    }
    assert task["DispatchPayload"] == {"File": "instructions.json"}
    assert (task["Resources"]["CPU"], task["Resources"]["MemoryMB"]) == (1000, 2048)
    assert task["KillTimeout"] == 2 * MINUTE


def test_settlement_template_renders_from_nomad_variables_and_vault(settlement):
    [template] = only_task(settlement)["Templates"]
    assert template["DestPath"] == "secrets/settlement.env"
    assert (template["Envvars"], template["ChangeMode"], template["ChangeSignal"]) == (
        True,
        "restart",
        "",
    )
    # The heredoc's indentation is gone (<<-), HCL interpolated ${...} and %{...}, and left
    # consul-template's {{...}} and the unknown ${NOMAD_ALLOC_DIR} alone.
    assert template["EmbeddedTmpl"] == (
        '{{ with nomadVar "nomad/jobs/settlement" -}}\n'
        "LEDGER_DB_URL={{ .ledger_db_url }}\n"
        "SWIFT_GATEWAY={{ .swift_gateway }}\n"
        "{{- end }}\n"
        '{{ with secret "database/creds/settlement-uat" -}}\n'
        "LEDGER_DB_USER={{ .Data.username }}\n"
        "LEDGER_DB_PASSWORD={{ .Data.password }}\n"
        "{{- end }}\n"
        "DESK=FIXED-INCOME\n"
        "ALLOC_DIR=${NOMAD_ALLOC_DIR}\n"
    )
    assert (template["Splay"], template["Perms"], template["LeftDelim"]) == (
        5 * SECOND,
        "0644",
        "{{",
    )


def test_settlement_vault_artifact_identity_and_volume(settlement):
    task = only_task(settlement)
    assert task["Vault"] == {
        "Policies": None,
        "Role": "settlement-uat",
        "Namespace": "",
        "Cluster": "default",
        "Env": True,
        "DisableFile": False,
        "ChangeMode": "noop",
        "ChangeSignal": "SIGHUP",
        "AllowTokenExpiration": False,
    }
    [artifact] = task["Artifacts"]
    assert artifact == {
        "GetterSource": "https://artifacts.internal.example.com/settlement/calendars-2026.05.1.tar.gz",
        "GetterOptions": {
            "checksum": "sha256:57146ef53ffd83a0525f3e133dab05efc071f16000d983c1a44cf561c3c59bf3"
        },
        "GetterHeaders": None,
        "GetterMode": "any",
        "GetterInsecure": False,
        "RelativeDest": "local/calendars",
        "Chown": False,
    }
    # A named identity is not the default one: it stays in Identities.
    assert task["Identity"] is None
    assert [(i["Name"], i["Audience"], i["TTL"]) for i in task["Identities"]] == [
        ("vault_default", ["vault.io"], HOUR)
    ]
    assert task["VolumeMounts"] == [
        {
            "Volume": "ledger",
            "Destination": "/var/lib/ledger",
            "ReadOnly": False,
            "PropagationMode": "private",
            "SELinuxLabel": "",
        }
    ]
    group = settlement["TaskGroups"][0]
    assert group["Volumes"]["ledger"]["Source"] == "ledger-uat"
    assert group["Services"][0]["Name"] == "fixed-income-uat-settlement"
    assert group["Services"][0]["Tags"] == ["settlement", "batch"]


def test_settlement_policies_merge_job_group_and_batch_defaults(settlement):
    group = settlement["TaskGroups"][0]
    assert group["ReschedulePolicy"] == {
        "Attempts": 0,
        "Interval": 24 * HOUR,
        "Delay": 5 * SECOND,
        "DelayFunction": "constant",
        "MaxDelay": 0,
        "Unlimited": False,
    }
    assert group["RestartPolicy"] == {
        "Interval": 24 * HOUR,
        "Attempts": 1,
        "Delay": 30 * SECOND,
        "Mode": "fail",
        "RenderTemplates": False,
    }
    # Batch jobs get no update or migrate strategy.
    assert (settlement["Update"], group["Update"], group["Migrate"]) == (None, None, None)


def test_settlement_variables_from_the_request_change_the_job():
    variables = 'environment = "prod"\nimage_tag = "2026.06.2"\ndatacenters = ["ny-1"]\n'
    job = parse_jobspec(read("settlement.nomad.hcl"), canonicalize=True, variables=variables)
    task = only_task(job)
    assert job["Priority"] == 80
    assert job["Datacenters"] == ["ny-1"]
    assert task["Config"]["image"].endswith(":2026.06.2")
    assert task["Config"]["labels"]["paging"] == "settlement-oncall"
    assert task["Vault"]["Role"] == "settlement-prod"
    assert "PAGING=settlement-oncall\nALLOC_DIR=" in task["Templates"][0]["EmbeddedTmpl"]
    assert job["TaskGroups"][0]["Services"][0]["Tags"] == ["settlement", "batch", "prod"]


def test_settlement_variable_validation_names_the_rule():
    with pytest.raises(JobspecError) as excinfo:
        parse_jobspec(read("settlement.nomad.hcl"), variables='environment = "dev"\n')
    assert str(excinfo.value) == (
        "input.hcl:1,15-20: Invalid value for varfile variable; The environment must be uat or "
        "prod.\n\nThis was checked by the validation rule at input.hcl:25,3-13."
    )
