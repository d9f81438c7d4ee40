"""The functions a jobspec may call: jobspec2's ``Functions()`` table.

:func:`jobspec_functions` builds the table the parse endpoint uses (``AllowFS: false``, so the
file functions fail as Nomad's do). A few functions of the table are not reproduced here; a call
to one is refused with an error naming it rather than answered differently from Nomad.
"""

from __future__ import annotations

from typing import Any

from ...golang import quote
from ..diagnostics import Diag, DiagError
from ..evaluate import EvalContext, evaluate
from ..syntax import Expr
from ..types import STRING, convert, parse_type
from ..values import ConversionError
from . import collections, datetime, encoding, format, network, numeric, strings
from .base import Function, FunctionError, Param, function

__all__ = ["Function", "FunctionError", "jobspec_functions"]


@function(var=Param("expressions"), lazy=True)
def try_(args: list[Expr], ctx: EvalContext) -> Any:
    if not args:
        raise FunctionError("at least one argument is required")
    failures: list[Diag] = []
    for arg in args:
        try:
            return evaluate(arg, ctx)
        except DiagError as exc:
            failures.extend(exc.diags)
    lines = ["no expression succeeded:"]
    for diag in failures:
        where = f" (at {diag.subject})" if diag.subject is not None else ""
        lines.append(f"- {diag.summary}{where}\n  {diag.detail}")
    raise FunctionError(
        "\n".join(lines) + "\n\nAt least one expression must produce a successful result"
    )


@function(Param("expression"), lazy=True)
def can(args: list[Expr], ctx: EvalContext) -> bool:
    try:
        evaluate(args[0], ctx)
    except DiagError:
        return False
    return True


@function(Param("value", allow_null=True), Param("type"), lazy=True)
def convert_(args: list[Expr], ctx: EvalContext) -> Any:
    value = evaluate(args[0], ctx)
    wanted = parse_type(args[1])
    try:
        return convert(value, wanted)
    except ConversionError as exc:
        raise FunctionError(str(exc), 0) from None


def _filesystem(*params: str) -> Function:
    # jobspec2's guardFS: with AllowFS false (as on the parse endpoint) the call fails.
    def disabled(*_: Any) -> Any:
        raise FunctionError("filesystem function disabled")

    return Function(tuple(Param(p, STRING) for p in params), disabled)


def _not_reproduced(name: str, *params: str) -> Function:
    def refuse(*_: Any) -> Any:
        raise FunctionError(
            f"{quote(name)} is a Nomad jobspec function this jobspec parser does not support; "
            "compute the value outside the jobspec and pass it in as a variable"
        )

    return Function(tuple(Param(p) for p in params), refuse)


def jobspec_functions() -> dict[str, Function]:
    table: dict[str, Function] = {}
    for module in (collections, datetime, encoding, format, network, numeric, strings):
        table.update(module.FUNCTIONS)
    table.update(
        {
            "can": can,
            "convert": convert_,
            "try": try_,
            "abspath": _filesystem("path"),
            "basename": _filesystem("path"),
            "dirname": _filesystem("path"),
            "file": _filesystem("path"),
            "filebase64": _filesystem("path"),
            "fileexists": _filesystem("path"),
            "fileset": _filesystem("path", "pattern"),
            "pathexpand": _filesystem("path"),
            "bcrypt": _not_reproduced("bcrypt", "str"),
            "rsadecrypt": _not_reproduced("rsadecrypt", "ciphertext", "privatekey"),
            "yamlencode": _not_reproduced("yamlencode", "value"),
        }
    )
    return table
