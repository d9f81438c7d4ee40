"""Calling a function the way ``hclsyntax.FunctionCallExpr`` calls a go-cty function.

A :class:`Function` declares its parameters (name and type, as go-cty does, since both appear
in HCL's error texts) and an implementation over converted argument values. The call checks
the argument count, expands a final ``...`` argument, converts each argument to its parameter's
type and maps failures to HCL's diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...golang import quote
from ..diagnostics import Diag, DiagError
from ..evaluate import EvalContext, evaluate
from ..syntax import Expr, FunctionCall, Literal
from ..types import DYNAMIC, Type, convert
from ..values import ConversionError


class FunctionError(Exception):
    """A failed call; with ``arg`` set, HCL blames that argument (go-cty's ArgError)."""

    def __init__(self, message: str, arg: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.arg = arg


@dataclass(frozen=True)
class Param:
    name: str
    type: Type = DYNAMIC
    allow_null: bool = False


@dataclass(frozen=True)
class Function:
    params: tuple[Param, ...]
    impl: Callable[..., Any]
    var_param: Param | None = None
    #: the implementation receives the argument expressions and the context unevaluated
    #: (``try`` and ``can`` evaluate them themselves)
    lazy: bool = False

    def call(self, expr: FunctionCall, ctx: EvalContext) -> Any:
        args = _expanded_arguments(expr, ctx)
        params = self.params
        if len(args) < len(params):
            qualifier = " at least" if self.var_param is not None else ""
            raise DiagError(
                Diag(
                    "Not enough function arguments",
                    f"Function {quote(expr.name)} expects{qualifier} {len(params)} argument(s). "
                    f"Missing value for {quote(params[len(args)].name)}.",
                    expr.close_paren,
                )
            )
        if self.var_param is None and len(args) > len(params):
            raise DiagError(
                Diag(
                    "Too many function arguments",
                    f"Function {quote(expr.name)} expects only {len(params)} argument(s).",
                    args[len(params)].start,
                )
            )
        if self.lazy:
            return self._invoke(expr, args, lambda: self.impl(args, ctx))
        values, diags = [], []
        for position, arg in enumerate(args):
            param = self._param(position)
            try:
                value = evaluate(arg, ctx)
            except DiagError as exc:
                diags.extend(exc.diags)
                continue
            try:
                value = convert(value, param.type)
            except ConversionError as exc:
                diags.append(_argument_diag(param, str(exc), arg))
                continue
            values.append(value)
        if diags:
            raise DiagError(*diags)
        for position, value in enumerate(values):
            param = self._param(position)
            if value is None and not param.allow_null:
                raise DiagError(_argument_diag(param, "argument must not be null", args[position]))
        return self._invoke(expr, args, lambda: self.impl(*values))

    def _param(self, position: int) -> Param:
        if position < len(self.params):
            return self.params[position]
        assert self.var_param is not None
        return self.var_param

    def _invoke(self, expr: FunctionCall, args: list[Expr], run: Callable[[], Any]) -> Any:
        """Run the implementation; map its failure to HCL's diagnostic for a call."""
        try:
            return run()
        except FunctionError as exc:
            if exc.arg is not None and exc.arg < len(args):
                param = self._param(exc.arg)
                raise DiagError(_argument_diag(param, exc.message, args[exc.arg])) from None
            if exc.arg is not None and (exc.arg < len(self.params) or self.var_param is not None):
                param = self._param(exc.arg)
                raise DiagError(
                    Diag(
                        "Invalid function argument",
                        f"Invalid value for {quote(param.name)} parameter: {exc.message}.",
                        expr.range,
                    )
                ) from None
            raise DiagError(
                Diag(
                    "Error in function call",
                    f"Call to function {quote(expr.name)} failed: {exc.message}.",
                    expr.start,
                )
            ) from None


def _argument_diag(param: Param, message: str, arg: Expr) -> Diag:
    return Diag(
        "Invalid function argument",
        f"Invalid value for {quote(param.name)} parameter: {message}.",
        arg.start,
    )


def _expanded_arguments(expr: FunctionCall, ctx: EvalContext) -> list[Expr]:
    """The argument expressions, the final one spread out when the call ends with ``...``."""
    if not expr.expand_final:
        return list(expr.args)
    last = expr.args[-1]
    value = evaluate(last, ctx)
    if value is None:
        raise DiagError(
            Diag(
                "Invalid expanding argument value",
                "The expanding argument (indicated by ...) must not be null.",
                last.range,
            )
        )
    if not isinstance(value, list):
        raise DiagError(
            Diag(
                "Invalid expanding argument value",
                "The expanding argument (indicated by ...) must be of a tuple, list, or set type.",
                last.range,
            )
        )
    return [*expr.args[:-1], *(Literal(last.range, last.range, item) for item in value)]


def function(
    *params: Param, var: Param | None = None, lazy: bool = False
) -> Callable[[Callable[..., Any]], Function]:
    """Declare a function's parameters around its implementation."""

    def wrap(impl: Callable[..., Any]) -> Function:
        return Function(tuple(params), impl, var, lazy)

    return wrap
