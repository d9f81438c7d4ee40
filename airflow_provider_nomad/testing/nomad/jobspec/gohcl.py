"""gohcl: decoding an HCL body into one of Nomad's api structs (as JSON), field by field.

Follows Nomad's fork of ``gohcl.Decoder`` with the expression decoder jobspec2 registers for
durations: the body is read against the struct's schema (:mod:`.content`), then each argument is
evaluated and converted to its field's Go type (go-cty ``convert`` then ``gocty``), then each
block is decoded into its field (one, a list, or a map keyed by label). Structs with a custom
decoder (jobspec2's task group, task, constraint, affinity) are handed to it. A field of type
``map[string]interface{}`` (a driver's ``config``) is evaluated last, as jobspec2 does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..golang import GoError, parse_duration_ns, quote
from .apistructs import INT_RANGES, STRUCTS, UNSUPPORTED_STRUCTS, GoField, GoStruct, new_struct
from .content import BlockHeader, Schema, View, content, just_attributes, scoped
from .diagnostics import Diag, DiagError
from .evaluate import EvalContext, evaluate
from .syntax import Attribute, Block, Body, Expr
from .types import BOOL, DYNAMIC, NUMBER, STRING, Type, convert
from .values import ConversionError, to_int, type_name

#: a custom body decoder: fills the struct's JSON from the body
BodyDecoder = Callable[["Decoder", View, dict[str, Any]], None]

#: what decoding an argument gives after an error (its diagnostics are recorded)
UNSET = object()


def implied_type(go_type: str) -> Type:
    """gocty.ImpliedType: the cty type a Go field's value is converted to first."""
    base = go_type.removeprefix("*")
    if base == "string":
        return STRING
    if base == "bool":
        return BOOL
    if base in INT_RANGES:
        return NUMBER
    if base.startswith("[]"):
        return Type("list", element=implied_type(base[2:]))
    if base.startswith("map[string]"):
        return Type("map", element=implied_type(base[len("map[string]") :]))
    return DYNAMIC


class Decoder:
    """Decodes bodies into api structs, collecting HCL diagnostics as gohcl does."""

    def __init__(
        self, ctx: EvalContext, block_decoders: dict[str, BodyDecoder] | None = None
    ) -> None:
        self.ctx = ctx
        self.diags: list[Diag] = []
        #: ``map[string]interface{}`` fields (a driver's config): the map to fill and the
        #: arguments to fill it with, evaluated once everything else decoded
        self.deferred: list[tuple[dict[str, Any], dict[str, Attribute]]] = []
        self.block_decoders = dict(block_decoders or {})

    # -- structs ------------------------------------------------------------------------------

    def decode_struct(
        self, body: Body | View, name: str, out: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """gohcl decodeBodyToStruct (or the struct's registered decoder)."""
        out = new_struct(name) if out is None else out
        custom = self.block_decoders.get(name)
        if custom is not None:
            custom(self, body if isinstance(body, View) else View(body), out)
            return out
        self.decode_fields(body, STRUCTS[name], out)
        return out

    def decode_fields(self, body: Body | View, struct: GoStruct, out: dict[str, Any]) -> None:
        found = content(body, schema_of(struct), self.ctx, self.diags)
        for f in struct.fields:
            if f.is_attribute and f.hcl_name in found.attributes:
                value = self.decode_attribute(found.attributes[f.hcl_name], f.go_type)
                if value is not UNSET:
                    out[f.name] = value
        for f in struct.fields:
            if f.is_block:
                self.decode_block_field(f, found.of_type(f.hcl_name or ""), body, out)

    def decode_block_field(
        self, f: GoField, blocks: list[Block], body: Body | View, out: dict[str, Any]
    ) -> None:
        kind = f.go_type
        is_slice, is_map = kind.startswith("[]"), kind.startswith("map[")
        keyed_by_label = is_map and _element_struct(kind) is not None
        if len(blocks) > 1 and not is_slice and not keyed_by_label:
            self.diags.append(
                Diag(
                    f"Duplicate {f.hcl_name} block",
                    f"Only one {f.hcl_name} block is allowed. Another was defined at "
                    f"{blocks[0].def_range}.",
                    blocks[1].def_range,
                )
            )
            return
        if not blocks:
            if not (is_slice or is_map or f.pointer):
                view = body if isinstance(body, View) else View(body)
                self.diags.append(
                    Diag(
                        f"Missing {f.hcl_name} block",
                        f"A {f.hcl_name} block is required.",
                        view.missing_item_range,
                    )
                )
            return
        if is_slice:
            out[f.name] = [self.decode_block(block, f.base) for block in blocks]
        elif keyed_by_label:
            decoded = {}
            for block in blocks:
                decoded[block.labels[0]] = self.decode_block(block, f.base)
            out[f.name] = decoded
        elif is_map:
            out[f.name] = self.decode_map(blocks[0].body, kind)
        else:
            out[f.name] = self.decode_block(blocks[0], f.base)

    def decode_block(self, block: Block, name: str) -> dict[str, Any] | None:
        """gohcl decodeBlockToValue: the body, then the labels into the label fields."""
        if name in UNSUPPORTED_STRUCTS:
            self.diags.append(
                Diag(
                    "Unsupported block type",
                    f"Blocks of type {quote(block.type)} ({UNSUPPORTED_STRUCTS[name]}) are "
                    "valid in "
                    "a Nomad jobspec, but this jobspec parser does not support them.",
                    block.type_range,
                )
            )
            return None
        out = self.decode_struct(block.body, name)
        for label_field, label in zip(STRUCTS[name].labels, block.labels, strict=False):
            out[label_field.name] = label
        return out

    # -- maps -----------------------------------------------------------------------------------

    def decode_map(self, body: Body | View, go_type: str) -> dict[str, Any] | None:
        """gohcl decodeBodyToMap: a block read as arguments (``meta``, ``env``, ``config``)."""
        attrs = just_attributes(body)
        element = go_type.removeprefix("map[string]")
        if element == "any":
            # Kept as expressions and evaluated after the rest of the job (decodeMapInterfaceType).
            target: dict[str, Any] = {}
            self.deferred.append((target, attrs))
            return target
        out = {}
        for name, attr in attrs.items():
            value = self.decode_attribute(attr, element)
            if value is not UNSET:
                out[name] = value
        return dict(sorted(out.items()))

    # -- arguments ------------------------------------------------------------------------------

    def decode_attribute(self, attr: Attribute, go_type: str) -> Any:
        """gohcl.DecodeExpression into a field of ``go_type``; UNSET after an error."""
        ctx = scoped(self.ctx, attr)
        if go_type.removeprefix("*") == "time.Duration":
            return self.decode_duration(attr.expr, ctx)
        try:
            value = evaluate(attr.expr, ctx)
        except DiagError as exc:
            self.diags.extend(exc.diags)
            return UNSET
        try:
            return from_value(convert(value, implied_type(go_type)), go_type)
        except ConversionError as exc:
            self.diags.append(
                Diag("Unsuitable value type", f"Unsuitable value: {exc}", attr.expr.start)
            )
            return UNSET

    def decode_duration(self, expr: Expr, ctx: EvalContext) -> Any:
        """jobspec2 decodeDuration: a Go duration string, or a number of nanoseconds."""
        try:
            value = evaluate(expr, ctx)
        except DiagError as exc:
            self.diags.extend(exc.diags)
            return UNSET
        if value is None:
            self.diags.append(
                Diag("Unsuitable value", "Unsuitable duration value: nil", expr.start)
            )
            return UNSET
        if isinstance(value, str):
            try:
                return parse_duration_ns(value)
            except GoError as exc:
                self.diags.append(
                    Diag("Unsuitable value type", f"Unsuitable duration value: {exc}", expr.start)
                )
                return UNSET
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.diags.append(
                Diag(
                    "Unsuitable value type",
                    f"Unsuitable value: expected a string but found {type_name(value)}",
                    expr.start,
                )
            )
            return UNSET
        try:
            return to_int(value)
        except ConversionError as exc:
            self.diags.append(Diag("Unsuitable value type", f"Unsuitable value: {exc}", expr.start))
            return UNSET


def from_value(value: Any, go_type: str) -> Any:
    """gocty.FromCtyValue: a converted value into a Go field (null only where Go has nil)."""
    pointer = go_type.startswith("*")
    base = go_type.removeprefix("*")
    if value is None:
        if pointer or base.startswith(("[]", "map[")) or base == "any":
            return None
        raise ConversionError("null value is not allowed")
    if base in INT_RANGES:
        low, high = INT_RANGES[base]
        try:
            return to_int(value, low, high)
        except ConversionError as exc:
            if low == 0:
                raise ConversionError(
                    f"value must be a whole number, between 0 and {high} inclusive"
                ) from exc
            raise
    if base.startswith("[]"):
        return [from_value(item, base[2:]) for item in value]
    if base.startswith("map[string]"):
        element = base[len("map[string]") :]
        return {k: from_value(v, element) for k, v in sorted(value.items())}
    return value


def _element_struct(go_type: str) -> str | None:
    """The struct a ``map[string]*Struct`` block field holds, if it holds one."""
    element = go_type.removeprefix("map[string]").removeprefix("*")
    return element if element in STRUCTS else None


def schema_of(struct: GoStruct) -> Schema:
    """gohcl.ImpliedBodySchema: attributes (sorted) and block headers with their labels."""
    attributes = tuple(
        sorted((f.hcl_name or "", f.required) for f in struct.fields if f.is_attribute)
    )
    blocks = []
    for f in sorted((f for f in struct.fields if f.is_block), key=lambda f: f.hcl_name or ""):
        element = STRUCTS.get(f.base)
        labels = tuple(lf.hcl_name or "" for lf in element.labels) if element is not None else ()
        blocks.append(BlockHeader(f.hcl_name or "", labels))
    return Schema(attributes, tuple(blocks))
