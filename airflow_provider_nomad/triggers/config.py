"""The ``[nomad_triggerer]`` configuration section, read in the triggerer by each trigger.

One table serves :func:`~airflow_provider_nomad.get_provider_info.get_provider_info` (``airflow
config list`` and the docs) and :meth:`TriggererSettings.read`. A bad value is logged and its
default used instead of failing: a trigger runs after its task dispatched, and failing it would
leave the batch unwatched until a retry adopts it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from airflow_provider_nomad.provider_config import ConfSource, option_text, section_info

SECTION = "nomad_triggerer"

#: option -> (default, description). Defaults are strings, as in airflow.cfg.
OPTIONS: dict[str, tuple[str, str]] = {
    "shared_watch": (
        "True",
        "NomadJobTriggers of this triggerer wait through one shared Nomad event stream per "
        "connection, namespace and region. False: each waits with its own blocking queries.",
    ),
    "watch_linger": (
        "60",
        "Seconds the shared event stream stays open after its last trigger ended, so the next "
        "task's trigger finds its dispatch already seen. 0 closes it with the last trigger.",
    ),
    "raise_open_file_limit": (
        "True",
        "The first NomadJobTrigger raises the triggerer's soft limit of open files to its hard "
        "limit, as Go programs such as Nomad do: each followed log holds a socket while its "
        "task runs (two per batch), and the soft limit services often get (1,024 under "
        "systemd) runs out at a few hundred batches. False keeps the limit the triggerer "
        "started with.",
    ),
}
_TRUE = frozenset({"t", "true", "1"})
_FALSE = frozenset({"f", "false", "0"})


@dataclass(frozen=True)
class TriggererSettings:
    """The section's values; a bad one is reported on ``log`` and replaced by its default."""

    shared_watch: bool
    watch_linger: float
    raise_open_file_limit: bool = True

    @classmethod
    def read(cls, conf: ConfSource, log: logging.Logger) -> TriggererSettings:
        def get(name: str) -> str:
            return option_text(conf, SECTION, OPTIONS, name)

        def bad(name: str, text: str, expected: str) -> str:
            default = OPTIONS[name][0]
            log.warning(
                "[%s] %s must be %s, got %r: using %s", SECTION, name, expected, text, default
            )
            return default

        def boolean(name: str) -> bool:
            text = get(name)
            if text.lower() not in _TRUE | _FALSE:
                text = bad(name, text, "True or False")
            return text.lower() in _TRUE

        linger = get("watch_linger")
        try:
            seconds = float(linger)
        except ValueError:
            seconds = -1.0
        if not 0 <= seconds < float("inf"):
            seconds = float(bad("watch_linger", linger, "a number of seconds, 0 or more"))
        return cls(
            shared_watch=boolean("shared_watch"),
            watch_linger=seconds,
            raise_open_file_limit=boolean("raise_open_file_limit"),
        )


def provider_config() -> dict[str, Any]:
    """The ``config`` entry of the provider info (import-free data)."""
    return {
        SECTION: section_info(
            "NomadJobTrigger in the triggerer: how the triggers of one triggerer wait.",
            OPTIONS,
            {
                "shared_watch": "boolean",
                "watch_linger": "float",
                "raise_open_file_limit": "boolean",
            },
        )
    }
