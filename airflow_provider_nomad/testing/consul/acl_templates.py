"""Consul's built-in ACL policies, templated policies and synthetic (identity) policies.

Texts from Consul's ``agent/structs/acl.go``, ``acl_templated_policy.go`` and
``acltemplatedpolicy/policies/ce/*.hcl``. A synthetic policy's ID is what Go's
``fmt.Sprintf("%x", fnv.New128a().Sum([]byte(rules)))`` prints: ``Sum`` *appends* the hash of
nothing to its argument, so the ID is the rules in hex followed by FNV-128a's offset basis.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

GLOBAL_MANAGEMENT_ID = "00000000-0000-0000-0000-000000000001"
GLOBAL_READ_ONLY_ID = "00000000-0000-0000-0000-000000000002"
RESERVED_PREFIX = "00000000-0000-0000-0000-0000000000"


def _all(access: str, intentions: bool) -> str:
    blocks = [f'\nacl = "{access}"']
    for kind in ("agent_prefix", "event_prefix", "key_prefix"):
        blocks.append(f'{kind} "" {{\n\tpolicy = "{access}"\n}}')
    blocks.append(f'keyring = "{access}"')
    blocks.append(f'node_prefix "" {{\n\tpolicy = "{access}"\n}}')
    blocks += [f'operator = "{access}"', f'mesh = "{access}"', f'peering = "{access}"']
    blocks.append(f'query_prefix "" {{\n\tpolicy = "{access}"\n}}')
    extra = f'\n\tintentions = "{access}"' if intentions else ""
    blocks.append(f'service_prefix "" {{\n\tpolicy = "{access}"{extra}\n}}')
    blocks.append(f'session_prefix "" {{\n\tpolicy = "{access}"\n}}')
    return "\n".join(blocks)


#: id -> (name, description, rules)
BUILTIN_POLICIES: dict[str, tuple[str, str, str]] = {
    GLOBAL_MANAGEMENT_ID: (
        "global-management",
        "Builtin Policy that grants unlimited access",
        _all("write", True),
    ),
    GLOBAL_READ_ONLY_ID: (
        "builtin/global-read-only",
        "Builtin Policy that grants unlimited read-only access to all components",
        _all("read", True),
    ),
}

_NAME_SCHEMA = (
    '{\n\t"type": "object",\n\t"properties": {\n\t\t"name": { "type": "string", "$ref": '
    '"#/definitions/min-length-one" }\n\t},\n\t"required": ["name"],\n\t"definitions": {\n\t\t'
    '"min-length-one": {\n\t\t\t\t"type": "string",\n\t\t\t\t"minLength": 1\n\t\t}\n\t}\n}'
)
_WORKLOAD_SCHEMA = (
    '{\n  "type": "object",\n  "properties": {\n    "name": { "type": "string", "$ref": '
    '"#/definitions/min-length-one" }\n  },\n  "required": ["name"],\n  "definitions": {\n    '
    '"min-length-one": {\n      "type": "string",\n      "minLength": 1\n    }\n  }\n}'
)


@dataclass(frozen=True)
class TemplatedPolicy:
    name: str
    template_id: str
    schema: str
    template: str
    description: str

    @property
    def needs_name(self) -> bool:
        return bool(self.schema)

    def to_api(self) -> dict[str, Any]:
        return {
            "TemplateName": self.name,
            "Schema": self.schema,
            "Template": self.template,
            "Description": self.description,
        }


def _templates() -> dict[str, TemplatedPolicy]:
    out = [
        TemplatedPolicy(
            "builtin/service",
            "00000000-0000-0000-0000-000000000003",
            _NAME_SCHEMA,
            '\nservice "{{.Name}}" {\n\tpolicy = "write"\n}\nservice "{{.Name}}-sidecar-proxy" {'
            '\n\tpolicy = "write"\n}\nservice_prefix "" {\n\tpolicy = "read"\n}\nnode_prefix "" {'
            '\n\tpolicy = "read"\n}',
            "Gives the token or role permissions to register a service and discover services in "
            "the Consul catalog. It also gives the specified service's sidecar proxy the "
            "permission to discover and route traffic to other services.",
        ),
        TemplatedPolicy(
            "builtin/node",
            "00000000-0000-0000-0000-000000000004",
            _NAME_SCHEMA,
            '\nnode "{{.Name}}" {\n\tpolicy = "write"\n}\n'
            'service_prefix "" {\n\tpolicy = "read"\n}',
            "Gives the token or role permissions for a register an agent/node into the catalog. "
            "A node is typically a consul agent but can also be a physical server, cloud "
            "instance or a container.",
        ),
        TemplatedPolicy(
            "builtin/dns",
            "00000000-0000-0000-0000-000000000005",
            "",
            '\nnode_prefix "" {\n\tpolicy = "read"\n}\nservice_prefix "" {\n\tpolicy = "read"\n}'
            '\nquery_prefix "" {\n\tpolicy = "read"\n}',
            "Gives the token or role permissions for the Consul DNS to query services in the "
            "network.",
        ),
        TemplatedPolicy(
            "builtin/nomad-server",
            "00000000-0000-0000-0000-000000000006",
            "",
            '\nacl = "write"\nagent_prefix "" {\n  policy = "read"\n}\nnode_prefix "" {\n  '
            'policy = "read"\n}\nservice_prefix "" {\n  policy = "write"\n}',
            "Gives the token or role permissions required for integration with a nomad server.",
        ),
        TemplatedPolicy(
            "builtin/workload-identity",
            "00000000-0000-0000-0000-000000000007",
            _WORKLOAD_SCHEMA,
            'identity "{{.Name}}" {\n\tpolicy = "write"\n}',
            "Gives the token or role permissions for a specific workload identity.",
        ),
        TemplatedPolicy(
            "builtin/api-gateway",
            "00000000-0000-0000-0000-000000000008",
            _NAME_SCHEMA,
            'mesh = "read"\nnode_prefix "" {\n\tpolicy = "read"\n}\nservice_prefix "" {\n\t'
            'policy = "read"\n}\nservice "{{.Name}}" {\n\tpolicy = "write"\n}',
            "Gives the token or role permissions for a Consul api gateway",
        ),
        TemplatedPolicy(
            "builtin/nomad-client",
            "00000000-0000-0000-0000-000000000009",
            "",
            'agent "{{.Name}}" {\n  policy = "read"\n}\nnode "{{.Name}}" {\n  policy = "write"\n}'
            '\nservice_prefix "" {\n  policy = "write"\n}\n',
            "Gives the token or role permissions required for integration with a nomad client.",
        ),
    ]
    return {template.name: template for template in out}


TEMPLATED_POLICIES: dict[str, TemplatedPolicy] = _templates()

_IDENTITY_NAME = re.compile(r"^[a-z0-9]([a-z0-9\-_]*[a-z0-9])?$")


def valid_identity_name(name: str) -> bool:
    """``acl.IsValidServiceIdentityName`` / ``IsValidNodeIdentityName``."""
    return len(name) <= 256 and bool(_IDENTITY_NAME.match(name))


def render_template(template: TemplatedPolicy, variables: dict[str, Any] | None) -> str:
    """The rules of ``template`` for ``variables`` (``{"name": ...}``), validated as Consul does."""
    name = str((variables or {}).get("name") or "")
    if template.needs_name and not name:
        raise ValueError(f"validation error for templated policy {template.name}: name is required")
    if template.name == "builtin/service" and not valid_identity_name(name):
        raise ValueError(
            f"service identity {name!r} has an invalid name. Only lowercase alphanumeric "
            "characters, '-' and '_' are allowed"
        )
    if template.name == "builtin/node" and not valid_identity_name(name):
        raise ValueError(
            f"node identity {name!r}  has an invalid name. Only lowercase alphanumeric "
            "characters, '-' and '_' are allowed"
        )
    # Go's html/template escapes what it interpolates; identity names never need it.
    return template.template.replace("{{.Name}}", name)


def synthetic_id(rules: str) -> str:
    # FNV-128a of no input is its offset basis; Go's Sum appends it to the rules' bytes.
    return rules.encode().hex() + "6c62272e07bb014262b821756295c58d"


def synthetic_policy(rules: str, description: str, datacenters: list[str]) -> dict[str, Any]:
    """A policy as ``SyntheticPolicy`` builds it (never stored: CreateIndex/ModifyIndex 0)."""
    policy_id = synthetic_id(rules)
    policy: dict[str, Any] = {
        "ID": policy_id,
        "Name": f"synthetic-policy-{policy_id}",
        "Description": description,
        "Rules": rules,
    }
    if datacenters:
        policy["Datacenters"] = list(datacenters)
    policy["Hash"] = content_hash(policy["Name"], description, rules, *datacenters)
    return policy | {"CreateIndex": 0, "ModifyIndex": 0}


def service_identity_rules(service: str) -> str:
    """``aclServiceIdentityRules`` (CE)."""
    return (
        f'\nservice "{service}" {{\n\tpolicy = "write"\n}}\n'
        f'service "{service}-sidecar-proxy" {{\n\tpolicy = "write"\n}}\n'
        'service_prefix "" {\n\tpolicy = "read"\n}\nnode_prefix "" {\n\tpolicy = "read"\n}'
    )


def node_identity_rules(node: str) -> str:
    """``aclNodeIdentityRules`` (CE)."""
    return (
        f'\nnode "{node}" {{\n\tpolicy = "write"\n}}\nservice_prefix "" {{\n\tpolicy = "read"\n}}'
    )


def content_hash(*parts: str) -> str:
    """A ``Hash`` field: BLAKE2b-256 of the content, base64 as Go marshals ``[]byte``."""
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        digest.update(part.encode())
    return base64.b64encode(digest.digest()).decode()
