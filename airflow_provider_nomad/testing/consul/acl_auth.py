"""ACL auth methods and binding rules of the emulated cluster (CRUD only).

Shapes from Consul's ``structs.ACLAuthMethod`` / ``ACLBindingRule``; checks and texts from
``ACL.AuthMethodSet`` / ``ACL.BindingRuleSet``. Logging in through a method would need the
method's identity provider (Kubernetes, an OIDC issuer...), which the emulator does not have:
``/v1/acl/login`` refuses it saying so.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_nomad.testing.consul.acl_values import (
    fail,
    go_duration,
    index_key,
    is_uuid,
    parse_ttl,
)
from airflow_provider_nomad.testing.consul.acl_values import (
    field as get,
)

if TYPE_CHECKING:
    from airflow_provider_nomad.testing.consul.acl_store import AclStore

METHOD_TYPES = ("aws-iam", "jwt", "kubernetes", "oidc")
BIND_TYPES = ("service", "node", "role", "templated-policy", "policy")
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass
class AuthMethod:
    name: str
    type: str
    display_name: str
    description: str
    max_token_ttl: float
    token_locality: str
    config: dict[str, Any]
    create_index: int
    modify_index: int

    def to_api(self, stub: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": self.name, "Type": self.type}
        for key, value in (
            ("DisplayName", self.display_name),
            ("Description", self.description),
            ("MaxTokenTTL", go_duration(self.max_token_ttl) if self.max_token_ttl else ""),
            ("TokenLocality", self.token_locality),
        ):
            if value:
                out[key] = value
        if self.config and not stub:
            out["Config"] = dict(self.config)
        return out | {"CreateIndex": self.create_index, "ModifyIndex": self.modify_index}


@dataclass
class BindingRule:
    id: str
    description: str
    auth_method: str
    selector: str
    bind_type: str
    bind_name: str
    bind_vars: dict[str, Any] | None
    create_index: int
    modify_index: int

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ID": self.id,
            "Description": self.description,
            "AuthMethod": self.auth_method,
            "Selector": self.selector,
            "BindType": self.bind_type,
            "BindName": self.bind_name,
        }
        if self.bind_vars:
            out["BindVars"] = dict(self.bind_vars)
        return out | {"CreateIndex": self.create_index, "ModifyIndex": self.modify_index}


class AuthMethodStore:
    def __init__(self, store: AclStore) -> None:
        self.store = store
        self.methods: dict[str, AuthMethod] = {}
        self.rules: dict[str, BindingRule] = {}

    def reset(self) -> None:
        self.methods, self.rules = {}, {}

    # -- auth methods ---------------------------------------------------------------------------
    def set_method(self, body: dict[str, Any], name_in_url: str) -> AuthMethod:
        name = str(get(body, "Name") or name_in_url or "")
        if name_in_url and get(body, "Name") and get(body, "Name") != name_in_url:
            raise fail("AuthMethod Name in URL and payload do not match", 400)
        if not name:
            raise fail("Invalid Auth Method: no Name is set")
        if not (len(name) <= 128 and set(name) <= _NAME_CHARS):
            raise fail(
                "Invalid Auth Method: invalid Name. Only alphanumeric characters, '-' and '_' "
                "are allowed"
            )
        method_type = str(get(body, "Type") or "")
        existing = self.methods.get(name)
        if existing is not None and method_type != existing.type:
            raise fail(
                f"the Type field is immutable: {existing.type!r} != {method_type!r}".replace(
                    "'", '"'
                )
            )
        if method_type not in METHOD_TYPES:
            raise fail(
                f"Invalid Auth Method: Type should be one of: {', '.join(METHOD_TYPES)}"
                if method_type
                else "Invalid Auth Method: Type is required"
            )
        locality = str(get(body, "TokenLocality") or "")
        if locality not in ("", "local", "global"):
            raise fail("Invalid Auth Method: TokenLocality should be one of 'local' or 'global'")
        ttl_raw = get(body, "MaxTokenTTL")
        ttl = parse_ttl(ttl_raw, "AuthMethod") if ttl_raw not in (None, "", 0) else 0.0
        if ttl and not 60 <= ttl <= 24 * 3600:
            raise fail(
                f"MaxTokenTTL {go_duration(ttl)} cannot be "
                + ("more than 24h0m0s" if ttl > 60 else "less than 1m0s")
            )
        config = get(body, "Config") or {}
        if not isinstance(config, dict):
            raise fail("AuthMethod decoding failed: Config must be an object", 400)
        index = self.store.next_index()
        method = AuthMethod(
            name,
            method_type,
            str(get(body, "DisplayName") or ""),
            str(get(body, "Description") or ""),
            ttl,
            locality,
            dict(config),
            existing.create_index if existing else index,
            index,
        )
        self.methods[name] = method
        return method

    def delete_method(self, name: str) -> None:
        """The method, its binding rules and the tokens it minted go together."""
        if self.methods.pop(name, None) is None:
            return
        self.rules = {k: r for k, r in self.rules.items() if r.auth_method != name}
        tokens = self.store.tokens
        for key in [k for k, t in tokens.items() if t.auth_method == name]:
            del tokens[key]
        self.store.next_index()

    # -- binding rules --------------------------------------------------------------------------
    def rule(self, rule_id: str) -> BindingRule | None:
        return self.rules.get(index_key("binding rule", rule_id))

    def set_rule(self, body: dict[str, Any], rule_id: str) -> BindingRule:
        existing = None
        if rule_id:
            if not is_uuid(rule_id):
                raise fail("Binding Rule ID invalid UUID")
            existing = self.rules.get(rule_id.lower())
            if existing is None:
                raise fail(f"cannot find binding rule {rule_id}")
        method = str(get(body, "AuthMethod") or "")
        if not method:
            raise fail("Invalid Binding Rule: no AuthMethod is set")
        if existing is not None and method != existing.auth_method:
            raise fail("Invalid Binding Rule: the AuthMethod field is immutable")
        if method not in self.methods:
            raise fail(f'Invalid Binding Rule: unknown AuthMethod "{method}"')
        bind_type = str(get(body, "BindType") or "")
        if bind_type not in BIND_TYPES:
            raise fail(
                f'Invalid Binding Rule: unknown BindType "{bind_type}"'
                if bind_type
                else "Invalid Binding Rule: no BindType is set"
            )
        bind_name = str(get(body, "BindName") or "")
        if not bind_name:
            raise fail("Invalid Binding Rule: no BindName is set")
        bind_vars = get(body, "BindVars")
        index = self.store.next_index()
        rule = BindingRule(
            existing.id if existing else str(uuid.uuid4()),
            str(get(body, "Description") or ""),
            method,
            str(get(body, "Selector") or ""),
            bind_type,
            bind_name,
            {"name": str(get(bind_vars, "name"))}
            if isinstance(bind_vars, dict) and get(bind_vars, "name")
            else None,
            existing.create_index if existing else index,
            index,
        )
        self.rules[rule.id.lower()] = rule
        return rule

    def delete_rule(self, rule_id: str) -> None:
        if self.rules.pop(index_key("binding rule", rule_id), None) is not None:
            self.store.next_index()
