"""Input variables, the request's ``Variables`` and ``locals``: jobspec2's types.variables.go."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_nomad.testing.nomad.jobspec import JobspecError, parse_jobspec

JOB = '\njob "j" {\n  meta {\n    v = jsonencode(VALUE)\n  }\n}\n'


def value(declarations: str, expr: str, variables: str = "") -> str:
    """``expr`` as JSON, evaluated in a jobspec after ``declarations``."""
    spec = declarations + JOB.replace("VALUE", expr)
    return parse_jobspec(spec, variables=variables)["Meta"]["v"]


def error(declarations: str, variables: str = "", expr: str = "1") -> str:
    with pytest.raises(JobspecError) as excinfo:
        value(declarations, expr, variables)
    return str(excinfo.value)


TYPED = """\
variable "accounts" {
  type    = list(string)
  default = ["A-1"]
}
variable "limits" {
  type = object({
    cpu    = number
    memory = number
  })
  default = { cpu = 500, memory = "256" }
}
variable "retries" {
  type = number
}
"""


def test_defaults_are_converted_to_the_declared_type_and_the_request_overrides_them():
    assert value(TYPED, "[var.accounts, var.limits, var.retries]", "retries = 2") == (
        '[["A-1"],{"cpu":500,"memory":256},2]'
    )
    overridden = 'retries = "3"\naccounts = ["B-1", "B-2"]\nlimits = { cpu = 1, memory = 2 }'
    assert value(TYPED, "[var.accounts, var.limits, var.retries]", overridden) == (
        '[["B-1","B-2"],{"cpu":1,"memory":2},3]'
    )


def test_an_untyped_variable_takes_the_type_of_its_default():
    declarations = 'variable "count" {\n  default = 1\n}\nvariables {\n  name = "x"\n}\n'
    assert value(declarations, "[var.count, var.name]", 'count = "7"\nname = 8') == '[7,"8"]'


def test_unset_variable_is_refused():
    assert error(TYPED) == (
        '<nil>: Unset variable "retries"; A used variable must be set or have a default value; '
        "see https://developer.hashicorp.com/nomad/docs/reference/hcl2/variables  for details."
    )


def test_request_value_of_the_wrong_type_is_refused():
    assert error(TYPED, 'retries = "many"') == (
        "input.hcl:1,11-17: Invalid value for variable; The value for retries is not compatible "
        "with the variable's type constraint: a number is required."
    )


def test_default_of_the_wrong_type_is_refused():
    declarations = 'variable "d" {\n  type    = list(string)\n  default = "dc1"\n}\n'
    assert error(declarations) == (
        "input.hcl:3,13-18: Invalid default value for variable; This default value is not "
        "compatible with the variable's type constraint: list of string required."
    )


VALIDATED = """\
variable "environment" {
  type    = string
  default = "uat"

  validation {
    condition     = contains(["uat", "prod"], var.environment)
    error_message = "The environment must be uat or prod."
  }
}
"""


def test_validation_checks_the_default_and_the_request_value():
    assert value(VALIDATED, "var.environment", 'environment = "prod"') == '"prod"'
    assert error(VALIDATED, 'environment = "dev"') == (
        "input.hcl:1,15-20: Invalid value for varfile variable; The environment must be uat or "
        "prod.\n\nThis was checked by the validation rule at input.hcl:5,3-13."
    )
    bad_default = VALIDATED.replace('default = "uat"', 'default = "qa"')
    assert error(bad_default) == (
        "input.hcl:3,13-17: Invalid value for default variable; The environment must be uat or "
        "prod.\n\nThis was checked by the validation rule at input.hcl:5,3-13."
    )


def test_settlement_image_tag_validation():
    spec = (Path(__file__).parent / "jobspecs" / "settlement.nomad.hcl").read_text()
    with pytest.raises(JobspecError) as excinfo:
        parse_jobspec(spec, variables='image_tag = "latest"')
    assert str(excinfo.value).startswith(
        "input.hcl:1,13-21: Invalid value for varfile variable; The image tag must look like "
        "YYYY.MM.N."
    )


def test_validation_condition_may_refer_to_its_variable_only():
    declarations = (
        'variable "a" {\n  default = 1\n  validation {\n    condition     = var.b > 0\n'
        '    error_message = "Positive."\n  }\n}\n'
    )
    assert error(declarations).split("\n") == [
        "input.hcl:4,21-26: Invalid reference in variable validation; The condition for "
        'variable "a" can only refer to the variable itself, using var.a.',
        "input.hcl:4,21-30: Invalid variable validation condition; The condition for variable "
        '"a" must refer to var.a in order to test incoming values.',
        # Nomad still evaluates the rule, where only var.a exists.
        "input.hcl:4,24-26: Unsupported attribute; This object does not have an attribute "
        'named "b".',
    ]


def test_defaults_and_request_values_are_constants():
    functions = 'variable "a" {\n  default = upper("x")\n}\n'
    assert error(functions) == (
        "input.hcl:2,13-23: Function calls not allowed; Functions may not be called here."
    )
    declared = 'variable "a" {\n  default = "x"\n}\n'
    assert error(declared, "a = local.b") == (
        "input.hcl:1,5-12: Variables not allowed; Variables may not be used here."
    )


def test_request_values_for_undeclared_variables_are_ignored():
    # Nomad's parse endpoint is not strict: an unknown name is only a warning.
    assert value('variable "a" {\n  default = 1\n}\n', "var.a", "a = 2\nunknown = 3") == "2"


def test_var_file_errors():
    assert error("", 'variable "a" {}\n') == (
        "input.hcl:1,1-9: Variable declaration in a .var file; A .var file is used to assign "
        "values to variables that have already been declared in job files, not to declare new "
        'variables. To declare variable "a", place this block in one of your job files\n\nTo '
        "set a value for this variable in input.hcl, use the definition syntax instead:\n    "
        "a = <value>"
    )
    assert error("", "a = ").startswith("unable to parse var content: input.hcl:1,")
    assert error("", '{"a": 1}').startswith(
        "unable to parse var content: input.hcl:1,1-2: Unsupported var content format;"
    )


def test_locals_may_use_each_other_in_any_order():
    declarations = (
        'variable "desk" {\n  default = "Rates"\n}\n'
        'locals {\n  prefix = "${local.base}-${local.env}"\n  base = lower(var.desk)\n}\n'
        'locals {\n  env = "uat"\n}\n'
    )
    assert value(declarations, "local.prefix") == '"rates-uat"'


def test_locals_in_a_cycle_are_refused():
    declarations = "locals {\n  a = local.b\n  b = local.a\n}\n"
    assert error(declarations).startswith("input.hcl:")
    assert "Unsupported attribute" in error(declarations)


def test_a_reference_to_an_undeclared_variable_names_it():
    assert error("", expr="var.region") == (
        "input.hcl:4,23-30: Unsupported attribute; This object does not have an attribute "
        'named "region".'
    )


def test_dynamic_blocks_repeat_a_block_per_element():
    spec = """\
variable "calendars" {
  default = ["TARGET2", "NYSE"]
}

job "j" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      dynamic "artifact" {
        for_each = var.calendars
        iterator = calendar
        content {
          source      = "https://calendars.example.com/${lower(calendar.value)}.ics"
          destination = "local/calendars/${calendar.key}"
        }
      }
    }
  }
}
"""
    task = parse_jobspec(spec)["TaskGroups"][0]["Tasks"][0]
    assert [(a["GetterSource"], a["RelativeDest"]) for a in task["Artifacts"]] == [
        ("https://calendars.example.com/target2.ics", "local/calendars/0"),
        ("https://calendars.example.com/nyse.ics", "local/calendars/1"),
    ]


def test_dynamic_blocks_with_labels_generate_groups():
    spec = """\
locals {
  desks = { rates = 2, credit = 1 }
}

job "j" {
  type = "batch"
  dynamic "group" {
    for_each = local.desks
    labels   = ["settle-${group.key}"]
    content {
      count = group.value
      task "t" {
        driver = "raw_exec"
        env {
          DESK = group.key
        }
      }
    }
  }
}
"""
    groups = parse_jobspec(spec)["TaskGroups"]
    assert [(g["Name"], g["Count"], g["Tasks"][0]["Env"]) for g in groups] == [
        ("settle-credit", 1, {"DESK": "credit"}),
        ("settle-rates", 2, {"DESK": "rates"}),
    ]
