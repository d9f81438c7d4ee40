"""A task's environment and ``${...}`` interpolation, after ``client/taskenv/env.go``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from .golang import clean_env_var

# The client's default env.denylist: secrets of the agent never reach tasks.
DEFAULT_DENYLIST = frozenset(
    {
        "CONSUL_TOKEN",
        "CONSUL_HTTP_TOKEN",
        "CONSUL_HTTP_TOKEN_FILE",
        "NOMAD_TOKEN",
        "VAULT_TOKEN",
        "CONSUL_LICENSE",
        "NOMAD_LICENSE",
        "VAULT_LICENSE",
        "CONSUL_LICENSE_PATH",
        "NOMAD_LICENSE_PATH",
        "VAULT_LICENSE_PATH",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "GOOGLE_APPLICATION_CREDENTIALS",
    }
)
_CLEANED_PREFIXES = ("NOMAD_ADDR_", "NOMAD_IP_", "NOMAD_PORT_", "NOMAD_HOST_PORT_", "NOMAD_META_")
_INTERP = re.compile(r"\$\{([^}]+)\}")


@dataclass
class TaskContext:
    """Everything that shapes one task's environment."""

    alloc_id: str
    alloc_name: str
    alloc_index: int
    job: dict[str, Any]
    group: dict[str, Any]
    task: dict[str, Any]
    namespace: str
    region: str
    alloc_dir: str
    task_dir: str
    node_attrs: dict[str, str]
    datacenter: str


def combined_meta(ctx: TaskContext) -> dict[str, str]:
    """``Job.CombinedTaskMeta``: job meta, overridden by group meta, then task meta."""
    meta: dict[str, str] = {}
    for layer in (ctx.job.get("Meta"), ctx.group.get("Meta"), ctx.task.get("Meta")):
        meta.update(layer or {})
    return meta


def build_env(ctx: TaskContext, *, inherit_host: bool) -> dict[str, str]:
    """The environment the driver starts the task with."""
    resources = ctx.task.get("Resources") or {}
    env: dict[str, str] = {
        "NOMAD_ALLOC_DIR": os.path.join(ctx.alloc_dir, "alloc"),
        "NOMAD_TASK_DIR": os.path.join(ctx.task_dir, "local"),
        "NOMAD_SECRETS_DIR": os.path.join(ctx.task_dir, "secrets"),
        "NOMAD_MEMORY_LIMIT": str(resources.get("MemoryMB", 0)),
        "NOMAD_CPU_LIMIT": str(resources.get("CPU", 0)),
        "NOMAD_ALLOC_ID": ctx.alloc_id,
        "NOMAD_SHORT_ALLOC_ID": ctx.alloc_id[:8],
        "NOMAD_ALLOC_NAME": ctx.alloc_name,
        "NOMAD_GROUP_NAME": ctx.group.get("Name", ""),
        "NOMAD_ALLOC_INDEX": str(ctx.alloc_index),
        "NOMAD_TASK_NAME": ctx.task.get("Name", ""),
        "NOMAD_JOB_ID": ctx.job.get("ID", ""),
        "NOMAD_JOB_NAME": ctx.job.get("Name", ""),
        "NOMAD_DC": ctx.datacenter,
        "NOMAD_NAMESPACE": ctx.namespace,
        "NOMAD_REGION": ctx.region,
    }
    if resources.get("MemoryMaxMB"):
        env["NOMAD_MEMORY_MAX_LIMIT"] = str(resources["MemoryMaxMB"])
    if ctx.job.get("ParentID"):
        env["NOMAD_JOB_PARENT_ID"] = ctx.job["ParentID"]
    for key, value in _meta_env(ctx).items():
        env[interpolate(key, env, ctx.node_attrs)] = interpolate(value, env, ctx.node_attrs)
    if inherit_host:
        for key, value in os.environ.items():
            if key not in DEFAULT_DENYLIST and key not in env:
                env[key] = value
    elif "PATH" in os.environ:
        env.setdefault("PATH", os.environ["PATH"])
    for key, value in (ctx.task.get("Env") or {}).items():
        env[key] = interpolate(str(value), env, ctx.node_attrs)
    return {_clean(key): value for key, value in env.items()}


def _meta_env(ctx: TaskContext) -> dict[str, str]:
    meta_env: dict[str, str] = {}
    parameterized = ctx.job.get("ParameterizedJob") or {}
    if ctx.job.get("Dispatched"):
        # Optional meta a dispatch left out still reaches the task, as "".
        for key in parameterized.get("MetaOptional") or []:
            meta_env[f"NOMAD_META_{key.upper()}"] = ""
            meta_env[f"NOMAD_META_{key}"] = ""
    for key, value in combined_meta(ctx).items():
        meta_env[f"NOMAD_META_{key.upper()}"] = value
        meta_env[f"NOMAD_META_{key}"] = value
    return meta_env


def _clean(key: str) -> str:
    if key.startswith(_CLEANED_PREFIXES):
        return clean_env_var(key)
    return key


def interpolate(text: str, env: dict[str, str], node_attrs: dict[str, str]) -> str:
    """``hargs.ReplaceEnv``: ``${VAR}`` from the env or node values; unknown ones stay."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in env:
            return env[name]
        if name in node_attrs:
            return node_attrs[name]
        return match.group(0)

    return _INTERP.sub(replace, text)


def interpolate_config(value: Any, env: dict[str, str], node_attrs: dict[str, str]) -> Any:
    """Interpolate every string inside a driver config."""
    if isinstance(value, str):
        return interpolate(value, env, node_attrs)
    if isinstance(value, list):
        return [interpolate_config(v, env, node_attrs) for v in value]
    if isinstance(value, dict):
        return {k: interpolate_config(v, env, node_attrs) for k, v in value.items()}
    return value
