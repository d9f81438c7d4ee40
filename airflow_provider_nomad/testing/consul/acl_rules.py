"""Consul's ACL rules language: parse HCL or JSON rules, merge several policies, look up access.

Rules as Consul CE accepts them (``acl/policy.go``)::

    key_prefix "app/" { policy = "read" }
    service "web" { policy = "write" intentions = "read" }
    operator = "read"

or the same as JSON (``{"key_prefix": {"app/": {"policy": "read"}}, "operator": "read"}``).
The emulator's control API also takes the shorthand ``{"key_prefix": {"app/": "read"}}``.
Anything else (Enterprise ``namespace``/``partition`` blocks, unknown resources, bad access
levels) is refused with an error naming it, never silently ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

READ = "read"
WRITE = "write"
DENY = "deny"
LIST = "list"

#: Resources named by a segment, each with its ``_prefix`` form.
SEGMENTED = ("agent", "event", "identity", "key", "node", "query", "service", "session")
#: Resources that take a single access level (``operator = "read"``).
SCALAR = ("acl", "keyring", "mesh", "operator", "peering")
_ENTERPRISE = ("namespace", "namespace_prefix", "partition", "partition_prefix", "sameness_group")
#: Precedence when two policies disagree (``acl/policy_merger.go``): deny, write, list, read.
_PRECEDENCE = {DENY: 3, WRITE: 2, LIST: 1, READ: 0}


class RulesError(ValueError):
    """Rules Consul would refuse; the message names the offending part."""


@dataclass
class Rules:
    """Parsed rules: ``segments[kind][name] -> access`` (``kind`` may end in ``_prefix``) and
    ``scalars[kind] -> access``. ``intentions`` grants are checked, not kept: no endpoint the
    emulator serves asks for them."""

    segments: dict[str, dict[str, str]] = field(default_factory=dict)
    scalars: dict[str, str] = field(default_factory=dict)

    def merge(self, other: Rules) -> Rules:
        """Both rule sets at once; where they overlap the stronger grant (deny first) wins."""
        out = Rules({k: dict(v) for k, v in self.segments.items()}, dict(self.scalars))
        for kind, entries in other.segments.items():
            target = out.segments.setdefault(kind, {})
            for name, access in entries.items():
                target[name] = _stronger(target.get(name), access)
        for kind, access in other.scalars.items():
            out.scalars[kind] = _stronger(out.scalars.get(kind), access)
        return out

    def access(self, resource: str, name: str) -> str:
        """The access ``resource`` ``name`` gets: exact rule, else the longest prefix, else deny."""
        if resource in SCALAR:
            return self.scalars.get(resource, DENY)
        exact = self.segments.get(resource, {})
        if name in exact:
            return exact[name]
        best: tuple[int, str] | None = None
        for prefix, access in self.segments.get(f"{resource}_prefix", {}).items():
            if name.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), access)
        return best[1] if best else DENY


def _stronger(current: str | None, new: str) -> str:
    if current is None or _PRECEDENCE[new] > _PRECEDENCE[current]:
        return new
    return current


def _allowed_levels(kind: str) -> tuple[str, ...]:
    base = kind.removesuffix("_prefix")
    return (READ, WRITE, DENY, LIST) if base == "key" else (READ, WRITE, DENY)


def _level(kind: str, where: str, value: Any) -> str:
    levels = _allowed_levels(kind)
    if value not in levels:
        raise RulesError(
            f"Invalid {kind} policy {where}: {json.dumps(value)}; use one of {', '.join(levels)}"
        )
    return value


def parse_rules(source: str | dict[str, Any], shorthand: bool = False) -> Rules:
    """Parse rules given as HCL or JSON text, or as an already decoded JSON object.

    :param shorthand: also take ``{"key_prefix": {"app/": "read"}}`` (the control API's form,
        which Consul itself refuses).
    """
    if isinstance(source, dict):
        return _from_object(source, shorthand)
    text = source.strip()
    if not text:
        return Rules()
    if text.startswith("{"):
        try:
            decoded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RulesError(f"Failed to parse ACL rules: invalid JSON: {exc.msg}") from exc
        return _from_object(decoded)
    return _from_object(_HclParser(text).document())


def _from_object(doc: Any, shorthand: bool = False) -> Rules:
    if not isinstance(doc, dict):
        raise RulesError("Failed to parse ACL rules: the rules must be an object")
    rules = Rules()
    for kind, value in doc.items():
        if kind in _ENTERPRISE:
            raise RulesError(
                f"{kind!r} rules are Consul Enterprise's; the emulator serves Consul CE, "
                "which refuses them: drop the block"
            )
        if kind in SCALAR:
            rules.scalars[kind] = _level(kind, "", value)
            continue
        if kind.removesuffix("_prefix") not in SEGMENTED:
            known = sorted([*SCALAR, *SEGMENTED, *(f"{s}_prefix" for s in SEGMENTED)])
            raise RulesError(f"unsupported ACL rule {kind!r}: use one of {', '.join(known)}")
        for block in value if isinstance(value, list) else [value]:
            if not isinstance(block, dict):
                raise RulesError(f"Failed to parse ACL rules: {kind} needs a name and a block")
            for name, body in block.items():
                where = json.dumps(str(name))
                rules.segments.setdefault(kind, {})[str(name)] = _segment_policy(
                    kind, where, body, shorthand
                )
    return rules


def _segment_policy(kind: str, where: str, body: Any, shorthand: bool) -> str:
    if not isinstance(body, dict):
        if shorthand:
            return _level(kind, where, body)
        raise RulesError(
            f"Failed to parse ACL rules: {kind} {where} needs a block, "
            f'e.g. {kind} {where} {{ policy = "read" }}'
        )
    attributes = (
        {"policy", "intentions"} if kind.startswith(("service", "identity")) else {"policy"}
    )
    unknown = set(body) - attributes
    if unknown:
        raise RulesError(
            f"unsupported attribute(s) {', '.join(sorted(unknown))} in {kind} {where}: "
            f"{kind} takes {' and '.join(sorted(attributes))}"
        )
    if "intentions" in body and body["intentions"] not in (READ, WRITE, DENY):
        raise RulesError(
            f"Invalid {kind} intentions {where}: {json.dumps(body['intentions'])}; "
            "use one of read, write, deny"
        )
    return _level(kind, where, body.get("policy"))


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+|\#[^\n]*|//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<ident>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<punct>[={},\[\]])
    """,
    re.VERBOSE | re.DOTALL,
)


class _HclParser:
    """The HCL subset policies are written in: ``name "label" { attr = "value" }`` blocks and
    ``attr = "value"`` attributes, with comments."""

    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, str, int]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:
                line = text.count("\n", 0, position) + 1
                raise RulesError(
                    f"Failed to parse ACL rules: unexpected {text[position]!r} on line {line}"
                )
            kind = match.lastgroup or ""
            if kind != "ws":
                self.tokens.append((kind, match.group(), text.count("\n", 0, position) + 1))
            position = match.end()
        self.at = 0

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _take(self, kind: str, value: str | None = None) -> str:
        token = self._peek()
        if token is None or token[0] != kind or (value is not None and token[1] != value):
            found = f"{token[1]!r} on line {token[2]}" if token else "the end of the rules"
            raise RulesError(f"Failed to parse ACL rules: expected {value or kind}, found {found}")
        self.at += 1
        return token[1]

    def document(self) -> dict[str, Any]:
        doc = self._body(top=True)
        return doc

    def _body(self, top: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        while True:
            token = self._peek()
            if token is None:
                if not top:
                    raise RulesError("Failed to parse ACL rules: a block is not closed with '}'")
                return out
            if token[1] == "}" and not top:
                return out
            if token[1] == ",":
                self.at += 1
                continue
            key = self._take("ident") if token[0] == "ident" else json.loads(self._take("string"))
            nxt = self._peek()
            if nxt is not None and nxt[1] == "=":
                self.at += 1
                out[key] = self._value()
            elif nxt is not None and nxt[0] == "string":
                label = json.loads(self._take("string"))
                self._take("punct", "{")
                body = self._body(top=False)
                self._take("punct", "}")
                out.setdefault(key, {})[label] = body
            else:
                found = f"{nxt[1]!r} on line {nxt[2]}" if nxt else "the end of the rules"
                raise RulesError(
                    f"Failed to parse ACL rules: expected '=' or a label after {key!r}, "
                    f"found {found}"
                )

    def _value(self) -> Any:
        token = self._peek()
        if token is None:
            raise RulesError("Failed to parse ACL rules: a value is missing at the end")
        if token[0] == "string":
            self.at += 1
            return json.loads(token[1])
        if token[1] == "{":
            self.at += 1
            body = self._body(top=False)
            self._take("punct", "}")
            return body
        raise RulesError(f"Failed to parse ACL rules: unexpected {token[1]!r} on line {token[2]}")
