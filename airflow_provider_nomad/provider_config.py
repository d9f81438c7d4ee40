"""A configuration section as the provider info declares it (import-free data).

Airflow shows these in ``airflow config list`` and its generated docs; each section's module
keeps one table of ``option -> (default, description)`` for both that and its own reads.
"""

from __future__ import annotations

from typing import Any


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
