"""The emulator's subset of go-bexpr (Consul's ``?filter=``), as a pure function."""

from __future__ import annotations

import pytest

from airflow_provider_nomad.testing.consul.filters import FilterError, compile_filter
from airflow_provider_nomad.testing.consul.records import HEALTH_SERVICE_SCHEMA

ENTRY = {
    "Node": {"Node": "node-1", "Address": "10.0.0.1", "Meta": {"rack": "r1"}},
    "Service": {
        "ID": "web-1",
        "Service": "web",
        "Tags": ["blue", "v2"],
        "Port": 8080,
        "Meta": {"env": "prod", "team": "payments"},
        "EnableTagOverride": False,
    },
    "Checks": [
        {"CheckID": "serfHealth", "Status": "passing"},
        {"CheckID": "service:web-1", "Status": "warning"},
    ],
}


def matches(expression: str) -> bool:
    compiled = compile_filter(expression, HEALTH_SERVICE_SCHEMA)
    assert compiled is not None
    return compiled.matches(ENTRY)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('Service.Tags contains "blue"', True),
        ("Service.Tags contains green", False),
        ('"v2" in Service.Tags', True),
        ('"v3" not in Service.Tags', True),
        ("Service.Tags not contains blue", False),
        ('Service.Meta.env == "prod"', True),
        ('Service.Meta.env != "prod"', False),
        ("Service.Meta.missing == x", False),
        ("Service.Meta.missing != x", True),
        ('"team" in Service.Meta', True),
        ("Service.Port == 8080", True),
        ("Service.Port == 80", False),
        ("Service.EnableTagOverride == false", True),
        ('Service.ID matches "^web-[0-9]+$"', True),
        ('Service.ID not matches "^db"', True),
        ('Checks.Status == "warning"', True),
        ('Checks.Status == "critical"', False),
        ("Service.Meta is not empty", True),
        ("Node.TaggedAddresses is empty", True),
        ('Service.Meta.env == `prod` and (Node.Meta.rack == "r2" or "blue" in Service.Tags)', True),
        ('not Service.Meta.env == "prod"', False),
        ("not (Service.Port == 1) and not (Service.Port == 2)", True),
    ],
)
def test_expressions(expression: str, expected: bool):
    assert matches(expression) is expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("Service.Nope == 1", 'Selector "Service.Nope" is not valid'),
        ("Service.Meta.env ==", "1:20 (19): no match found"),
        ("Service.Meta.env = prod", "no match found"),
        ("(Service.Port == 1", "no match found"),
        ("and", "no match found"),
        ('Service.ID matches "("', "invalid regular expression"),
    ],
)
def test_errors(expression: str, message: str):
    with pytest.raises(FilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compile_filter(expression, HEALTH_SERVICE_SCHEMA)


def test_empty_filter_means_no_filter():
    assert compile_filter("", HEALTH_SERVICE_SCHEMA) is None
    assert compile_filter(None, HEALTH_SERVICE_SCHEMA) is None
