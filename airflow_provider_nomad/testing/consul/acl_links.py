"""Validation and rendering of what tokens and roles link to: policies and roles (by ID or
name), service identities, node identities and templated policies (``ACL.TokenSet`` and
``ACL.RoleSet`` in Consul's ``agent/consul/acl_endpoint.go`` and ``auth/token_writer.go``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_nomad.testing.consul.acl_rules import Rules, RulesError, parse_rules
from airflow_provider_nomad.testing.consul.acl_templates import (
    TEMPLATED_POLICIES,
    node_identity_rules,
    render_template,
    service_identity_rules,
    valid_identity_name,
)
from airflow_provider_nomad.testing.consul.acl_values import fail
from airflow_provider_nomad.testing.consul.acl_values import field as get


class Named(Protocol):
    id: str
    name: str


@dataclass
class Grants:
    """What a token or a role grants, as stored (links by ID only, as Consul stores them)."""

    policy_ids: list[str] = field(default_factory=list)
    role_ids: list[str] = field(default_factory=list)
    service_identities: list[dict[str, Any]] = field(default_factory=list)
    node_identities: list[dict[str, Any]] = field(default_factory=list)
    templated: list[dict[str, Any]] = field(default_factory=list)

    def to_api(self, policies: dict[str, Named], roles: dict[str, Named]) -> dict[str, Any]:
        """The link fields, each left out when empty (``json:",omitempty"``); links to deleted
        policies or roles drop out, names are today's (``resolveTokenPolicyLinks``)."""
        out: dict[str, Any] = {}
        policy_links = [
            {"ID": policies[i].id, "Name": policies[i].name}
            for i in self.policy_ids
            if i in policies
        ]
        role_links = [
            {"ID": roles[i].id, "Name": roles[i].name} for i in self.role_ids if i in roles
        ]
        if policy_links:
            out["Policies"] = policy_links
        if role_links:
            out["Roles"] = role_links
        if self.service_identities:
            out["ServiceIdentities"] = [dict(s) for s in self.service_identities]
        if self.node_identities:
            out["NodeIdentities"] = [dict(n) for n in self.node_identities]
        if self.templated:
            out["TemplatedPolicies"] = [dict(t) for t in self.templated]
        return out

    def hash_parts(self) -> list[str]:
        parts = [*self.policy_ids, *self.role_ids]
        for identity in self.service_identities:
            parts += [identity["ServiceName"], *identity.get("Datacenters", [])]
        for identity in self.node_identities:
            parts += [identity["NodeName"], identity["Datacenter"]]
        for templated in self.templated:
            parts += [templated["TemplateName"], str(templated.get("TemplateVariables", ""))]
        return parts

    def rules(self, datacenter: str) -> Rules:
        """The synthetic rules of the identities and templated policies valid in ``datacenter``."""
        rules = Rules()
        for identity in self.service_identities:
            dcs = identity.get("Datacenters") or []
            if not dcs or datacenter in dcs:
                rules = rules.merge(parse_rules(service_identity_rules(identity["ServiceName"])))
        for identity in self.node_identities:
            if identity["Datacenter"] == datacenter:
                rules = rules.merge(parse_rules(node_identity_rules(identity["NodeName"])))
        for templated in self.templated:
            dcs = templated.get("Datacenters") or []
            if not dcs or datacenter in dcs:
                template = TEMPLATED_POLICIES[templated["TemplateName"]]
                text = render_template(template, templated.get("TemplateVariables"))
                rules = rules.merge(parse_rules(text))
        return rules


def parse_grants(
    body: dict[str, Any],
    owner: str,
    policies: dict[str, Named],
    roles: dict[str, Named] | None,
    local: bool = False,
) -> Grants:
    """Validate the link fields of a token (``owner="token"``) or role (``owner="role"``)."""
    grants = Grants()
    grants.policy_ids = _links(get(body, "Policies") or [], policies, "policy")
    if roles is not None:
        grants.role_ids = _links(get(body, "Roles") or [], roles, "role")
    seen: dict[str, dict[str, Any]] = {}
    for raw in get(body, "ServiceIdentities") or []:
        name = str(get(raw, "ServiceName") or "")
        dcs = [str(dc) for dc in get(raw, "Datacenters") or []]
        if not name:
            raise fail(f"Service identity is missing the service name field on this {owner}")
        if not valid_identity_name(name):
            raise fail(
                f"Service identity {_q(name)} has an invalid name. Only lowercase alphanumeric "
                "characters, '-' and '_' are allowed"
            )
        if local and dcs:
            raise fail(
                f"Service identity {_q(name)} cannot specify a list of datacenters on a local token"
            )
        entry = seen.setdefault(name, {"ServiceName": name})
        merged = sorted(set(entry.get("Datacenters", [])) | set(dcs))
        if merged:
            entry["Datacenters"] = merged
    grants.service_identities = list(seen.values())
    nodes: list[dict[str, Any]] = []
    for raw in get(body, "NodeIdentities") or []:
        name, dc = str(get(raw, "NodeName") or ""), str(get(raw, "Datacenter") or "")
        if not name:
            raise fail(f"Node identity is missing the node name field on this {owner}")
        if not dc:
            raise fail(f"Node identity is missing the datacenter field on this {owner}")
        if not valid_identity_name(name):
            raise fail(
                "Node identity has an invalid name. Only lowercase alphanumeric characters, "
                "'-' and '_' are allowed"
            )
        if {"NodeName": name, "Datacenter": dc} not in nodes:
            nodes.append({"NodeName": name, "Datacenter": dc})
    grants.node_identities = nodes
    grants.templated = _templated(get(body, "TemplatedPolicies") or [], local)
    return grants


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _links(raw: list[Any], known: dict[str, Named], kind: str) -> list[str]:
    ids: list[str] = []
    for link in raw:
        link_id = str(get(link, "ID") or "").lower()
        name = str(get(link, "Name") or "")
        if link_id:
            if link_id not in known:
                raise fail(f"No such ACL {kind} with ID {_q(get(link, 'ID'))}")
        else:
            match = next((item for item in known.values() if item.name == name), None)
            if match is None:
                raise fail(f"No such ACL {kind} with name {_q(name)}")
            link_id = match.id.lower()
        if link_id not in ids:
            ids.append(link_id)
    return ids


def _templated(raw: list[Any], local: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in raw:
        name = str(get(entry, "TemplateName") or "")
        template = TEMPLATED_POLICIES.get(name)
        if template is None:
            raise fail(f"templated policy {_q(name)} does not exist")
        variables = get(entry, "TemplateVariables")
        normalized = {"name": str(get(variables, "name"))} if get(variables or {}, "name") else {}
        try:
            render_template(template, normalized)
        except (ValueError, RulesError) as exc:
            raise fail(str(exc)) from exc
        dcs = [str(dc) for dc in get(entry, "Datacenters") or []]
        if local and dcs:
            raise fail(
                f"templated policy {_q(name)} cannot specify a list of datacenters on a local token"
            )
        item: dict[str, Any] = {"TemplateName": name}
        if normalized:
            item["TemplateVariables"] = normalized
        if dcs:
            item["Datacenters"] = dcs
        if item not in out:
            out.append(item)
    return out
