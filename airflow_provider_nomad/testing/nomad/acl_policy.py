"""ACL policy rules: what a policy's HCL (or JSON) grants, as ``acl/policy.go`` reads it.

Only the parts the emulator enforces are kept: per-namespace capabilities (``policy`` expanded
like ``expandNamespacePolicy``, plus explicit ``capabilities``) and the ``node`` policy. Other
blocks (agent, operator, quota, plugin, host_volume) parse and are ignored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

_READ = (
    "list-jobs",
    "parse-job",
    "read-job",
    "csi-list-volume",
    "csi-read-volume",
    "read-job-scaling",
    "list-scaling-policies",
    "read-scaling-policy",
    "host-volume-read",
)
_WRITE = (
    *_READ,
    "scale-job",
    "submit-job",
    "dispatch-job",
    "read-logs",
    "read-fs",
    "alloc-exec",
    "alloc-lifecycle",
    "csi-mount-volume",
    "csi-write-volume",
    "submit-recommendation",
    "host-volume-create",
)
_SCALE = (
    "list-scaling-policies",
    "read-scaling-policy",
    "read-job-scaling",
    "scale-job",
    "read-job",
    "submit-recommendation",
)
# A namespace policy also grants variables on every path (acl.Parse expands it so);
# the emulator keeps variables capabilities as "variables-<capability>", path-agnostic.
_VARS_READ = ("variables-read", "variables-list")
_VARS_WRITE = (*_VARS_READ, "variables-write", "variables-destroy")
NAMESPACE_POLICIES: dict[str, tuple[str, ...]] = {
    "deny": ("deny",),
    "read": (*_READ, *_VARS_READ),
    "write": (*_WRITE, *_VARS_WRITE),
    "scale": _SCALE,
}
NODE_POLICIES = ("deny", "read", "write")


class PolicyError(ValueError):
    """Rules that ``acl.Parse`` would refuse; the text follows Nomad's."""


@dataclass
class Grants:
    """What one policy allows: namespace pattern -> capabilities, and the node policy."""

    namespaces: dict[str, frozenset[str]] = field(default_factory=dict)
    node: str = ""


def _unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals; Nomad's parser does not."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    return value


def _load(rules: str) -> dict[str, Any]:
    text = rules.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise PolicyError(f"Failed to parse ACL Policy: {exc}") from exc
    import hcl2  # a dependency of the jobspec parser already

    try:
        return hcl2.loads(text)
    except Exception as exc:  # hcl2 raises lark errors of many kinds
        raise PolicyError(f"Failed to parse ACL Policy: {exc}") from exc


def _blocks(value: Any) -> list[tuple[str, dict[str, Any]]]:
    """``namespace "x" {...}`` blocks as (label, body) pairs, from HCL or JSON shapes."""
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        for label, body in item.items():
            if isinstance(body, list):  # JSON: {"namespace": {"x": [{...}]}}
                body = body[0] if body else {}
            if isinstance(body, dict):
                out.append((_unquote(label), body))
    return out


def _variables_capabilities(block: Any) -> set[str]:
    """``variables { path "x" { capabilities = [...] } }``, path patterns not kept."""
    caps: set[str] = set()
    for body in block if isinstance(block, list) else [block] if block else []:
        for _, path_body in _blocks((body or {}).get("path") or []):
            for cap in _unquote(path_body.get("capabilities") or []):
                caps.add(f"variables-{cap}")
    if "variables-read" in caps:
        caps.add("variables-list")  # expandVariablesCapabilities
    return caps


def parse_rules(rules: str) -> Grants:
    """The grants of a policy's ``Rules``; raises :class:`PolicyError` for invalid ones."""
    data = _load(rules)
    grants = Grants()
    for label, body in _blocks(data.get("namespace") or []):
        policy = _unquote(body.get("policy") or "")
        caps = set(_unquote(body.get("capabilities") or []))
        if policy and policy not in NAMESPACE_POLICIES:
            raise PolicyError(f"Invalid namespace policy: {label!r} {policy!r}")
        caps.update(NAMESPACE_POLICIES.get(policy, ()))
        caps.update(_variables_capabilities(body.get("variables")))
        grants.namespaces[label] = frozenset(caps)
    node = data.get("node")
    if node:
        body = node[0] if isinstance(node, list) else node
        policy = _unquote(body.get("policy") or "") if isinstance(body, dict) else ""
        if policy not in NODE_POLICIES:
            raise PolicyError(f"Invalid node policy: {policy!r}")
        grants.node = policy
    return grants
