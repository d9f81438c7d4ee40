"""The emulator's HCL2 jobspec parser: jobspec in, Nomad's JSON ``Job`` (or Nomad's error) out.

Pure unit tests: no server, no sleeping. Expected values follow Nomad's ``jobspec2`` package,
its ``api`` package ``Canonicalize()`` functions and HCL's diagnostics.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_nomad.testing.nomad.jobspec import JobspecError, parse_jobspec

MS = 1_000_000
SECOND = 1_000 * MS
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

SETTLEMENT_JOB = """\
job "settlement" {
  type        = "batch"
  namespace   = "finance"
  datacenters = ["dc1", "dc2"]

  meta {
    owner = "back-office"
  }

  parameterized {
    payload       = "optional"
    meta_required = ["business_date"]
    meta_optional = ["account_range", "dry_run"]
  }

  group "settle" {
    restart {
      attempts = 1
      delay    = "10s"
    }

    reschedule {
      attempts  = 2
      interval  = "1h"
      unlimited = false
    }

    task "run" {
      driver = "raw_exec"

      config {
        command = "python3"
        args    = ["-u", "local/settle.py", "--date", "${NOMAD_META_business_date}"]
      }

      env {
        PYTHONUNBUFFERED = "1"
        DRY_RUN          = true
      }

      dispatch_payload {
        file = "input.json"
      }

      logs {
        max_files     = 5
        max_file_size = 20
      }

      resources {
        cpu        = 500
        memory     = 512
        memory_max = 1024
      }

      kill_timeout = "45s"
    }
  }
}
"""

#: Every field of Nomad's api.Job, in its declaration order (Go's JSON keeps that order).
JOB_KEYS = [
    "Region", "Namespace", "ID", "Name", "Type", "Priority", "AllAtOnce", "Datacenters",
    "NodePool", "Constraints", "Affinities", "TaskGroups", "Update", "Multiregion", "Spreads",
    "Periodic", "ParameterizedJob", "Reschedule", "Migrate", "Meta", "UI", "Stop", "ParentID",
    "Dispatched", "DispatchIdempotencyToken", "Payload", "ConsulNamespace", "VaultNamespace",
    "NomadTokenID", "Status", "StatusDescription", "Stable", "Version", "SubmitTime",
    "CreateIndex", "ModifyIndex", "JobModifyIndex", "VersionTag",
]  # fmt: skip


def only_task(job: dict) -> dict:
    [group] = job["TaskGroups"]
    [task] = group["Tasks"]
    return task


def task_job(task_body: str, job_type: str = "batch") -> str:
    """A one-group, one-task job around the given task body (indented by the caller)."""
    return (
        f'job "j" {{\n  type = "{job_type}"\n  group "g" {{\n    task "t" {{\n'
        f"{task_body}    }}\n  }}\n}}\n"
    )


# --------------------------------------------------------------------------------------------
# A realistic parameterized batch job
# --------------------------------------------------------------------------------------------


def test_parameterized_batch_job_as_nomad_parses_it():
    job = parse_jobspec(SETTLEMENT_JOB)

    assert list(job) == JOB_KEYS
    assert json.loads(json.dumps(job)) == job  # plain JSON, as the HTTP answer needs
    assert (job["ID"], job["Name"], job["Type"]) == ("settlement", "settlement", "batch")
    assert job["Namespace"] == "finance"
    assert job["Datacenters"] == ["dc1", "dc2"]
    # Unset fields stay null without canonicalization, as Nomad's JSON shows them.
    assert (job["Region"], job["Priority"], job["Constraints"]) == (None, None, None)
    assert job["Dispatched"] is False
    assert job["Meta"] == {"owner": "back-office"}
    assert job["ParameterizedJob"] == {
        "Payload": "optional",
        "MetaRequired": ["business_date"],
        "MetaOptional": ["account_range", "dry_run"],
    }

    [group] = job["TaskGroups"]
    assert (group["Name"], group["Count"]) == ("settle", None)
    assert group["RestartPolicy"] == {
        "Interval": None,
        "Attempts": 1,
        "Delay": 10 * SECOND,
        "Mode": None,
        "RenderTemplates": None,
    }
    assert group["ReschedulePolicy"] == {
        "Attempts": 2,
        "Interval": HOUR,
        "Delay": None,
        "DelayFunction": None,
        "MaxDelay": None,
        "Unlimited": False,
    }

    task = only_task(job)
    assert (task["Name"], task["Driver"]) == ("run", "raw_exec")
    assert task["Config"] == {
        "args": ["-u", "local/settle.py", "--date", "${NOMAD_META_business_date}"],
        "command": "python3",
    }
    # env values are strings whatever their HCL type; Go sorts map keys.
    assert task["Env"] == {"DRY_RUN": "true", "PYTHONUNBUFFERED": "1"}
    assert list(task["Env"]) == ["DRY_RUN", "PYTHONUNBUFFERED"]
    assert task["DispatchPayload"] == {"File": "input.json"}
    assert task["LogConfig"] == {
        "MaxFiles": 5,
        "MaxFileSizeMB": 20,
        "Enabled": None,
        "Disabled": None,
    }
    assert task["Resources"]["CPU"] == 500
    assert task["Resources"]["MemoryMB"] == 512
    assert task["Resources"]["MemoryMaxMB"] == 1024
    assert task["Resources"]["Cores"] is None
    assert task["KillTimeout"] == 45 * SECOND
    assert task["RestartPolicy"] is None


def test_parameterized_batch_job_canonicalized():
    job = parse_jobspec(SETTLEMENT_JOB, canonicalize=True)

    assert (job["Region"], job["Namespace"], job["Priority"]) == ("global", "finance", 50)
    assert (job["ParentID"], job["NodePool"], job["Stop"], job["AllAtOnce"]) == (
        "",
        "",
        False,
        False,
    )
    assert job["Update"] is None  # only service jobs get a default update strategy

    [group] = job["TaskGroups"]
    assert group["Count"] == 1
    # The group's own settings win over the batch defaults they are merged into.
    assert group["RestartPolicy"] == {
        "Interval": 24 * HOUR,
        "Attempts": 1,
        "Delay": 10 * SECOND,
        "Mode": "fail",
        "RenderTemplates": False,
    }
    assert group["ReschedulePolicy"] == {
        "Attempts": 2,
        "Interval": HOUR,
        "Delay": 5 * SECOND,
        "DelayFunction": "constant",
        "MaxDelay": 0,
        "Unlimited": False,
    }

    task = only_task(job)
    assert task["RestartPolicy"] == group["RestartPolicy"]
    assert task["LogConfig"] == {
        "MaxFiles": 5,
        "MaxFileSizeMB": 20,
        "Enabled": None,
        "Disabled": False,
    }
    assert {k: task["Resources"][k] for k in ("CPU", "Cores", "MemoryMB", "MemoryMaxMB")} == {
        "CPU": 500,
        "Cores": 0,
        "MemoryMB": 512,
        "MemoryMaxMB": 1024,
    }
    assert task["KillTimeout"] == 45 * SECOND


# --------------------------------------------------------------------------------------------
# Canonicalize() defaults
# --------------------------------------------------------------------------------------------


def test_canonicalize_fills_batch_defaults():
    job = parse_jobspec(task_job('      driver = "mock_driver"\n'), canonicalize=True)

    assert {k: job[k] for k in JOB_KEYS if k != "TaskGroups"} == {
        "Region": "global",
        "Namespace": "default",
        "ID": "j",
        "Name": "j",
        "Type": "batch",
        "Priority": 50,
        "AllAtOnce": False,
        "Datacenters": None,
        "NodePool": "",
        "Constraints": None,
        "Affinities": None,
        "Update": None,
        "Multiregion": None,
        "Spreads": None,
        "Periodic": None,
        "ParameterizedJob": None,
        "Reschedule": None,
        "Migrate": None,
        "Meta": None,
        "UI": None,
        "Stop": False,
        "ParentID": "",
        "Dispatched": False,
        "DispatchIdempotencyToken": None,
        "Payload": None,
        "ConsulNamespace": "",
        "VaultNamespace": "",
        "NomadTokenID": "",
        "Status": "",
        "StatusDescription": "",
        "Stable": False,
        "Version": 0,
        "SubmitTime": None,
        "CreateIndex": 0,
        "ModifyIndex": 0,
        "JobModifyIndex": 0,
        "VersionTag": None,
    }
    [group] = job["TaskGroups"]
    batch_restart = {
        "Interval": 24 * HOUR,
        "Attempts": 3,
        "Delay": 15 * SECOND,
        "Mode": "fail",
        "RenderTemplates": False,
    }
    assert group["Count"] == 1
    assert group["RestartPolicy"] == batch_restart
    assert group["ReschedulePolicy"] == {
        "Attempts": 1,
        "Interval": 24 * HOUR,
        "Delay": 5 * SECOND,
        "DelayFunction": "constant",
        "MaxDelay": 0,
        "Unlimited": False,
    }
    assert group["EphemeralDisk"] == {"Sticky": False, "Migrate": False, "SizeMB": 300}
    # Canonicalize completes a group's consul block but adds none (api TaskGroup.Canonicalize).
    assert group["Consul"] is None
    assert (group["Update"], group["Migrate"]) == (None, None)
    assert group["PreventRescheduleOnLost"] is None

    task = only_task(job)
    assert task["Resources"] == {
        "CPU": 100,
        "Cores": 0,
        "MemoryMB": 300,
        "MemoryMaxMB": None,
        "DiskMB": None,
        "Networks": None,
        "Devices": None,
        "NUMA": None,
        "SecretsMB": None,
        "IOPS": None,
    }
    assert task["LogConfig"] == {
        "MaxFiles": 10,
        "MaxFileSizeMB": 10,
        "Enabled": None,
        "Disabled": False,
    }
    assert task["KillTimeout"] == 5 * SECOND
    assert task["RestartPolicy"] == batch_restart
    assert task["Lifecycle"] is None


def test_canonicalize_fills_service_defaults_when_type_is_omitted():
    job = parse_jobspec('job "web" {\n  group "g" {\n    task "t" {\n    }\n  }\n}\n', True)

    assert job["Type"] == "service"
    update = {
        "Stagger": 30 * SECOND,
        "MaxParallel": 1,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * SECOND,
        "HealthyDeadline": 5 * MINUTE,
        "ProgressDeadline": 10 * MINUTE,
        "Canary": 0,
        "AutoRevert": False,
        "AutoPromote": False,
    }
    assert job["Update"] == update
    [group] = job["TaskGroups"]
    assert group["Update"] == update
    assert group["Migrate"] == {
        "MaxParallel": 1,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * SECOND,
        "HealthyDeadline": 5 * MINUTE,
    }
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


def test_canonicalize_merges_job_group_and_task_policies():
    spec = """\
job "merge" {
  type = "batch"
  reschedule {
    attempts = 5
    delay    = "30s"
  }
  group "g" {
    restart {
      mode = "delay"
    }
    reschedule {
      attempts = 0
    }
    task "t" {
      restart {
        attempts = 7
      }
      resources {
        cores = 2
      }
      logs {
        disabled = true
      }
    }
  }
}
"""
    job = parse_jobspec(spec, canonicalize=True)
    [group] = job["TaskGroups"]
    # job reschedule, then the group's, then the batch defaults for what is still unset
    assert group["ReschedulePolicy"] == {
        "Attempts": 0,
        "Interval": 24 * HOUR,
        "Delay": 30 * SECOND,
        "DelayFunction": "constant",
        "MaxDelay": 0,
        "Unlimited": False,
    }
    assert group["RestartPolicy"]["Mode"] == "delay"
    assert group["RestartPolicy"]["Attempts"] == 3
    task = only_task(job)
    assert task["RestartPolicy"] == {**group["RestartPolicy"], "Attempts": 7}
    # Cores instead of MHz: Nomad sets CPU to 0 rather than to the 100 MHz default.
    assert (task["Resources"]["Cores"], task["Resources"]["CPU"]) == (2, 0)
    assert task["LogConfig"] == {
        "MaxFiles": 10,
        "MaxFileSizeMB": 10,
        "Enabled": None,
        "Disabled": True,
    }


def test_canonicalize_keeps_explicit_job_settings():
    spec = (
        'job "x" {\n  type = "batch"\n  region = "eu"\n  priority = 90\n  name = "nightly"\n'
        '  all_at_once = true\n  node_pool = "batch"\n}\n'
    )
    job = parse_jobspec(spec, canonicalize=True)
    assert (job["ID"], job["Name"], job["Region"], job["Priority"]) == ("x", "nightly", "eu", 90)
    assert (job["AllAtOnce"], job["NodePool"], job["TaskGroups"]) == (True, "batch", None)


# --------------------------------------------------------------------------------------------
# Driver configs (mock_driver) and values
# --------------------------------------------------------------------------------------------


def test_mock_driver_config_is_decoded_like_nomad_decodes_driver_configs():
    task_body = """\
      driver = "mock_driver"
      config {
        run_for        = "250ms"
        exit_code      = 3
        stdout_string  = "line one\\nline two"
        stdout_repeat  = 2
        kill_after     = null
        ratio          = 0.5
        whole          = 2.0
        labels         = { team = "ops", "cost.center" = 42 }
        port_map "http" {
          to = 8080
        }
        volume {
          path = "/a"
        }
        volume {
          path = "/b"
        }
        script = <<-EOT
          echo "${NOMAD_ALLOC_ID}"
            echo $${HOME}
        EOT
      }
"""
    config = only_task(parse_jobspec(task_job(task_body)))["Config"]

    assert config == {
        "exit_code": 3,
        "kill_after": None,
        # An object argument and a block both become a list of objects.
        "labels": [{"cost.center": 42, "team": "ops"}],
        "port_map": [{"http": [{"to": 8080}]}],
        "ratio": 0.5,
        "run_for": "250ms",
        "script": 'echo "${NOMAD_ALLOC_ID}"\n  echo ${HOME}\n',
        "stdout_repeat": 2,
        "stdout_string": "line one\nline two",
        "volume": [{"path": "/a"}, {"path": "/b"}],
        "whole": 2,
    }
    assert list(config) == sorted(config)
    assert isinstance(config["whole"], int)


def test_empty_config_block_is_an_empty_map():
    task = only_task(parse_jobspec(task_job('      driver = "raw_exec"\n      config {}\n')))
    assert task["Config"] == {}


def test_runtime_references_stay_as_written():
    task_body = """\
      driver = "raw_exec"
      config {
        command = "${NOMAD_TASK_DIR}/run.sh"
        bare    = node.unique.name
        spaced  = "${ attr.os.name }"
        joined  = "${attr.unique.hostname}:${NOMAD_PORT_http}"
        escaped = "$${not_a_reference}"
        unicode = "caf\\u00e9 \\"quoted\\""
      }
"""
    config = only_task(parse_jobspec(task_job(task_body)))["Config"]
    assert config == {
        "bare": "${node.unique.name}",
        "command": "${NOMAD_TASK_DIR}/run.sh",
        "escaped": "${not_a_reference}",
        "joined": "${attr.unique.hostname}:${NOMAD_PORT_http}",
        # jobspec2 cuts the reference out of the source with the spaces inside its braces.
        "spaced": "${ attr.os.name }",
        "unicode": 'café "quoted"',
    }


def test_meta_and_env_accept_block_and_argument_forms():
    spec = """\
job "m" {
  meta = { "business.unit" = "treasury", retries = 2 }
  group "g" {
    meta {
      tier = "gold"
    }
    task "t" {
      env  = { "JAVA_OPTS" = "-Xmx1g", DEBUG = false }
      meta {
        z = 1
        a = 2.5
      }
    }
  }
}
"""
    job = parse_jobspec(spec)
    assert job["Meta"] == {"business.unit": "treasury", "retries": "2"}
    assert job["TaskGroups"][0]["Meta"] == {"tier": "gold"}
    task = only_task(job)
    assert task["Env"] == {"DEBUG": "false", "JAVA_OPTS": "-Xmx1g"}
    assert task["Meta"] == {"a": "2.5", "z": "1"}
    assert list(task["Meta"]) == ["a", "z"]


def test_explicit_id_and_name_override_the_label_and_null_leaves_a_field_unset():
    job = parse_jobspec('job "label" {\n  id = "the-id"\n  name = "The name"\n  region = null\n}\n')
    assert (job["ID"], job["Name"], job["Region"]) == ("the-id", "The name", None)


def test_single_line_blocks_and_comments():
    spec = '# settlement\njob "a" { type = "batch" }\n/* trailing\n   comment */\n'
    job = parse_jobspec(spec)
    assert (job["ID"], job["Type"]) == ("a", "batch")


# --------------------------------------------------------------------------------------------
# Constraints
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            'attribute = "${attr.kernel.name}"\nvalue = "linux"',
            ("${attr.kernel.name}", "linux", "="),
        ),
        ('attribute = attr.kernel.name\nvalue = "linux"', ("${attr.kernel.name}", "linux", "=")),
        (
            'attribute = "${attr.cpu.arch}"\noperator = "!="\nvalue = "arm64"',
            ("${attr.cpu.arch}", "arm64", "!="),
        ),
        (
            'attribute = "${attr.nomad.version}"\nversion = ">= 1.6"',
            ("${attr.nomad.version}", ">= 1.6", "version"),
        ),
        (
            'attribute = "${attr.os.version}"\nsemver = ">= 22.4"',
            ("${attr.os.version}", ">= 22.4", "semver"),
        ),
        (
            'attribute = "${node.class}"\nregexp = "^batch-"',
            ("${node.class}", "^batch-", "regexp"),
        ),
        (
            'attribute = "${meta.tags}"\nset_contains = "ssd,fast"',
            ("${meta.tags}", "ssd,fast", "set_contains"),
        ),
        # jobspec2 puts the flag's value into RTarget.
        ("distinct_hosts = true", ("", "true", "distinct_hosts")),
        (
            'distinct_property = "${meta.rack}"\nvalue = "2"',
            ("${meta.rack}", "2", "distinct_property"),
        ),
    ],
)
def test_constraint_forms(body, expected):
    spec = f'job "c" {{\n  constraint {{\n{body}\n  }}\n}}\n'
    [constraint] = parse_jobspec(spec)["Constraints"]
    assert (constraint["LTarget"], constraint["RTarget"], constraint["Operand"]) == expected


def test_constraints_at_every_level():
    spec = """\
job "c" {
  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }
  group "g" {
    constraint {
      distinct_hosts = true
    }
    task "t" {
      constraint {
        attribute = "${attr.driver.raw_exec}"
        value     = "1"
      }
    }
  }
}
"""
    job = parse_jobspec(spec)
    assert job["Constraints"] == [
        {"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}
    ]
    assert job["TaskGroups"][0]["Constraints"] == [
        {"LTarget": "", "RTarget": "true", "Operand": "distinct_hosts"}
    ]
    assert only_task(job)["Constraints"] == [
        {"LTarget": "${attr.driver.raw_exec}", "RTarget": "1", "Operand": "="}
    ]


# --------------------------------------------------------------------------------------------
# Durations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "nanoseconds"),
    [
        ('"15s"', 15 * SECOND),
        ('"24h"', 24 * HOUR),
        ('"100ms"', 100 * MS),
        ('"1h30m"', 90 * MINUTE),
        ('"1.5s"', 1500 * MS),
        ('"2m0.25s"', 2 * MINUTE + 250 * MS),
        ('"1us"', 1_000),
        ('"1\u00b5s"', 1_000),
        ('"7ns"', 7),
        ('"0"', 0),
        ("250", 250),  # a number is taken as nanoseconds
    ],
)
def test_durations_become_nanoseconds(value, nanoseconds):
    task = only_task(parse_jobspec(task_job(f"      kill_timeout = {value}\n")))
    assert task["KillTimeout"] == nanoseconds


@pytest.mark.parametrize(
    ("value", "subject", "detail"),
    [
        ('""', "5,23-23", 'Unsuitable duration value: time: invalid duration ""'),
        ('"5"', "5,23-24", 'Unsuitable duration value: time: missing unit in duration "5"'),
        ('"5x"', "5,23-25", 'Unsuitable duration value: time: unknown unit "x" in duration "5x"'),
        ('"soon"', "5,23-27", 'Unsuitable duration value: time: invalid duration "soon"'),
        ("true", "5,22-26", "Unsuitable value: expected a string but found bool"),
        ("1.5", "5,22-25", "Unsuitable value: value must be a whole number, between "
         "-9223372036854775808 and 9223372036854775807"),
    ],
)  # fmt: skip
def test_bad_durations_get_nomads_duration_errors(value, subject, detail):
    with pytest.raises(JobspecError) as excinfo:
        parse_jobspec(task_job(f"      kill_timeout = {value}\n"))
    assert str(excinfo.value) == f"input.hcl:{subject}: Unsuitable value type; {detail}"


# --------------------------------------------------------------------------------------------
# Invalid jobspecs: Nomad's 400 texts
# --------------------------------------------------------------------------------------------

UNCLOSED = 'job "a" {\n  type = "batch"\n  group "g" {\n    count = 1\n  }\n'
DRIVER_TASK = 'job "a" {{\n  group "g" {{\n    task "t" {{\n{}    }}\n  }}\n}}\n'


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("", "Job spec is empty", id="empty"),
        pytest.param(
            UNCLOSED,
            "input.hcl:1,9-10: Unclosed configuration block; There is no closing brace for this "
            "block before the end of the file. This may be caused by incorrect brace nesting "
            "elsewhere in this file.",
            id="syntax-unclosed-block",
        ),
        pytest.param(
            'job "a" {\n  meta {\n    "owner.team" = "ops"\n  }\n}\n',
            "input.hcl:3,5-6: Invalid argument name; Argument names must not be quoted.",
            id="syntax-quoted-argument-name",
        ),
        pytest.param(
            'job "a" {\n  count 2\n}\n',
            "input.hcl:2,3-8: Argument or block definition required; An argument or block "
            'definition is required here. To set an argument, use the equals sign "=" to '
            "introduce the argument value.",
            id="syntax-missing-equals",
        ),
        pytest.param(
            'job "a" {\n  type =\n}\n',
            "input.hcl:2,9-3,1: Invalid expression; Expected the start of an expression, but "
            "found an invalid expression token.",
            id="syntax-missing-value",
        ),
        pytest.param(
            'job "a" {\n}\n}\n',
            "input.hcl:3,1-2: Argument or block definition required; An argument or block "
            "definition is required here.",
            id="syntax-stray-brace",
        ),
        pytest.param(
            'job "a" {\n  type = "batch" priority = 1\n}\n',
            "input.hcl:2,18-26: Missing newline after argument; An argument definition must end "
            "with a newline.",
            id="syntax-two-arguments-on-a-line",
        ),
        pytest.param(
            'job "a" = {\n}\n',
            'input.hcl:1,9-10: Invalid block definition; The equals sign "=" indicates an '
            "argument definition, and must not be used when defining a block.",
            id="syntax-block-with-equals",
        ),
        pytest.param(
            'job "a" {\n  type = "batch\n}\n',
            "input.hcl:2,16-3,1: Invalid multi-line string; Quoted strings may not be split over "
            "multiple lines. To produce a multi-line string, either use the \\n escape to "
            'represent a newline character or use the "heredoc" multi-line template syntax.',
            id="syntax-unterminated-string",
        ),
        pytest.param(
            'job "a" {\n  type = "bat\\ch"\n}\n',
            'input.hcl:2,14-16: Invalid escape sequence; The symbol "c" is not a valid escape '
            "sequence selector.",
            id="syntax-bad-escape",
        ),
        pytest.param(
            'job "a" {\n  type = "a"\n  type = "b"\n}\n',
            'input.hcl:3,3-7: Attribute redefined; The argument "type" was already set at '
            "input.hcl:2,3-7. Each argument may be set only once.",
            id="syntax-argument-twice",
        ),
        pytest.param(
            'job "a" {\n  x = 1;\n}\n',
            'input.hcl:2,8-9: Invalid character; The ";" character is not valid. Use newlines to '
            "separate arguments and blocks, and commas to separate items in collection values.",
            id="syntax-semicolon",
        ),
        pytest.param(
            'job {\n  type = "batch"\n}\n',
            "input.hcl:1,5-6: Missing name for job; All job blocks must have 1 labels (name).",
            id="missing-job-label",
        ),
        pytest.param(
            'job "a" "b" {\n}\n',
            "input.hcl:1,9-12: Extraneous label for job; Only 1 labels (name) are expected for "
            "job blocks.",
            id="two-job-labels",
        ),
        pytest.param(
            'job "a" {\n}\n\njob "b" {\n}\n',
            'input.hcl:4,1-8: Duplicate job block; Only one block of type "job" is allowed. '
            "Previous definition was at input.hcl:1,1-8.",
            id="two-jobs",
        ),
        pytest.param(
            "# nothing but a comment\n",
            "<nil>: Missing job block; A job block is required",
            id="no-job",
        ),
        pytest.param(
            'jobs "a" {\n}\n',
            'input.hcl:1,1-5: Unsupported block type; Blocks of type "jobs" are not expected '
            'here. Did you mean "job"?',
            id="misspelled-job",
        ),
        pytest.param(
            'job "a" {\n  typ = "batch"\n}\n',
            'input.hcl:2,3-6: Unsupported argument; An argument named "typ" is not expected '
            'here. Did you mean "type"?',
            id="misspelled-argument",
        ),
        pytest.param(
            'job "a" {\n  group {\n  }\n}\n',
            "input.hcl:2,9-10: Missing name for group; All group blocks must have 1 labels (name).",
            id="missing-group-label",
        ),
        pytest.param(
            DRIVER_TASK.format('      driver = "raw_exec"\n      config "raw_exec" {\n      }\n'),
            "input.hcl:5,14-24: Extraneous label for config; No labels are expected for config "
            "blocks.",
            id="driver-config-with-a-label",
        ),
        pytest.param(
            DRIVER_TASK.format('      driver {\n        name = "docker"\n      }\n'),
            'input.hcl:4,7-13: Unsupported block type; Blocks of type "driver" are not expected '
            'here. Did you mean to define argument "driver"? If so, use the equals sign to '
            "assign it a value.",
            id="driver-as-a-block",
        ),
        pytest.param(
            DRIVER_TASK.format(
                '      driver = "docker"\n      config = {\n        image = "x"\n      }\n'
            ),
            'input.hcl:5,7-13: Unsupported argument; An argument named "config" is not expected '
            'here. Did you mean to define a block of type "config"?',
            id="driver-config-as-an-argument",
        ),
        pytest.param(
            DRIVER_TASK.format("      config {\n      }\n      config {\n      }\n"),
            "input.hcl:6,7-13: Duplicate config block; Only one config block is allowed. Another "
            "was defined at input.hcl:4,7-13.",
            id="driver-config-twice",
        ),
        pytest.param(
            DRIVER_TASK.format('      driver = ["raw_exec"]\n'),
            "input.hcl:4,16-17: Unsuitable value type; Unsuitable value: string required",
            id="driver-as-a-list",
        ),
        pytest.param(
            'job "a" {\n  group "g" {\n    count = "two"\n  }\n}\n',
            "input.hcl:3,14-17: Unsuitable value type; Unsuitable value: a number is required",
            id="count-not-a-number",
        ),
        pytest.param(
            'job "a" {\n  datacenters = "dc1"\n}\n',
            "input.hcl:2,18-21: Unsuitable value type; Unsuitable value: list of string required",
            id="datacenters-not-a-list",
        ),
        pytest.param(
            DRIVER_TASK.format('      kill_timeout = "5"\n'),
            "input.hcl:4,23-24: Unsuitable value type; Unsuitable duration value: time: missing "
            'unit in duration "5"',
            id="duration-without-unit",
        ),
        pytest.param(
            'job "a" {\n  constraint {\n    distinct_hosts = "maybe"\n  }\n}\n',
            "input.hcl:3,22-29: Incorrect attribute value type; Inappropriate value for "
            'attribute "distinct_hosts": a bool is required.',
            id="constraint-bad-bool",
        ),
        pytest.param(
            'job "a" {\n  meta = { a = "1" }\n  meta {\n    b = "2"\n  }\n}\n',
            "input.hcl:3,3-7: Duplicate meta block; meta may not be defined more than once. "
            "Another definition is defined at input.hcl:2,3-21.",
            id="meta-argument-and-block",
        ),
        pytest.param(
            '{"Job": {"ID": "a"}}',
            'input.hcl:1,1-2: Unsupported jobspec format; The jobspec starts with "{", so Nomad '
            "would read it as JSON; this parser reads HCL2 jobspecs only.",
            id="json-jobspec",
        ),
    ],
)
def test_invalid_jobspec_is_refused_with_nomads_message(spec, message):
    with pytest.raises(JobspecError) as excinfo:
        parse_jobspec(spec)
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            task_job(
                '      driver = "docker"\n      service {\n        connect {\n'
                "          sidecar_service {}\n        }\n      }\n"
            ),
            'input.hcl:7,9-16: Unsupported block type; Blocks of type "connect" (Consul Connect '
            "(service mesh) configuration) are valid in a Nomad jobspec, but this jobspec parser "
            "does not support them.",
            id="consul-connect",
        ),
        pytest.param(
            'job "a" {\n  meta {\n    hash = bcrypt("secret")\n  }\n}\n',
            'input.hcl:3,12-19: Error in function call; Call to function "bcrypt" failed: '
            '"bcrypt" is a Nomad jobspec function this jobspec parser does not support; compute '
            "the value outside the jobspec and pass it in as a variable.",
            id="function-not-reproduced",
        ),
    ],
)
def test_constructs_outside_the_supported_subset_are_refused_not_dropped(spec, message):
    with pytest.raises(JobspecError) as excinfo:
        parse_jobspec(spec)
    assert str(excinfo.value) == message


def test_file_functions_fail_as_on_the_parse_endpoint():
    # The parse endpoint runs jobspec2 with AllowFS false: the file functions exist but fail.
    spec = 'job "a" {\n  meta {\n    script = file("run.sh")\n  }\n}\n'
    with pytest.raises(JobspecError) as excinfo:
        parse_jobspec(spec)
    assert str(excinfo.value) == (
        'input.hcl:3,14-19: Error in function call; Call to function "file" failed: filesystem '
        "function disabled."
    )


def test_several_decoding_errors_come_one_per_line():
    spec = 'job "a" {\n  typ = "batch"\n  priority = "high"\n}\n'
    with pytest.raises(JobspecError) as excinfo:
        parse_jobspec(spec)
    assert str(excinfo.value).split("\n") == [
        'input.hcl:2,3-6: Unsupported argument; An argument named "typ" is not expected here. '
        'Did you mean "type"?',
        "input.hcl:3,15-19: Unsuitable value type; Unsuitable value: a number is required",
    ]


def test_driver_config_errors_are_reported_as_one_diagnostics_list():
    # Nomad evaluates driver configs last and reports them as hcl.Diagnostics.
    task_body = "      config {\n        command = var.missing\n        args = [1 / 0]\n      }\n"
    with pytest.raises(JobspecError) as excinfo:
        parse_jobspec(task_job(task_body))
    assert str(excinfo.value) == (
        "input.hcl:6,22-30: Unsupported attribute; This object does not have an attribute named "
        '"missing"., and 1 other diagnostic(s)'
    )


def test_jobspec_error_is_a_value_error_carrying_the_message():
    with pytest.raises(ValueError) as excinfo:
        parse_jobspec("")
    assert isinstance(excinfo.value, JobspecError)
    assert excinfo.value.message == "Job spec is empty"
