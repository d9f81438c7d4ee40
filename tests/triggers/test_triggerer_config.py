"""The ``[nomad_triggerer]`` section: its defaults, its bad values, and the provider info."""

from __future__ import annotations

import logging

import pytest
from nomad_testlib import SectionConf

from airflow_provider_nomad.get_provider_info import get_provider_info
from airflow_provider_nomad.nomad.job_watch import LINGER
from airflow_provider_nomad.triggers.config import OPTIONS, SECTION, TriggererSettings

log = logging.getLogger("test.triggerer_config")


def _conf(**values: str) -> SectionConf:
    return SectionConf(SECTION, **values)


def test_defaults_are_the_watch_s_own():
    settings = TriggererSettings.read(_conf(), log)
    assert settings == TriggererSettings(
        shared_watch=True, watch_linger=LINGER, raise_open_file_limit=True
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"shared_watch": "False", "watch_linger": "0"}, (False, 0.0, True)),
        ({"shared_watch": " f ", "watch_linger": "2.5"}, (False, 2.5, True)),
        ({"shared_watch": "TRUE", "watch_linger": " 300 "}, (True, 300.0, True)),
        ({"raise_open_file_limit": "False"}, (True, LINGER, False)),
        ({"raise_open_file_limit": " 0 "}, (True, LINGER, False)),
    ],
)
def test_values_as_airflow_cfg_writes_them(values, expected, caplog):
    settings = TriggererSettings.read(_conf(**values), log)
    assert (settings.shared_watch, settings.watch_linger, settings.raise_open_file_limit) == (
        expected
    )
    assert not caplog.records


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"shared_watch": "maybe"}, "shared_watch must be True or False, got 'maybe'"),
        ({"watch_linger": "soon"}, "watch_linger must be a number of seconds, 0 or more"),
        ({"watch_linger": "-5"}, "got '-5'"),
        ({"watch_linger": "inf"}, "got 'inf'"),
        ({"watch_linger": "nan"}, "got 'nan'"),
        (
            {"raise_open_file_limit": "yes"},
            "raise_open_file_limit must be True or False, got 'yes'",
        ),
    ],
)
def test_a_bad_value_is_named_and_its_default_used(values, named, caplog):
    # A trigger runs after its task dispatched: failing it would leave the batch unwatched.
    with caplog.at_level(logging.WARNING, logger=log.name):
        settings = TriggererSettings.read(_conf(**values), log)
    assert settings == TriggererSettings(shared_watch=True, watch_linger=LINGER)
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert f"[{SECTION}]" in caplog.text and named in caplog.text


def test_provider_declares_every_option_with_its_default():
    options = get_provider_info()["config"][SECTION]["options"]
    assert {name: o["default"] for name, o in options.items()} == {
        name: default for name, (default, _) in OPTIONS.items()
    }
    assert options["shared_watch"]["type"] == "boolean"
    assert options["watch_linger"]["type"] == "float"
    assert options["raise_open_file_limit"]["type"] == "boolean"
    assert all(o["description"] for o in options.values())
