"""What a batch program needs from where it runs: inputs, progress output, its result file.

Run by Nomad, a batch reads its dispatch meta from ``NOMAD_META_<key>``, its dispatch payload
from the file the jobspec's ``dispatch_payload`` block names (in ``$NOMAD_TASK_DIR``), and
writes its result into ``$NOMAD_ALLOC_DIR``, where the Airflow task reads it back through
Nomad's fs API. Run by hand, the same values come from command-line options.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

#: Exit codes shared by the batches.
EXIT_OK = 0
EXIT_BREAK = 1
EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """The batch was started with inputs it cannot work with (exit code 2)."""


def in_nomad() -> bool:
    return "NOMAD_ALLOC_DIR" in os.environ


def meta(key: str) -> str | None:
    """A dispatch/job meta value. Nomad exports ``NOMAD_META_<key>`` as written and upper-cased."""
    return os.environ.get(f"NOMAD_META_{key}", os.environ.get(f"NOMAD_META_{key.upper()}"))


def flag(value: str | None) -> bool:
    """Meta values are strings: ``"true"``/``"1"``/``"yes"`` mean on."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def read_payload(file_name: str) -> bytes:
    """The dispatch payload, which Nomad wrote to ``$NOMAD_TASK_DIR/<file_name>``."""
    task_dir = os.environ.get("NOMAD_TASK_DIR")
    if not task_dir:
        raise BadInput("no NOMAD_TASK_DIR: not started by Nomad; pass the inputs as options")
    path = Path(task_dir, file_name)
    if not path.is_file():
        raise BadInput(f"dispatch payload {path} is missing: dispatch the job with a payload")
    return path.read_bytes()


def read_json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise BadInput(f"{what} is not JSON: {exc}") from None


def result_path(option: str | None, file_name: str) -> Path | None:
    """Where to write the result: the option when given, else the allocation directory."""
    if option:
        return Path(option)
    if in_nomad():
        return Path(os.environ["NOMAD_ALLOC_DIR"], file_name)
    return None


def write_result(path: Path | None, result: dict[str, Any]) -> None:
    """Write the result atomically, so a reader never sees half a file."""
    text = json.dumps(result, indent=2, sort_keys=True) + "\n"
    if path is None:
        print(text, end="", flush=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)
    progress(f"wrote result to {path}")


def progress(message: str) -> None:
    print(message, flush=True)


def warn(message: str) -> None:
    print(f"WARNING {message}", file=sys.stderr, flush=True)


def fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
