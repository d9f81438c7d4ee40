"""The provider's ``airflow`` CLI commands: none yet.

Declaring this function (``cli`` in the provider info) tells Airflow 3.2+ that the provider's
executors bring no commands, so the CLI neither imports :class:`NomadExecutor` on every
``airflow`` call to look for them nor warns about a missing ``cli`` section.
"""

from __future__ import annotations


def get_cli_commands() -> list:
    return []
