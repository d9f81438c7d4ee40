"""jobspec2 normalizeJob: what the parser fills in after decoding, before any Canonicalize."""

from __future__ import annotations

import copy
from typing import Any

from .apistructs import SECOND, new_struct


def normalize_job(job: dict[str, Any], job_id: str, vault: dict[str, Any] | None,
                  secrets: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:  # fmt: skip
    """Complete a decoded job as jobspec2 does (in place).

    :param job_id: the ``job`` block's label.
    :param vault: the job-level ``vault`` block, which every task without one inherits.
    :param secrets: the job-level ``secret`` blocks, added to every task's.
    :param tasks: ``task`` blocks written directly in the job; each becomes a group of its own.
    """
    if job["Name"] is None:
        job["Name"] = job_id
    if job["ID"] is None:
        job["ID"] = job_id
    periodic = job["Periodic"]
    if periodic is not None and (periodic["Spec"] is not None or periodic["Specs"] is not None):
        periodic["SpecType"] = "cron"
    _normalize_vault(vault)
    if tasks:
        alone = []
        for task in tasks:
            group = new_struct("TaskGroup")
            group["Name"], group["Tasks"] = task["Name"], [task]
            alone.append(group)
        job["TaskGroups"] = alone + (job["TaskGroups"] or [])
    for group in job["TaskGroups"] or []:
        _normalize_ports(group["Networks"])
        for task in group["Tasks"] or []:
            _normalize_task(task, vault, secrets)


def _normalize_task(
    task: dict[str, Any], vault: dict[str, Any] | None, secrets: list[dict[str, Any]]
) -> None:
    if task["Resources"] is not None:
        _normalize_ports(task["Resources"]["Networks"])
    for template in task["Templates"] or []:
        _normalize_template(template)
    _normalize_vault(task["Vault"])
    if task["Vault"] is None and vault is not None:
        task["Vault"] = copy.deepcopy(vault)
    if not task["Secrets"]:
        task["Secrets"] = copy.deepcopy(secrets) or None
    else:
        task["Secrets"] = task["Secrets"] + copy.deepcopy(secrets)
    # For agents older than 1.7 the default identity lives in Task.Identity.
    identities = task["Identities"] or []
    for index, identity in enumerate(identities):
        if identity["Name"] in ("", "default"):
            task["Identity"] = identity
            task["Identities"] = identities[:index] + identities[index + 1 :]
            break


def _normalize_vault(vault: dict[str, Any] | None) -> None:
    if vault is None:
        return
    _default(vault, Env=True, DisableFile=False, ChangeMode="restart")


def _normalize_ports(networks: list[dict[str, Any]] | None) -> None:
    """A ``port`` block with a ``static`` value is a reserved port, not a dynamic one."""
    for network in networks or []:
        ports = network["DynamicPorts"]
        if not ports:
            continue
        network["DynamicPorts"] = [p for p in ports if p["Value"] <= 0] or None
        network["ReservedPorts"] = [p for p in ports if p["Value"] > 0] or None


def _normalize_template(template: dict[str, Any]) -> None:
    _default(template, ChangeMode="restart", Perms="0644", Splay=5 * SECOND, ErrMissingKey=False)
    script = template["ChangeScript"]
    if script is not None:
        _default(script, Args=[], Timeout=5 * SECOND, FailOnError=False, RunOnFirstRender=False)


def _default(target: dict[str, Any], **defaults: Any) -> None:
    for key, value in defaults.items():
        if target.get(key) is None:
            target[key] = value
