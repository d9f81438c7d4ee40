"""Evaluating expressions of the syntax tree, the way ``hclsyntax`` does.

The evaluation context is jobspec2's: ``var`` and ``local`` objects, its function table, and
Nomad's fork of HCL's ``UndefinedVariable`` hook, which turns a reference to anything else
(``attr.kernel.name``, ``NOMAD_META_day``) into the text ``${...}`` cut out of the source, for
the Nomad client to interpolate at run time. Errors are HCL's diagnostics, raised as
:class:`DiagError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..golang import quote
from .diagnostics import Diag, DiagError, Range
from .references import index, traverse, undefined_reference
from .suggest import suggest
from .syntax import (
    AnonSymbol,
    BinaryOp,
    Conditional,
    Expr,
    For,
    ForDirective,
    FunctionCall,
    IfDirective,
    Index,
    Interpolation,
    Literal,
    Object,
    Parentheses,
    RelativeTraversal,
    ScopeTraversal,
    Splat,
    Template,
    TemplatePart,
    Tuple,
    UnaryOp,
    Unsupported,
)
from .values import (
    ConversionError,
    ListValue,
    SetValue,
    equal,
    normalize_number,
    to_bool,
    to_number,
    to_string,
    type_name,
)


@dataclass
class EvalContext:
    """hcl.EvalContext: names and functions in scope, chained to an outer context.

    ``variables``/``functions`` of None mean none may be used here at all (a var file is
    evaluated so). ``source`` is the jobspec text the undefined-reference hook cuts from.
    """

    variables: dict[str, Any] | None = None
    functions: dict[str, Any] | None = None
    source: str | None = None
    parent: EvalContext | None = None
    #: the current element of each splat being evaluated
    symbols: dict[int, Any] = field(default_factory=dict)

    def child(self, variables: dict[str, Any]) -> EvalContext:
        return EvalContext(variables, None, None, self)

    def _chain(self) -> list[EvalContext]:
        chain: list[EvalContext] = []
        ctx: EvalContext | None = self
        while ctx is not None:
            chain.append(ctx)
            ctx = ctx.parent
        return chain

    def lookup_function(self, name: str) -> tuple[Any, bool]:
        """The function, and whether any context in the chain has functions at all."""
        any_table = False
        for ctx in self._chain():
            if ctx.functions is None:
                continue
            any_table = True
            if name in ctx.functions:
                return ctx.functions[name], True
        return None, any_table

    def function_names(self) -> list[str]:
        return sorted({n for ctx in self._chain() for n in (ctx.functions or {})})

    def symbol(self, item: AnonSymbol) -> Any:
        for ctx in self._chain():
            if id(item) in ctx.symbols:
                return ctx.symbols[id(item)]
        raise AssertionError("splat symbol evaluated outside its splat")  # pragma: no cover


def evaluate(expr: Expr, ctx: EvalContext) -> Any:
    """The value of an expression: None, bool, int, float, str, list or dict."""
    handler = _HANDLERS.get(type(expr))
    if handler is None:  # pragma: no cover - every node kind has a handler
        raise AssertionError(f"unknown expression {expr!r}")
    return handler(expr, ctx)


# -- references -------------------------------------------------------------------------------


def _scope_traversal(expr: ScopeTraversal, ctx: EvalContext) -> Any:
    any_variables = False
    source: str | None = None
    for scope in ctx._chain():
        if source is None and scope.source is not None:
            source = scope.source
        if scope.variables is None:
            continue
        any_variables = True
        if expr.root in scope.variables:
            return traverse(scope.variables[expr.root], expr.steps)
    if source is not None:
        return undefined_reference(expr, source)
    if not any_variables:
        raise DiagError(
            Diag("Variables not allowed", "Variables may not be used here.", expr.range)
        )
    raise DiagError(
        Diag("Unknown variable", f"There is no variable named {quote(expr.root)}.", expr.range)
    )


def _relative_traversal(expr: RelativeTraversal, ctx: EvalContext) -> Any:
    return traverse(evaluate(expr.source, ctx), expr.steps)


def _index_expr(expr: Index, ctx: EvalContext) -> Any:
    collection = evaluate(expr.collection, ctx)
    key = evaluate(expr.key, ctx)
    return index(collection, key, expr.bracket_range)


# -- literals and constructors ---------------------------------------------------------------


def _literal(expr: Literal, ctx: EvalContext) -> Any:
    return expr.value


def _parentheses(expr: Parentheses, ctx: EvalContext) -> Any:
    return evaluate(expr.inner, ctx)


def _tuple(expr: Tuple, ctx: EvalContext) -> Any:
    values, diags = [], []
    for item in expr.items:
        try:
            values.append(evaluate(item, ctx))
        except DiagError as exc:
            diags.extend(exc.diags)
    if diags:
        raise DiagError(*diags)
    return values


def _object(expr: Object, ctx: EvalContext) -> Any:
    result: dict[str, Any] = {}
    diags: list[Diag] = []
    for item in expr.items:
        try:
            if item.name is not None:
                key: Any = item.name
            else:
                key = evaluate(item.key, ctx)
                if key is None:
                    raise DiagError(
                        Diag(
                            "Null value as key",
                            "Can't use a null value as a key.",
                            item.value.range,
                        )
                    )
                try:
                    key = to_string(key)
                except ConversionError as exc:
                    raise DiagError(
                        Diag(
                            "Incorrect key type",
                            f"Can't use this value as a key: {exc}.",
                            item.key.range,
                        )
                    ) from None
            result[key] = evaluate(item.value, ctx)
        except DiagError as exc:
            diags.extend(exc.diags)
    if diags:
        raise DiagError(*diags)
    return result


def _unsupported(expr: Unsupported, ctx: EvalContext) -> Any:
    raise DiagError(
        Diag(
            "Unsupported expression",
            f"{expr.what} is valid HCL, but this jobspec parser does not support it.",
            expr.range,
        )
    )


# -- templates --------------------------------------------------------------------------------


def _template(expr: Template, ctx: EvalContext) -> Any:
    if expr.is_wrap:
        # "${x}" alone is x itself, whatever its type (HCL's TemplateWrapExpr).
        return evaluate(expr.parts[0].expr, ctx)  # type: ignore[union-attr]
    return "".join(_render(expr.parts, ctx))


def _render(parts: list[TemplatePart], ctx: EvalContext) -> list[str]:
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Interpolation):
            out.append(_interpolated(part.expr, ctx))
        elif isinstance(part, IfDirective):
            condition = evaluate(part.condition, ctx)
            if condition is None:
                raise DiagError(
                    Diag(
                        "Invalid template if directive",
                        "The condition value is null. Conditions must either be true or false.",
                        part.condition.range,
                    )
                )
            try:
                chosen = to_bool(condition)
            except ConversionError as exc:
                raise DiagError(
                    Diag(
                        "Invalid template if directive",
                        f"Cannot use the condition as a condition: {exc}.",
                        part.condition.range,
                    )
                ) from None
            out.extend(_render(part.then_parts if chosen else part.else_parts, ctx))
        else:
            out.extend(_render_for(part, ctx))
    return out


def _render_for(part: ForDirective, ctx: EvalContext) -> list[str]:
    collection = evaluate(part.collection, ctx)
    out: list[str] = []
    for key, value in _iterate(collection, part.collection.range):
        names = {part.value_var: value}
        if part.key_var is not None:
            names[part.key_var] = key
        out.extend(_render(part.body, ctx.child(names)))
    return out


def _interpolated(expr: Expr, ctx: EvalContext) -> str:
    value = evaluate(expr, ctx)
    if value is None:
        raise DiagError(
            Diag(
                "Invalid template interpolation value",
                "The expression result is null. Cannot include a null value in a string template.",
                expr.range,
            )
        )
    if isinstance(value, list | dict):
        raise DiagError(
            Diag(
                "Invalid template interpolation value",
                "Cannot include the given value in a string template: string required.",
                expr.range,
            )
        )
    return to_string(value)


# -- operators --------------------------------------------------------------------------------


def _conditional(expr: Conditional, ctx: EvalContext) -> Any:
    true_value = evaluate(expr.true_result, ctx)
    false_value = evaluate(expr.false_result, ctx)
    condition = evaluate(expr.condition, ctx)
    if condition is None:
        raise DiagError(
            Diag(
                "Null condition",
                "The condition value is null. Conditions must either be true or false.",
                expr.condition.range,
            )
        )
    try:
        chosen = to_bool(condition)
    except ConversionError:
        raise DiagError(
            Diag(
                "Incorrect condition type",
                "The condition expression must be of type bool.",
                expr.condition.range,
            )
        ) from None
    result = true_value if chosen else false_value
    other = false_value if chosen else true_value
    # HCL unifies the two result types: a number or bool beside a string becomes a string.
    primitive = result is not None and not isinstance(result, str | list | dict)
    if primitive and isinstance(other, str):
        return to_string(result)
    return result


_ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
}


def _binary(expr: BinaryOp, ctx: EvalContext) -> Any:
    lhs = evaluate(expr.lhs, ctx)
    rhs = evaluate(expr.rhs, ctx)
    op = expr.op
    if op == "==":
        return equal(lhs, rhs)
    if op == "!=":
        return not equal(lhs, rhs)
    if op in ("&&", "||"):
        left = _operand(lhs, to_bool, expr.lhs, "left")
        right = _operand(rhs, to_bool, expr.rhs, "right")
        return (left and right) if op == "&&" else (left or right)
    left = _operand(lhs, to_number, expr.lhs, "left")
    right = _operand(rhs, to_number, expr.rhs, "right")
    if op in _ARITHMETIC:
        return normalize_number(_ARITHMETIC[op](left, right))
    if op in ("/", "%"):
        if right == 0:
            if op == "%":
                raise DiagError(
                    Diag(
                        "Operation failed",
                        "Error during operation: can't use modulo by zero.",
                        expr.range,
                    )
                )
            raise DiagError(
                Diag(
                    "Operation failed", "Error during operation: can't divide by zero.", expr.range
                )
            )
        if op == "/":
            quotient = left / right
            if isinstance(left, int) and isinstance(right, int) and left % right == 0:
                return left // right
            return normalize_number(quotient)
        # cty's modulo keeps the sign of the dividend, like Go's math.Mod.
        remainder = abs(left) % abs(right)
        return normalize_number(-remainder if left < 0 else remainder)
    return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]


def _operand(value: Any, convert: Callable[[Any], Any], expr: Expr, side: str) -> Any:
    if value is None:
        raise DiagError(
            Diag(
                "Invalid operand",
                f"Unsuitable value for {side} operand: argument must not be null.",
                expr.range,
            )
        )
    try:
        if isinstance(value, list | dict):
            raise ConversionError(f"{'bool' if convert is to_bool else 'number'} required")
        return convert(value)
    except ConversionError as exc:
        raise DiagError(
            Diag("Invalid operand", f"Unsuitable value for {side} operand: {exc}.", expr.range)
        ) from None


def _unary(expr: UnaryOp, ctx: EvalContext) -> Any:
    value = evaluate(expr.operand, ctx)
    if expr.op == "!":
        return not _operand(value, to_bool, expr.operand, "unary")
    return normalize_number(-_operand(value, to_number, expr.operand, "unary"))


# -- collections: for and splat ----------------------------------------------------------------


def _iterate(collection: Any, rng: Range) -> list[tuple[Any, Any]]:
    if collection is None:
        raise DiagError(
            Diag(
                "Iteration over null value",
                "A null value cannot be used as the collection in a 'for' expression.",
                rng,
            )
        )
    if isinstance(collection, dict):
        return sorted(collection.items())
    if isinstance(collection, list):
        if isinstance(collection, SetValue):
            return [(v, v) for v in collection]
        return list(enumerate(collection))
    raise DiagError(
        Diag(
            "Iteration over non-iterable value",
            "A value of type " + type_name(collection) + " cannot be used as the collection in a "
            "'for' expression.",
            rng,
        )
    )


def _for(expr: For, ctx: EvalContext) -> Any:
    collection = evaluate(expr.collection, ctx)
    items: list[Any] = []
    grouped: dict[str, Any] = {}
    for key, value in _iterate(collection, expr.collection.range):
        names = {expr.value_var: value}
        if expr.key_var is not None:
            names[expr.key_var] = key
        scope = ctx.child(names)
        if expr.condition is not None and not _for_condition(expr.condition, scope):
            continue
        result = evaluate(expr.value_expr, scope)
        if expr.key_expr is None:
            items.append(result)
            continue
        result_key = evaluate(expr.key_expr, scope)
        if result_key is None:
            raise DiagError(
                Diag(
                    "Invalid object key",
                    "Key expression in 'for' expression must not produce a null value.",
                    expr.key_expr.range,
                )
            )
        try:
            result_key = to_string(result_key)
        except ConversionError as exc:
            raise DiagError(
                Diag(
                    "Invalid object key",
                    f"The key expression produced an invalid result: {exc}.",
                    expr.key_expr.range,
                )
            ) from None
        if expr.group:
            grouped.setdefault(result_key, []).append(result)
        elif result_key in grouped:
            raise DiagError(
                Diag(
                    "Duplicate object key",
                    f"Two different items produced the key {quote(result_key)} in this 'for' "
                    "expression. If duplicate keys are expected, use the ellipsis (...) after "
                    "the value expression to enable grouping by key.",
                    expr.key_expr.range,
                )
            )
        else:
            grouped[result_key] = result
    return items if expr.key_expr is None else grouped


def _for_condition(condition: Expr, scope: EvalContext) -> bool:
    value = evaluate(condition, scope)
    if value is None:
        raise DiagError(
            Diag(
                "Invalid 'for' condition",
                "The value of the 'if' clause must not be null.",
                condition.range,
            )
        )
    try:
        return to_bool(value)
    except ConversionError as exc:
        raise DiagError(
            Diag(
                "Invalid 'for' condition",
                f"The 'if' clause value is invalid: {exc}.",
                condition.range,
            )
        ) from None


def _splat(expr: Splat, ctx: EvalContext) -> Any:
    source = evaluate(expr.source, ctx)
    if source is None:
        return []  # HCL: a splat of a null (non-sequence) value is an empty tuple
    items = source if isinstance(source, list) else [source]
    results = []
    for item in items:
        scope = EvalContext(parent=ctx)
        scope.symbols[id(expr.item)] = item
        results.append(evaluate(expr.each, scope))
    # A list or set stays one (of the new elements); a tuple or a lone value gives a tuple.
    if isinstance(source, ListValue | SetValue):
        return ListValue(results)
    return results


def _anon_symbol(expr: AnonSymbol, ctx: EvalContext) -> Any:
    return ctx.symbol(expr)


# -- function calls --------------------------------------------------------------------------


def _call(expr: FunctionCall, ctx: EvalContext) -> Any:
    function, any_table = ctx.lookup_function(expr.name)
    if function is None:
        if not any_table:
            raise DiagError(
                Diag("Function calls not allowed", "Functions may not be called here.", expr.range)
            )
        hint = suggest(expr.name, ctx.function_names())
        detail = f"There is no function named {quote(expr.name)}."
        if hint is not None:
            detail += f" Did you mean {quote(hint)}?"
        raise DiagError(Diag("Call to unknown function", detail, expr.name_range))
    return function.call(expr, ctx)


_HANDLERS: dict[type, Callable[[Any, EvalContext], Any]] = {
    Literal: _literal,
    ScopeTraversal: _scope_traversal,
    RelativeTraversal: _relative_traversal,
    Index: _index_expr,
    Tuple: _tuple,
    Object: _object,
    Template: _template,
    Parentheses: _parentheses,
    Conditional: _conditional,
    BinaryOp: _binary,
    UnaryOp: _unary,
    For: _for,
    Splat: _splat,
    AnonSymbol: _anon_symbol,
    FunctionCall: _call,
    Unsupported: _unsupported,
}
