"""A configuration section as the provider info declares it (import-free data).

Airflow shows these in ``airflow config list`` and its generated docs; each section's module
keeps one table of ``option -> (default, description)`` for both that and its own reads.
"""

from __future__ import annotations

from typing import Any, Protocol


class ConfSource(Protocol):
    """What a section reads from: Airflow's ``conf``, or an executor's per-team ``ExecutorConf``."""

    def get(self, section: str, key: str, fallback: Any = ...) -> Any: ...


def option_text(
    conf: ConfSource, section: str, options: dict[str, tuple[str, str]], name: str
) -> str:
    """One option's value as written (stripped), its default where unset."""
    default = options[name][0]
    value = conf.get(section, name, fallback=default)
    return (value if value is not None else default).strip()


def section_info(
    description: str, options: dict[str, tuple[str, str]], types: dict[str, str]
) -> dict[str, Any]:
    """The provider-info entry of one section; an option not in ``types`` is a string."""
    return {
        "description": description,
        "options": {
            name: {
                "description": text,
                "version_added": "0.1.0",
                "type": types.get(name, "string"),
                "example": None,
                "default": default,
            }
            for name, (default, text) in options.items()
        },
    }
