"""The ACL state of the emulated cluster: tokens and their resolution to an authorizer.

Shapes and error texts follow Consul's ``agent/structs/acl.go`` and
``agent/consul/acl_endpoint.go`` / ``auth/token_writer.go``. Writes take Raft indices from the
backend (its lock held by the caller). Policies and roles: :mod:`.acl_policies`; auth methods
and binding rules: :mod:`.acl_auth`.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_nomad.testing.consul import errors
from airflow_provider_nomad.testing.consul.acl import ALLOW_ALL, Authorizer, Identity
from airflow_provider_nomad.testing.consul.acl_auth import AuthMethodStore
from airflow_provider_nomad.testing.consul.acl_links import Grants, parse_grants
from airflow_provider_nomad.testing.consul.acl_policies import PoliciesAndRoles, Policy, Role
from airflow_provider_nomad.testing.consul.acl_rules import Rules, RulesError, parse_rules
from airflow_provider_nomad.testing.consul.acl_templates import (
    BUILTIN_POLICIES,
    GLOBAL_MANAGEMENT_ID,
    RESERVED_PREFIX,
    content_hash,
)
from airflow_provider_nomad.testing.consul.acl_values import (
    acl_not_found,
    fail,
    go_duration,
    go_time,
    index_key,
    is_uuid,
    parse_time,
    parse_ttl,
)
from airflow_provider_nomad.testing.consul.acl_values import (
    field as get,
)

ANONYMOUS_ID = errors.ANONYMOUS_TOKEN_ACCESSOR_ID
MIN_TTL, MAX_TTL = 60.0, 24 * 3600.0  # acl_token_min/max_expiration_ttl defaults


@dataclass
class Token:
    accessor_id: str
    secret_id: str = field(repr=False)
    description: str
    grants: Grants
    create_time: datetime
    create_index: int
    modify_index: int
    local: bool = False
    auth_method: str = ""
    expiration_time: datetime | None = None
    management: bool = False  # the initial management token: allowed everything
    inline_rules: Rules | None = None  # tokens minted by the emulator's control API


class AclStore(PoliciesAndRoles):
    """Policies, roles and tokens of the emulated cluster.

    :param management_token: secret of the initial management token; ``None`` turns ACLs off.
    :param next_index: hands out the next Raft index (the backend's, its lock held).
    :param datacenter: the agent's datacenter (identities and policies may be scoped to one).
    :param clock: the current time (tokens expire against it).
    """

    def __init__(
        self,
        management_token: str | None,
        next_index: Callable[[], int] | None = None,
        datacenter: str = "dc1",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.management_token = management_token
        self.datacenter = datacenter
        self._counter = 0
        self._next_index = next_index or self._own_index
        self.now = clock or (lambda: datetime.now(timezone.utc))
        self.policies: dict[str, Policy] = {}
        self.roles: dict[str, Role] = {}
        self.tokens: dict[str, Token] = {}  # by lower-case accessor
        self.methods = AuthMethodStore(self)
        self.bootstrap_index = 0
        self.table_index = 0  # what ACL reads report in X-Consul-Index and block on
        self.reset()

    def _own_index(self) -> int:
        self._counter += 1
        return self._counter

    def next_index(self) -> int:
        """Take the next Raft index for an ACL write; it becomes the ACL tables' index."""
        self.table_index = self._next_index()
        return self.table_index

    @property
    def enabled(self) -> bool:
        return self.management_token is not None

    def is_management_secret(self, secret: str) -> bool:
        """Whether ``secret`` is the management token's (constant time); False without ACLs."""
        if self.management_token is None:
            return False
        return hmac.compare_digest(secret.encode(), self.management_token.encode())

    def reset(self) -> None:
        """Back to a fresh cluster: built-in policies, the anonymous and management tokens."""
        self.policies, self.roles, self.tokens = {}, {}, {}
        self.methods.reset()
        if self.management_token is None:
            return
        index = self.next_index()
        for policy_id, (name, description, rules) in BUILTIN_POLICIES.items():
            self.policies[policy_id] = Policy(
                policy_id, name, description, rules, [], index, index, parse_rules(rules)
            )
        self.bootstrap_index = index
        self._add(ANONYMOUS_ID, "anonymous", "Anonymous Token", Grants(), index)
        self._add(
            str(uuid.uuid4()),
            self.management_token,
            "Initial Management Token",
            Grants(policy_ids=[GLOBAL_MANAGEMENT_ID]),
            index,
            management=True,
        )

    def _add(
        self, accessor: str, secret: str, description: str, grants: Grants, index: int, **extra: Any
    ) -> Token:
        token = Token(accessor, secret, description, grants, self.now(), index, index, **extra)
        self.tokens[accessor.lower()] = token
        return token

    # -- resolution -----------------------------------------------------------------------------
    def by_secret(self, secret: str) -> Token | None:
        now = self.now()
        # A snapshot: a test thread may mint a token while the loop resolves one.
        for token in list(self.tokens.values()):
            same = hmac.compare_digest(token.secret_id.encode(), secret.encode())
            if same and (token.expiration_time is None or token.expiration_time > now):
                return token
        return None

    def resolve(self, secret_id: str) -> Authorizer:
        """The authorizer for a request's token; 403 ``ACL not found`` for an unknown one.

        An empty secret is the anonymous token (no rules unless policies were linked to it).
        """
        if not self.enabled:
            return ALLOW_ALL
        token = self.by_secret(secret_id or "anonymous")
        if token is None:
            raise acl_not_found()
        return Authorizer(Identity(token.accessor_id, token.management), self.rules_of(token))

    def rules_of(self, token: Token) -> Rules:
        rules = token.inline_rules or Rules()
        grants = [token.grants] + [
            self.roles[r].grants for r in token.grants.role_ids if r in self.roles
        ]
        for grant in grants:
            for policy_id in grant.policy_ids:
                policy = self.policies.get(policy_id)
                if policy and (not policy.datacenters or self.datacenter in policy.datacenters):
                    rules = rules.merge(policy.parsed)
            rules = rules.merge(grant.rules(self.datacenter))
        return rules

    def create_rules_token(self, rules: Any, description: str = "") -> Token:
        """A token carrying ``rules`` directly (the control API's tokens); ``ValueError`` for
        rules Consul would refuse."""
        try:
            parsed = parse_rules(rules, shorthand=True)
        except RulesError as exc:
            raise ValueError(str(exc)) from exc
        return self._add(
            str(uuid.uuid4()),
            str(uuid.uuid4()),
            description,
            Grants(),
            self.next_index(),
            inline_rules=parsed,
        )

    # -- tokens ---------------------------------------------------------------------------------
    def token_api(self, token: Token, redact: bool = False) -> dict[str, Any]:
        """The token as Consul shows it; ``redact`` hides the secret (no ``acl:write``)."""
        out: dict[str, Any] = {
            "AccessorID": token.accessor_id,
            "SecretID": "<hidden>" if redact else token.secret_id,
            "Description": token.description,
        }
        out |= token.grants.to_api(self.policies, self.roles)
        out["Local"] = token.local
        if token.auth_method:
            out["AuthMethod"] = token.auth_method
        if token.expiration_time is not None:
            out["ExpirationTime"] = go_time(token.expiration_time)
        out["CreateTime"] = go_time(token.create_time)
        out["Hash"] = content_hash(
            token.description, "local" if token.local else "global", *token.grants.hash_parts()
        )
        return out | {"CreateIndex": token.create_index, "ModifyIndex": token.modify_index}

    def live_token(self, accessor: str) -> Token | None:
        token = self.tokens.get(index_key("token", accessor))
        if token and token.expiration_time is not None and token.expiration_time <= self.now():
            return None
        return token

    def list_tokens(
        self, policy: str = "", role: str = "", method: str = "", service: str = ""
    ) -> list[Token]:
        policy_key = index_key("token", policy) if policy else ""
        role_key = index_key("token", role) if role else ""
        out = []
        for key in sorted(self.tokens):
            token = self.live_token(key)
            if token is None:
                continue
            if policy_key and policy_key not in token.grants.policy_ids:
                continue
            if role_key and role_key not in token.grants.role_ids:
                continue
            if method and token.auth_method != method:
                continue
            names = {s["ServiceName"] for s in token.grants.service_identities}
            if service and service not in names:
                continue
            out.append(token)
        return out

    def set_token(
        self, body: dict[str, Any], accessor: str | None, create: bool, auth_method: str = ""
    ) -> Token:
        """``ACL.TokenSet``: create (``create``) or update the token ``accessor``."""
        if create or not accessor:
            return self._create_token(body, auth_method)
        return self._update_token(body, accessor)

    def _grants(self, body: dict[str, Any], local: bool) -> Grants:
        return parse_grants(body, "token", self.policies, self.roles, local)

    def _create_token(self, body: dict[str, Any], auth_method: str = "") -> Token:
        accessor = str(get(body, "AccessorID") or "")
        secret = str(get(body, "SecretID") or "")
        for what, value in (("AccessorID", accessor), ("SecretID", secret)):
            if not value:
                continue
            if not is_uuid(value):
                raise fail(f"Invalid Token: {what} is not a valid UUID")
            if value.lower() in self.tokens or self.by_secret(value) is not None:
                raise fail(f"Invalid Token: {what} is already in use")
            if value.startswith(RESERVED_PREFIX):
                raise fail(f'Invalid Token: UUIDs with the prefix "{RESERVED_PREFIX}" are reserved')
        if get(body, "AuthMethod") and not auth_method:
            raise fail("AuthMethod field is disallowed outside of Login")
        local = bool(get(body, "Local"))
        grants = self._grants(body, local)
        now = self.now()
        expiration = self._expiration(body, now)
        token = self._add(
            accessor or str(uuid.uuid4()),
            secret or str(uuid.uuid4()),
            str(get(body, "Description") or ""),
            grants,
            self.next_index(),
            local=local,
            auth_method=auth_method,
            expiration_time=expiration,
        )
        token.create_time = now
        return token

    def _expiration(self, body: dict[str, Any], now: datetime) -> datetime | None:
        ttl_raw, time_raw = get(body, "ExpirationTTL"), get(body, "ExpirationTime")
        ttl = parse_ttl(ttl_raw, "Token") if ttl_raw not in (None, "", 0) else 0.0
        expiration = parse_time(time_raw, "Token") if time_raw else None
        if ttl:
            if ttl < 0:
                raise fail(f"Token Expiration TTL '{go_duration(ttl)}' should be > 0")
            if expiration is not None:
                raise fail("Token Expiration TTL and Expiration Time cannot both be set")
            expiration = now + timedelta(seconds=ttl)
        if expiration is None:
            return None
        if now > expiration:
            raise fail("ExpirationTime cannot be before CreateTime")
        expires_in = (expiration - now).total_seconds()
        if expires_in > MAX_TTL:
            raise fail(
                f"ExpirationTime cannot be more than {go_duration(MAX_TTL)} in the future "
                f"(was {go_duration(expires_in)})"
            )
        if expires_in < MIN_TTL:
            raise fail(
                f"ExpirationTime cannot be less than {go_duration(MIN_TTL)} in the future "
                f"(was {go_duration(expires_in)})"
            )
        return expiration

    def _update_token(self, body: dict[str, Any], accessor: str) -> Token:
        if not is_uuid(accessor):
            raise fail("AccessorID is not a valid UUID")
        token = self.live_token(accessor)
        if token is None:
            raise fail(f"Cannot find token {accessor!r}".replace("'", '"'))
        secret = str(get(body, "SecretID") or "")
        if secret and secret != token.secret_id:
            raise fail("Changing a token's SecretID is not permitted")
        local = get(body, "Local")
        if local is not None and bool(local) != token.local:
            raise fail(f"Cannot toggle local mode of {token.accessor_id}")
        if get(body, "AuthMethod") not in (None, "", token.auth_method):
            raise fail(f"Cannot change AuthMethod of {token.accessor_id}")
        if get(body, "ExpirationTTL"):
            raise fail("Expiration TTL cannot be changed")
        expiration = get(body, "ExpirationTime")
        if expiration and (
            token.expiration_time is None
            or parse_time(expiration, "Token") != token.expiration_time
        ):
            raise fail(f"Cannot change expiration time of {token.accessor_id}")
        token.grants = self._grants(body, token.local)
        token.description = str(get(body, "Description") or "")
        token.modify_index = self.next_index()
        return token

    def clone_token(self, accessor: str, description: str) -> Token:
        token = self.tokens.get(index_key("token", accessor))
        if token is None or (token.expiration_time and token.expiration_time <= self.now()):
            raise acl_not_found()
        if token.auth_method:
            raise fail("Cannot clone a token created from an auth method")
        clone = self._add(
            str(uuid.uuid4()),
            str(uuid.uuid4()),
            description or token.description,
            Grants(**{k: list(v) for k, v in vars(token.grants).items()}),
            self.next_index(),
            local=token.local,
            expiration_time=token.expiration_time,
            inline_rules=token.inline_rules,
        )
        return clone

    def delete_token(self, accessor: str, requester_secret: str) -> None:
        if not is_uuid(accessor):
            raise fail("Accessor ID is missing or an invalid UUID")
        if accessor.lower() == ANONYMOUS_ID:
            raise fail("Delete operation not permitted on the anonymous token")
        token = self.tokens.get(accessor.lower())
        if token is None:
            return  # nothing to do, as in the primary datacenter
        if requester_secret and hmac.compare_digest(
            token.secret_id.encode(), requester_secret.encode()
        ):
            raise fail("Deletion of the request's authorization token is not permitted")
        del self.tokens[accessor.lower()]
        self.next_index()

    def logout(self, secret: str) -> bool:
        """``ACL.Logout``: only a token an auth method minted may be destroyed this way."""
        token = self.by_secret(secret)
        if token is None:
            raise acl_not_found()
        if not token.auth_method:
            raise errors.ConsulHTTPError(403, errors.PERMISSION_DENIED)
        del self.tokens[token.accessor_id.lower()]
        self.next_index()
        return True
