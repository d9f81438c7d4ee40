"""HCL's body access as jobspec2 sets it up, with HCL's own diagnostics.

jobspec2 wraps the job body twice: ``hclutil.BlocksAsAttrs`` (a body read as plain attributes,
such as a ``meta`` block or a driver's ``config``, turns nested blocks into lists of objects)
and ``dynblock.Expand`` (a ``dynamic "x"`` block generates one ``x`` block per element of its
``for_each``). :func:`partial_content`, :func:`content` and :func:`just_attributes` are
hclsyntax's ``Body.PartialContent``/``Content``/``JustAttributes`` through both wrappers.
A :class:`View` is a body with the arguments and blocks an earlier partial read took ("hidden").
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..golang import quote
from .diagnostics import Diag, DiagError, Range
from .evaluate import EvalContext, evaluate
from .suggest import suggest
from .syntax import Attribute, Block, Body, Literal, Object, ObjectItem, ScopeTraversal, Tuple
from .values import ConversionError, SetValue, to_string, type_name


@dataclass(frozen=True)
class BlockHeader:
    type: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schema:
    """hcl.BodySchema: argument names (with whether each is required) and block headers."""

    attributes: tuple[tuple[str, bool], ...] = ()
    blocks: tuple[BlockHeader, ...] = ()

    @property
    def attribute_names(self) -> list[str]:
        return [name for name, _ in self.attributes]

    def block(self, block_type: str) -> BlockHeader | None:
        return next((b for b in self.blocks if b.type == block_type), None)


@dataclass
class View:
    body: Body
    hidden_attributes: frozenset[str] = frozenset()
    hidden_blocks: frozenset[str] = frozenset()

    @property
    def missing_item_range(self) -> Range | None:
        return self.body.missing_item_range()


@dataclass
class Content:
    attributes: dict[str, Attribute] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    missing_item_range: Range | None = None

    def of_type(self, block_type: str) -> list[Block]:
        return [b for b in self.blocks if b.type == block_type]


_DYNAMIC = BlockHeader("dynamic", ("type",))


def as_view(body: Body | View) -> View:
    return body if isinstance(body, View) else View(body)


def partial_content(
    body: Body | View, schema: Schema, ctx: EvalContext, diags: list[Diag]
) -> tuple[Content, View]:
    """hcl.Body.PartialContent: what the schema names, and the rest of the body."""
    view = as_view(body)
    found = Content(missing_item_range=view.missing_item_range)
    for name, required in schema.attributes:
        attr = view.body.attributes.get(name)
        if attr is None or name in view.hidden_attributes:
            if required:
                diags.append(
                    Diag(
                        "Missing required argument",
                        f"The argument {quote(name)} is required, but no definition was found.",
                        view.missing_item_range,
                    )
                )
            continue
        found.attributes[name] = attr
    wanted = {b.type: b for b in schema.blocks}
    for block in view.body.blocks:
        if block.type in view.hidden_blocks:
            continue
        if block.type == "dynamic":
            if not _labels_ok(block, _DYNAMIC, diags):
                continue
            real = block.labels[0]
            if real in view.hidden_blocks or real not in wanted:
                continue
            found.blocks.extend(_expand_dynamic(block, wanted[real], ctx, diags))
            continue
        header = wanted.get(block.type)
        if header is None or not _labels_ok(block, header, diags):
            continue
        found.blocks.append(block)
    remain = View(
        view.body,
        view.hidden_attributes | set(schema.attribute_names),
        view.hidden_blocks | {b.type for b in schema.blocks},
    )
    return found, remain


def content(body: Body | View, schema: Schema, ctx: EvalContext, diags: list[Diag]) -> Content:
    """hcl.Body.Content: like a partial read, and anything else in the body is an error."""
    view = as_view(body)
    found, remain = partial_content(view, schema, ctx, diags)
    for name, attr in view.body.attributes.items():
        if name in remain.hidden_attributes:
            continue
        undefined = [n for n in schema.attribute_names if n not in found.attributes]
        suggestion = suggest(name, undefined)
        if suggestion is not None:
            hint = f" Did you mean {quote(suggestion)}?"
        elif schema.block(name) is not None:
            hint = f" Did you mean to define a block of type {quote(name)}?"
        else:
            hint = ""
        diags.append(
            Diag(
                "Unsupported argument",
                f"An argument named {quote(name)} is not expected here.{hint}",
                attr.name_range,
            )
        )
    for block in view.body.blocks:
        if block.type == "dynamic":
            # dynblock's own check: a dynamic block generating a type this body does not take.
            if block.labels and block.labels[0] not in remain.hidden_blocks:
                diags.append(
                    Diag(
                        "Unsupported block type",
                        f"Blocks of type {quote(block.labels[0])} are not expected here.",
                        block.label_ranges[0],
                    )
                )
            continue
        if block.type in remain.hidden_blocks:
            continue
        suggestion = suggest(block.type, [b.type for b in schema.blocks])
        if suggestion is not None:
            hint = f" Did you mean {quote(suggestion)}?"
        elif block.type in schema.attribute_names:
            hint = (
                f" Did you mean to define argument {quote(block.type)}? If so, use the equals "
                "sign to assign it a value."
            )
        else:
            hint = ""
        diags.append(
            Diag(
                "Unsupported block type",
                f"Blocks of type {quote(block.type)} are not expected here.{hint}",
                block.type_range,
            )
        )
    return found


def _labels_ok(block: Block, header: BlockHeader, diags: list[Diag]) -> bool:
    names = header.labels
    if len(block.labels) > len(names):
        if not names:
            detail = f"No labels are expected for {block.type} blocks."
        else:
            detail = (
                f"Only {len(names)} labels ({', '.join(names)}) are expected for "
                f"{block.type} blocks."
            )
        diags.append(
            Diag(f"Extraneous label for {block.type}", detail, block.label_ranges[len(names)])
        )
        return False
    if len(block.labels) < len(names):
        diags.append(
            Diag(
                f"Missing {names[len(block.labels)]} for {block.type}",
                f"All {block.type} blocks must have {len(names)} labels ({', '.join(names)}).",
                block.open_brace,
            )
        )
        return False
    return True


# -- attributes only (BlocksAsAttrs) ---------------------------------------------------------


def just_attributes(body: Body | View) -> dict[str, Attribute]:
    """BlocksAsAttrs' JustAttributes: nested blocks become arguments holding lists of objects.

    An argument whose value is an object literal reads as a one-element list too, so that
    ``port_map = {...}`` and ``port_map {...}`` mean the same, as in Nomad.
    """
    view = as_view(body)
    attrs = {
        name: replace(attr, expr=_listed(attr.expr))
        for name, attr in view.body.attributes.items()
        if name not in view.hidden_attributes
    }
    for block_type, blocks in _by_type(view.body.blocks).items():
        if block_type in view.hidden_blocks:
            continue
        first = blocks[0]
        attrs[block_type] = Attribute(block_type, first.type_range, _blocks_expr(blocks))
    return attrs


def _listed(expr: Any) -> Any:
    if isinstance(expr, Object):
        return Tuple(expr.range, expr.start, [expr])
    return expr


def _by_type(blocks: list[Block]) -> dict[str, list[Block]]:
    grouped: dict[str, list[Block]] = {}
    for block in blocks:
        grouped.setdefault(block.type, []).append(block)
    return grouped


def _blocks_expr(blocks: list[Block]) -> Tuple:
    items = []
    for block in blocks:
        members = [
            ObjectItem(name, ScopeTraversal(a.name_range, a.name_range, name), _listed(a.expr))
            for name, a in block.body.attributes.items()
        ]
        members += [
            ObjectItem(
                kind,
                ScopeTraversal(nested[0].type_range, nested[0].type_range, kind),
                _blocks_expr(nested),
            )
            for kind, nested in _by_type(block.body.blocks).items()
        ]
        value: Any = Object(block.open_brace, block.open_brace, members)
        for label, label_range in reversed(
            list(zip(block.labels, block.label_ranges, strict=True))
        ):
            inner = Tuple(label_range, label_range, [value])
            value = Object(
                label_range,
                label_range,
                [ObjectItem(label, Literal(label_range, label_range, label), inner)],
            )
        items.append(value)
    return Tuple(blocks[0].open_brace, blocks[0].open_brace, items)


# -- dynamic blocks (dynblock) ------------------------------------------------------------------

_DYNAMIC_SCHEMA = Schema(
    attributes=(("for_each", True), ("iterator", False), ("labels", False)),
    blocks=(BlockHeader("content"),),
)
_DYNAMIC_SCHEMA_NO_LABELS = Schema(
    attributes=(("for_each", True), ("iterator", False)),
    blocks=(BlockHeader("content"),),
)


def _expand_dynamic(
    block: Block, header: BlockHeader, ctx: EvalContext, diags: list[Diag]
) -> list[Block]:
    schema = _DYNAMIC_SCHEMA if header.labels else _DYNAMIC_SCHEMA_NO_LABELS
    before = len(diags)
    spec = content(block.body, schema, ctx, diags)
    if len(diags) > before:
        return []
    iterator = header.type
    iterator_attr = spec.attributes.get("iterator")
    if iterator_attr is not None:
        expr = iterator_attr.expr
        if not isinstance(expr, ScopeTraversal) or expr.steps:
            diags.append(
                Diag(
                    "Invalid dynamic iterator name",
                    "Dynamic iterator must be a single variable name.",
                    expr.range,
                )
            )
            return []
        iterator = expr.root
    each_attr = spec.attributes["for_each"]
    try:
        each = evaluate(each_attr.expr, scoped(ctx, each_attr))
    except DiagError as exc:
        diags.extend(exc.diags)
        return []
    if each is None:
        diags.append(
            Diag(
                "Invalid dynamic for_each value",
                "Cannot use a null value in for_each.",
                each_attr.expr.range,
            )
        )
        return []
    if not isinstance(each, list | dict):
        diags.append(
            Diag(
                "Invalid dynamic for_each value",
                f"Cannot use a {type_name(each)} value in for_each. An iterable collection is "
                "required.",
                each_attr.expr.range,
            )
        )
        return []
    label_exprs = []
    labels_attr = spec.attributes.get("labels")
    if labels_attr is not None:
        if not isinstance(labels_attr.expr, Tuple):
            diags.append(
                Diag(
                    "Invalid expression",
                    "A static list expression is required.",
                    labels_attr.expr.range,
                )
            )
            return []
        label_exprs = labels_attr.expr.items
        if len(label_exprs) != len(header.labels):
            summary = (
                "Extraneous dynamic block label"
                if len(label_exprs) > len(header.labels)
                else "Insufficient dynamic block labels"
            )
            diags.append(
                Diag(
                    summary,
                    f"Blocks of type {quote(header.type)} require {len(header.labels)} label(s).",
                    labels_attr.expr.range,
                )
            )
            return []
    contents = spec.of_type("content")
    if not contents:
        diags.append(
            Diag(
                "Missing dynamic content block",
                'A dynamic block must have a nested block of type "content" to describe the body '
                "of each generated block.",
                spec.missing_item_range,
            )
        )
        return []
    if len(contents) > 1:
        diags.append(
            Diag(
                "Extraneous dynamic content block",
                "Only one nested content block is allowed for each dynamic block.",
                contents[1].def_range,
            )
        )
        return []
    if isinstance(each, dict):
        elements = sorted(each.items())
    elif isinstance(each, SetValue):
        elements = [(v, v) for v in each]
    else:
        elements = list(enumerate(each))
    generated = []
    outer_scope = labels_attr.scope if labels_attr is not None else each_attr.scope
    for key, value in elements:
        scope = {**(outer_scope or {}), iterator: {"key": key, "value": value}}
        labels = []
        for label_expr in label_exprs:
            try:
                label = evaluate(label_expr, ctx.child(scope))
            except DiagError as exc:
                diags.extend(exc.diags)
                return generated
            if label is None:
                diags.append(
                    Diag(
                        "Invalid dynamic block label",
                        "Cannot use a null value as a dynamic block label.",
                        label_expr.range,
                    )
                )
                return generated
            try:
                labels.append(to_string(label))
            except ConversionError as exc:
                diags.append(
                    Diag(
                        "Invalid dynamic block label",
                        f"Cannot use this value as a dynamic block label: {exc}.",
                        label_expr.range,
                    )
                )
                return generated
        generated.append(
            Block(
                header.type,
                block.label_ranges[0],
                labels,
                [e.range for e in label_exprs],
                contents[0].open_brace,
                contents[0].body.with_scope(scope),
            )
        )
    return generated


def scoped(ctx: EvalContext, attr: Attribute) -> EvalContext:
    """The context an argument is evaluated in: with a ``dynamic`` block's iterator if any."""
    return ctx.child(attr.scope) if attr.scope else ctx
