"""Task ``template`` blocks, rendered into the task directory before the task starts.

After ``client/allocrunner/taskrunner/template``: ``destination`` (and ``source``) are
interpolated with the task environment and joined to the task directory, which they may not
escape; ``perms`` is octal; ``left_delimiter``/``right_delimiter`` and ``error_on_missing_key``
apply; once every template rendered, ``env = true`` destinations are read as env files and
their variables override the task's ``env``. The functions offered are Go's built-ins,
``env`` (the task's environment only: host variables read as ""), ``nomadVar``/
``nomadVarExists`` (the emulator's ``/v1/var`` store, in the job's namespace unless the path
names one with ``@``), a few string helpers, and ``secret`` (Vault secrets the test declared).
``nomadVar`` of a variable that does not exist blocks, as consul-template does, with a
``Template`` event ``Missing: nomad.var.block(...)``; any other function fails the task with a
``Template failed`` kill event naming it. Templates render once: there are no re-renders, so
``change_mode`` never fires.
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .gotemplate import Pending, Template, TemplateError, builtins

#: ``DefaultMaxTemplateEventRate``: how long missing data may stay missing before an event.
MISSING_EVENT_DELAY = 3.0

DEST_ESCAPES = "template destination path escapes alloc directory"
SOURCE_ESCAPES = "template source path escapes alloc directory"


class MissingDependencies(Exception):
    """Some data a template reads does not exist yet; rendering waits for it."""

    def __init__(self, deps: list[str]) -> None:
        super().__init__(", ".join(deps))
        self.deps = deps


@dataclass
class TemplateData:
    """Where template functions read from.

    :param variable: ``(namespace, path)`` to a Nomad variable's items, or None.
    :param vault_secret: a path to the Vault secret a test declared (its ``Data``), or None.
    :param changed: waits up to a timeout (seconds) for either to change; True if one did.
    """

    variable: Callable[[str, str], Mapping[str, str] | None]
    vault_secret: Callable[[str], Mapping[str, Any] | None]
    changed: Callable[[float], Awaitable[bool]]


def _functions(
    env: Mapping[str, str], namespace: str, region: str, data: TemplateData
) -> dict[str, Callable[..., Any]]:
    def locate(path: str) -> tuple[str, str, str]:
        # consul-template's "path@namespace.region" form.
        base, _, where = path.partition("@")
        ns, _, reg = where.partition(".")
        return base, ns or namespace, reg or region

    def nomad_var(path: str) -> dict[str, str]:
        base, ns, reg = locate(path)
        items = data.variable(ns, base)
        if items is None:
            raise Pending(f"nomad.var.block({base}@{ns}.{reg})")
        return dict(items)

    def nomad_var_exists(path: str) -> bool:
        base, ns, _ = locate(path)
        return data.variable(ns, base) is not None

    def secret(path: str, *writes: str) -> dict[str, Any]:
        if writes:
            raise TemplateError(
                'the emulator\'s template renderer does not support writing to Vault with "secret"'
            )
        found = data.vault_secret(path.strip("/"))
        if found is None:
            raise TemplateError(
                f'the emulator has no Vault: the function "secret" reads only secrets a test '
                f"declared; declare {path!r} with nomad_emulator.control.vault_secret("
                f"{path!r}, {{...}}) or PUT /_emulator/vault/{path}"
            )
        return {"Data": dict(found), "LeaseDuration": 0, "Renewable": False}

    functions = builtins()
    functions.update(
        {
            "env": lambda name: env.get(name, ""),
            "nomadVar": nomad_var,
            "nomadVarExists": nomad_var_exists,
            "secret": secret,
            "toUpper": lambda s: str(s).upper(),
            "toLower": lambda s: str(s).lower(),
            "trimSpace": lambda s: str(s).strip(),
            "split": lambda sep, s: str(s).split(sep),
            "join": lambda sep, items: sep.join(str(i) for i in items),
            "replaceAll": lambda old, new, s: str(s).replace(old, new),
        }
    )
    return functions


def _inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def _interpolate(text: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{([^}]+)\}", lambda m: env.get(m.group(1), m.group(0)), text)


def render_templates(
    templates: list[dict[str, Any]],
    task_dir: str,
    env: Mapping[str, str],
    namespace: str,
    region: str,
    data: TemplateData,
) -> dict[str, str]:
    """Render every template into ``task_dir``; return the variables of ``env`` templates.

    :raises MissingDependencies: some template waits for data that does not exist yet.
    :raises TemplateError: a template cannot render (the task fails with its message).
    """
    functions = _functions(env, namespace, region, data)
    missing: list[str] = []
    rendered: list[tuple[dict[str, Any], str, str]] = []
    for tmpl in templates:
        dest = os.path.join(task_dir, _interpolate(tmpl.get("DestPath") or "", env).lstrip("/"))
        if not _inside(task_dir, dest):
            raise TemplateError(DEST_ESCAPES)
        name, text = "(dynamic)", tmpl.get("EmbeddedTmpl") or ""
        if tmpl.get("SourcePath"):
            source = _interpolate(tmpl["SourcePath"], env)
            source = source if os.path.isabs(source) else os.path.join(task_dir, source)
            if not _inside(task_dir, source):
                raise TemplateError(SOURCE_ESCAPES)
            name = source
            try:
                with open(source, encoding="utf-8") as f:
                    text = f.read()
            except OSError as exc:
                raise TemplateError(f"failed to read template {source}: {exc.strerror}") from exc
        template = Template(
            text, name="", left=tmpl.get("LeftDelim") or "{{", right=tmpl.get("RightDelim") or "}}"
        )
        try:
            output = template.render(
                None, functions, missing_key_error=bool(tmpl.get("ErrMissingKey"))
            )
        except Pending as pending:
            missing.append(str(pending))
            continue
        except TemplateError as exc:
            raise TemplateError(f"{name}: execute: {exc}") from exc
        rendered.append((tmpl, dest, output))
    if missing:
        raise MissingDependencies(sorted(set(missing)))
    for tmpl, dest, output in rendered:
        _write(dest, output, tmpl.get("Perms") or "0644")
    template_env: dict[str, str] = {}
    for tmpl, dest, output in rendered:
        if tmpl.get("Envvars"):
            try:
                template_env.update(parse_env_file(output))
            except ValueError as exc:
                raise TemplateError(
                    f"Template failed to read environment variables: error parsing env "
                    f'template "{dest}": {exc}'
                ) from exc
    return template_env


def _write(dest: str, output: str, perms: str) -> None:
    try:
        mode = int(perms, 8)
    except ValueError as exc:
        raise TemplateError(f'Failed to parse "{perms}" as octal: {exc}') from exc
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    with open(dest, "w", encoding="utf-8") as f:
        f.write(output)
    os.chmod(dest, mode)


_ENV_LINE = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*)$")


def parse_env_file(text: str) -> dict[str, str]:
    """``go-envparse``: ``KEY=value`` lines, ``#`` comments, optional ``export``, quotes."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ENV_LINE.match(line)
        if match is None:
            raise ValueError(f"line {number}: missing =")
        key, value = match.group(1), match.group(2).strip()
        if value[:1] == '"' and value.endswith('"') and len(value) > 1:
            value = re.sub(
                r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), value[1:-1]
            )
        elif value[:1] == "'" and value.endswith("'") and len(value) > 1:
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[key] = value
    return values


__all__ = [
    "MISSING_EVENT_DELAY",
    "MissingDependencies",
    "TemplateData",
    "TemplateError",
    "parse_env_file",
    "render_templates",
]
