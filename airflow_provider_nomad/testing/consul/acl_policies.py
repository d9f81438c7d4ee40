"""Policies and roles of the emulated cluster (``ACL.PolicySet`` / ``ACL.RoleSet`` checks and
texts from Consul's ``agent/consul/acl_endpoint.go``), mixed into :class:`.acl_store.AclStore`."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_nomad.testing.consul.acl_links import Grants, parse_grants
from airflow_provider_nomad.testing.consul.acl_rules import Rules, RulesError, parse_rules
from airflow_provider_nomad.testing.consul.acl_templates import GLOBAL_MANAGEMENT_ID, content_hash
from airflow_provider_nomad.testing.consul.acl_values import fail, index_key, is_uuid
from airflow_provider_nomad.testing.consul.acl_values import field as get

_NAME_RULE = "Only alphanumeric characters, '-' and '_' are allowed"
_BUILTIN = "the builtin global-management policy"
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _valid_name(name: str, longest: int) -> bool:
    return 0 < len(name) <= longest and set(name) <= _NAME_CHARS


@dataclass
class Policy:
    id: str
    name: str
    description: str
    rules: str
    datacenters: list[str]
    create_index: int
    modify_index: int
    parsed: Rules = field(default_factory=Rules)

    def to_api(self, stub: bool = False) -> dict[str, Any]:
        """The policy; ``stub``: as listed (``ACLPolicyListStub``: no Rules, and Datacenters
        without ``omitempty``, so ``null`` when empty)."""
        out: dict[str, Any] = {"ID": self.id, "Name": self.name, "Description": self.description}
        if stub:
            out["Datacenters"] = list(self.datacenters) or None
        else:
            out["Rules"] = self.rules
            if self.datacenters:
                out["Datacenters"] = list(self.datacenters)
        out["Hash"] = content_hash(self.name, self.description, self.rules, *self.datacenters)
        return out | {"CreateIndex": self.create_index, "ModifyIndex": self.modify_index}


@dataclass
class Role:
    id: str
    name: str
    description: str
    grants: Grants
    create_index: int
    modify_index: int


class PoliciesAndRoles:
    """Policy and role operations of the ACL store (which owns both dicts and the index)."""

    policies: dict[str, Policy]
    roles: dict[str, Role]
    next_index: Callable[[], int]

    # -- policies -------------------------------------------------------------------------------
    def policy_by(self, policy_id: str = "", name: str = "") -> Policy | None:
        if policy_id:
            return self.policies.get(index_key("policy", policy_id))
        return next((p for p in self.policies.values() if p.name == name), None)

    def set_policy(self, body: dict[str, Any], policy_id: str) -> Policy:
        name = str(get(body, "Name") or "")
        rules = str(get(body, "Rules") or "")
        dcs = [str(dc) for dc in get(body, "Datacenters") or []]
        if not name:
            raise fail("Invalid Policy: no Name is set")
        if not _valid_name(name, 128):
            raise fail(f"Invalid Policy: invalid Name. {_NAME_RULE}")
        by_name = self.policy_by(name=name)
        existing = None
        if policy_id:
            if not is_uuid(policy_id):
                raise fail("Policy ID invalid UUID")
            existing = self.policies.get(policy_id.lower())
            if existing is None:
                raise fail(f"cannot find policy {policy_id}")
            if existing.name != name and by_name is not None:
                raise fail(f'Invalid Policy: A policy with name "{name}" already exists')
            if existing.id == GLOBAL_MANAGEMENT_ID:
                if dcs:
                    raise fail(f"Changing the Datacenters of {_BUILTIN} is not permitted")
                if rules != existing.rules:
                    raise fail(f"Changing the Rules for {_BUILTIN} is not permitted")
        elif by_name is not None:
            raise fail(f'Invalid Policy: A Policy with Name "{name}" already exists')
        try:
            parsed = parse_rules(rules)
        except RulesError as exc:
            raise fail(str(exc)) from exc
        index = self.next_index()
        policy = Policy(
            existing.id if existing else str(uuid.uuid4()),
            name,
            str(get(body, "Description") or ""),
            rules,
            dcs,
            existing.create_index if existing else index,
            index,
            parsed,
        )
        self.policies[policy.id.lower()] = policy
        return policy

    def delete_policy(self, policy_id: str) -> None:
        policy = self.policies.get(index_key("policy", policy_id))
        if policy is None:
            return
        if policy.id == GLOBAL_MANAGEMENT_ID:
            raise fail("Delete operation not permitted on the builtin global-management policy")
        del self.policies[policy.id.lower()]
        self.next_index()

    # -- roles ----------------------------------------------------------------------------------
    def role_by(self, role_id: str = "", name: str = "") -> Role | None:
        if role_id:
            return self.roles.get(index_key("role", role_id))
        return next((r for r in self.roles.values() if r.name == name), None)

    def role_api(self, role: Role) -> dict[str, Any]:
        out: dict[str, Any] = {"ID": role.id, "Name": role.name, "Description": role.description}
        out |= role.grants.to_api(self.policies, {})
        out["Hash"] = content_hash(role.name, role.description, *role.grants.hash_parts())
        return out | {"CreateIndex": role.create_index, "ModifyIndex": role.modify_index}

    def set_role(self, body: dict[str, Any], role_id: str) -> Role:
        name = str(get(body, "Name") or "")
        if not name:
            raise fail("Invalid Role: no Name is set")
        if not _valid_name(name, 256):
            raise fail(
                "Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed"
            )
        by_name = self.role_by(name=name)
        existing = None
        if role_id:
            if not is_uuid(role_id):
                raise fail("Role ID invalid UUID")
            existing = self.roles.get(role_id.lower())
            if existing is None:
                raise fail(f"cannot find role {role_id}")
            if existing.name != name and by_name is not None:
                raise fail(f'Invalid Role: A role with name "{name}" already exists')
        elif by_name is not None:
            raise fail(f'Invalid Role: A Role with Name "{name}" already exists')
        grants = parse_grants(body, "role", self.policies, None)
        index = self.next_index()
        role = Role(
            existing.id if existing else str(uuid.uuid4()),
            name,
            str(get(body, "Description") or ""),
            grants,
            existing.create_index if existing else index,
            index,
        )
        self.roles[role.id.lower()] = role
        return role

    def delete_role(self, role_id: str) -> None:
        role = self.roles.get(index_key("role", role_id))
        if role is not None:
            del self.roles[role.id.lower()]
            self.next_index()
