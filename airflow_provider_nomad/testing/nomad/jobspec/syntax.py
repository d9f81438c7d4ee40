"""The HCL syntax tree this package evaluates: bodies, blocks, attributes, expressions.

Built from python-hcl2's Lark parse tree by :mod:`.reader`; every node keeps the source range
HCL would report for it (``range``) and the one HCL's ``StartRange()`` gives (``start``), which
is the subject of "Unsuitable value" errors. The node kinds follow ``hclsyntax``'s expression
types, so evaluation can follow HCL's rules one kind at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .diagnostics import Range

# -- expressions -----------------------------------------------------------------------------


@dataclass
class Expr:
    range: Range
    #: HCL's Expression.StartRange().
    start: Range


@dataclass
class Literal(Expr):
    value: Any


@dataclass
class GetAttrStep:
    name: str
    range: Range


@dataclass
class IndexStep:
    """A literal index in a traversal: ``x[0]``, ``x["key"]`` or the legacy ``x.0``."""

    key: Any
    range: Range


Step = GetAttrStep | IndexStep


@dataclass
class ScopeTraversal(Expr):
    """A reference from a root name: ``var.region``, ``attr.kernel.name``, ``env["HOME"]``."""

    root: str
    steps: list[Step] = field(default_factory=list)

    @property
    def path(self) -> str:
        """The reference as written without spaces (``a.b[0]``), for messages."""
        text = self.root
        for step in self.steps:
            if isinstance(step, GetAttrStep):
                text += "." + step.name
            elif isinstance(step.key, str):
                text += '["' + step.key + '"]'
            else:
                text += f"[{step.key}]"
        return text


@dataclass
class RelativeTraversal(Expr):
    """Attribute or literal index steps applied to the value of another expression."""

    source: Expr
    steps: list[Step]


@dataclass
class Index(Expr):
    """``collection[key]`` with a key that is not a literal."""

    collection: Expr
    key: Expr
    bracket_range: Range


@dataclass
class Tuple(Expr):
    items: list[Expr]


@dataclass
class ObjectItem:
    #: a bare name used as a key (``{ name = 1 }``), which HCL reads as the literal text
    name: str | None
    key: Expr
    value: Expr


@dataclass
class Object(Expr):
    items: list[ObjectItem]


@dataclass
class FunctionCall(Expr):
    name: str
    name_range: Range
    args: list[Expr]
    #: ``f(a, b...)``: the last argument's elements become the final arguments
    expand_final: bool
    close_paren: Range


@dataclass
class Conditional(Expr):
    condition: Expr
    true_result: Expr
    false_result: Expr


@dataclass
class BinaryOp(Expr):
    op: str
    lhs: Expr
    rhs: Expr


@dataclass
class UnaryOp(Expr):
    op: str
    operand: Expr


@dataclass
class Parentheses(Expr):
    inner: Expr


@dataclass
class AnonSymbol(Expr):
    """The current element inside a splat expression."""


@dataclass
class Splat(Expr):
    """``source[*].steps`` (or the legacy ``source.*.steps``)."""

    source: Expr
    each: Expr
    item: AnonSymbol


@dataclass
class For(Expr):
    key_var: str | None
    value_var: str
    collection: Expr
    key_expr: Expr | None
    value_expr: Expr
    condition: Expr | None
    group: bool


# -- templates -------------------------------------------------------------------------------


@dataclass
class Interpolation:
    expr: Expr


@dataclass
class IfDirective:
    condition: Expr
    then_parts: list[TemplatePart]
    else_parts: list[TemplatePart]
    range: Range


@dataclass
class ForDirective:
    key_var: str | None
    value_var: str
    collection: Expr
    body: list[TemplatePart]
    range: Range


TemplatePart = str | Interpolation | IfDirective | ForDirective


@dataclass
class Template(Expr):
    parts: list[TemplatePart]

    @property
    def is_wrap(self) -> bool:
        """HCL's TemplateWrapExpr: ``"${x}"`` alone is the value of x itself, not a string."""
        return len(self.parts) == 1 and isinstance(self.parts[0], Interpolation)

    @property
    def literal_text(self) -> str | None:
        """The text of a template without interpolations or directives, else None."""
        if all(isinstance(p, str) for p in self.parts):
            return "".join(self.parts)  # type: ignore[arg-type]
        return None


@dataclass
class Unsupported(Expr):
    """A construct that is valid HCL but that this parser refuses, named by ``what``."""

    what: str


# -- bodies ----------------------------------------------------------------------------------


@dataclass
class Attribute:
    name: str
    name_range: Range
    expr: Expr
    #: names bound around this attribute by a ``dynamic`` block's iterator
    scope: dict[str, Any] | None = None

    @property
    def range(self) -> Range:
        return self.name_range.to(self.expr.range)


@dataclass
class Body:
    attributes: dict[str, Attribute] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    #: from the opening brace to the closing one (a file body spans the whole file)
    range: Range | None = None

    def missing_item_range(self) -> Range | None:
        """hclsyntax Body.MissingItemRange: an empty range where the body starts."""
        return self.range.start_point() if self.range is not None else None

    def with_scope(self, scope: dict[str, Any]) -> Body:
        """A copy whose attributes, nested ones included, see extra names (``dynamic`` blocks)."""
        attributes = {
            name: replace(attr, scope={**(attr.scope or {}), **scope})
            for name, attr in self.attributes.items()
        }
        blocks = [replace(b, body=b.body.with_scope(scope)) for b in self.blocks]
        return Body(attributes, blocks, self.range)


@dataclass
class Block:
    type: str
    type_range: Range
    labels: list[str]
    label_ranges: list[Range]
    open_brace: Range
    body: Body

    @property
    def def_range(self) -> Range:
        last = self.label_ranges[-1] if self.label_ranges else self.type_range
        return self.type_range.to(last)
