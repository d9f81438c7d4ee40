"""Jobspec blocks beyond the basics: service jobs, networking, services, tasks' side blocks.

Expected values follow jobspec2 (decoding and ``normalizeJob``) and api ``Canonicalize``.
"""

from __future__ import annotations

import pytest

from airflow_provider_nomad.testing.nomad.jobspec import JobspecError, parse_jobspec

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE


def parse(spec: str, canonicalize: bool = True) -> dict:
    return parse_jobspec(spec, canonicalize=canonicalize)


def refused(spec: str) -> str:
    with pytest.raises(JobspecError) as excinfo:
        parse_jobspec(spec)
    return str(excinfo.value)


SERVICE = """\
job "web" {
  update {
    max_parallel = 2
    canary       = 1
  }
  migrate {
    max_parallel = 3
  }

  group "api" {
    update {
      auto_promote = true
    }

    network {
      port "http" {
        static = 8080
      }
      port "metrics" {
        to = 9102
      }
    }

    service {
      port = "http"
      tags = ["api"]
      check_restart {
        limit = 3
      }
      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "server" {
      driver = "docker"
      service {
        port = "metrics"
      }
    }
  }
}
"""


def test_group_update_merges_over_the_job_update_then_defaults():
    job = parse(SERVICE)
    [group] = job["TaskGroups"]
    assert job["Update"]["MaxParallel"] == 2 and job["Update"]["AutoPromote"] is False
    assert group["Update"] == {
        "Stagger": 30 * SECOND,
        "MaxParallel": 2,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * SECOND,
        "HealthyDeadline": 5 * MINUTE,
        "ProgressDeadline": 10 * MINUTE,
        "Canary": 1,
        "AutoRevert": False,
        "AutoPromote": True,
    }
    assert group["Migrate"] == {
        "MaxParallel": 3,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * SECOND,
        "HealthyDeadline": 5 * MINUTE,
    }


def test_static_ports_become_reserved_ports():
    [network] = parse(SERVICE)["TaskGroups"][0]["Networks"]
    assert network["ReservedPorts"] == [
        {"Label": "http", "Value": 8080, "To": 0, "HostNetwork": "", "IgnoreCollision": False}
    ]
    assert network["DynamicPorts"] == [
        {"Label": "metrics", "Value": 0, "To": 9102, "HostNetwork": "", "IgnoreCollision": False}
    ]


def test_services_get_names_and_checks_inherit_check_restart():
    [group] = parse(SERVICE)["TaskGroups"]
    [service] = group["Services"]
    assert (service["Name"], service["Provider"], service["AddressMode"]) == (
        "web-api",
        "consul",
        "auto",
    )
    [check] = service["Checks"]
    assert (check["Type"], check["Path"], check["Interval"], check["Timeout"]) == (
        "http",
        "/health",
        10 * SECOND,
        2 * SECOND,
    )
    assert check["CheckRestart"] == {"Limit": 3, "Grace": SECOND, "IgnoreWarnings": False}
    assert check["OnUpdate"] == "require_healthy"
    [task_service] = group["Tasks"][0]["Services"]
    assert task_service["Name"] == "web-api-server"


def test_task_side_blocks_get_their_defaults():
    spec = """\
job "j" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "docker"
      lifecycle {
        hook = "prestart"
      }
      artifact {
        source = "https://example.com/tool.tgz"
        mode   = "file"
      }
      template {
        data          = "x"
        destination   = "local/x"
        change_mode   = "signal"
        change_script {
          command = "/reload"
        }
      }
      consul {
        namespace = "finance"
      }
      volume_mount {
        volume      = "data"
        destination = "/data"
        read_only   = true
      }
      action "rollover" {
        command = "/bin/rollover"
      }
    }
  }
}
"""
    task = parse(spec)["TaskGroups"][0]["Tasks"][0]
    assert task["Lifecycle"] == {"Hook": "prestart", "Sidecar": False}
    assert task["Artifacts"][0]["RelativeDest"] == "local/tool.tgz"  # mode "file": the basename
    [template] = task["Templates"]
    assert (template["ChangeMode"], template["ChangeSignal"]) == ("signal", "SIGHUP")
    assert template["ChangeScript"] == {
        "Command": "/reload",
        "Args": [],
        "Timeout": 5 * SECOND,
        "FailOnError": False,
        "RunOnFirstRender": False,
    }
    assert task["Consul"] == {"Namespace": "finance", "Cluster": "default", "Partition": ""}
    assert task["VolumeMounts"][0]["ReadOnly"] is True
    assert task["Actions"] == [{"Name": "rollover", "Command": "/bin/rollover", "Args": None}]


def test_job_and_group_vault_blocks_reach_the_tasks_without_one():
    spec = """\
job "j" {
  type = "batch"
  vault {
    role = "job-role"
  }
  group "a" {
    task "inherits-job" {
      driver = "docker"
    }
  }
  group "b" {
    vault {
      role = "group-role"
    }
    task "inherits-group" {
      driver = "docker"
    }
    task "own" {
      driver = "docker"
      vault {
        role = "own-role"
      }
    }
  }
}
"""
    job = parse(spec, canonicalize=False)
    roles = {t["Name"]: t["Vault"]["Role"] for g in job["TaskGroups"] for t in g["Tasks"]}
    assert roles == {"inherits-job": "job-role", "inherits-group": "group-role", "own": "own-role"}
    # normalizeJob completes every vault block, canonicalized or not.
    vault = job["TaskGroups"][0]["Tasks"][0]["Vault"]
    assert (vault["Env"], vault["DisableFile"], vault["ChangeMode"]) == (True, False, "restart")


def test_a_task_written_in_the_job_becomes_a_group_of_its_own():
    spec = 'job "j" {\n  task "solo" {\n    driver = "exec"\n  }\n  group "g" {\n  }\n}\n'
    groups = parse(spec)["TaskGroups"]
    assert [(g["Name"], [t["Name"] for t in g["Tasks"] or []]) for g in groups] == [
        ("solo", ["solo"]),
        ("g", []),
    ]


def test_periodic_affinity_spread_and_scaling():
    spec = """\
job "j" {
  type = "batch"
  periodic {
    crons     = ["0 2 * * 1-5"]
    time_zone = "Europe/London"
  }
  affinity {
    attribute = "${node.datacenter}"
    value     = "ldn-1"
  }
  spread {
    attribute = "${node.datacenter}"
    target "ldn-1" {
      percent = 70
    }
  }
  group "g" {
    scaling {
      max = 3
    }
    task "t" {
      driver = "docker"
      scaling "mem" {
        max = 4096
      }
    }
  }
}
"""
    job = parse(spec)
    assert job["Periodic"] == {
        "Enabled": True,
        "Spec": "",
        "Specs": ["0 2 * * 1-5"],
        "SpecType": "cron",
        "ProhibitOverlap": False,
        "TimeZone": "Europe/London",
    }
    assert job["Affinities"] == [
        {"LTarget": "${node.datacenter}", "RTarget": "ldn-1", "Operand": "=", "Weight": 50}
    ]
    assert job["Spreads"] == [
        {
            "Attribute": "${node.datacenter}",
            "Weight": 50,
            "SpreadTarget": [{"Value": "ldn-1", "Percent": 70}],
        }
    ]
    [group] = job["TaskGroups"]
    assert (group["Count"], group["Scaling"]["Min"], group["Scaling"]["Type"]) == (
        1,
        1,
        "horizontal",
    )
    [policy] = group["Tasks"][0]["ScalingPolicies"]
    assert (policy["Type"], policy["Max"]) == ("vertical_mem", 4096)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            'job "j" {\n  group "g" {\n    task "t" {\n      lifecycle {\n        sidecar = true\n'
            "      }\n    }\n  }\n}\n",
            'input.hcl:4,17-17: Missing required argument; The argument "hook" is required, but '
            "no definition was found.",
            id="required-argument",
        ),
        pytest.param(
            'job "j" {\n  group "g" {\n    network {\n      port {\n      }\n    }\n  }\n}\n',
            # The api's Port label has no name, and HCL's message shows it so.
            "input.hcl:4,12-13: Missing  for port; All port blocks must have 1 labels ().",
            id="port-without-label",
        ),
        pytest.param(
            'job "j" {\n  group "g" {\n    task "t" {\n      kill_timeout = null\n    }\n  }\n}\n',
            "input.hcl:4,22-26: Unsuitable value; Unsuitable duration value: nil",
            id="null-duration",
        ),
        pytest.param(
            'job "j" {\n  group "g" {\n    task "t" {\n      driver = null\n    }\n  }\n}\n',
            "input.hcl:4,16-20: Unsuitable value type; Unsuitable value: null value is not allowed",
            id="null-for-a-plain-string",
        ),
        pytest.param(
            'job "j" {\n  group "g" {\n    task "t" {\n      dynamic "nope" {\n'
            "        for_each = []\n        content {}\n      }\n    }\n  }\n}\n",
            'input.hcl:4,15-21: Unsupported block type; Blocks of type "nope" are not expected '
            "here.",
            id="dynamic-block-of-an-unknown-type",
        ),
        pytest.param(
            'job "j" {\n  group "g" {\n    scaling "cpu" {\n    }\n  }\n}\n',
            "input.hcl:3,13-18: Extraneous label for scaling; No labels are expected for scaling "
            "blocks.",
            id="group-scaling-with-a-label",
        ),
        pytest.param(
            'job "j" {\n  group "g" {\n    task "t" {\n      scaling "disk" {\n      }\n    }\n'
            "  }\n}\n",
            'input.hcl:4,15-21: Invalid scaling policy name; scaling policy name must be "cpu" or '
            '"mem"',
            id="task-scaling-name",
        ),
    ],
)
def test_block_mistakes_get_nomads_errors(spec, message):
    assert refused(spec) == message
