"""Input variables and locals: jobspec2's ``types.variables.go`` and its locals evaluation.

``variable "name" {...}`` and ``variables {...}`` declare inputs (type, default, description,
validation rules); the parse request's ``Variables`` text (HCL var-file syntax) sets them;
``locals {...}`` computes values from them, in whatever order the references allow. The results
become the ``var`` and ``local`` objects of the jobspec's evaluation context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..golang import quote
from .content import BlockHeader, Schema, content
from .diagnostics import Diag, DiagError, Range
from .evaluate import EvalContext, evaluate
from .syntax import (
    Attribute,
    Block,
    Body,
    Expr,
    For,
    ForDirective,
    GetAttrStep,
    IfDirective,
    Interpolation,
    ScopeTraversal,
    Splat,
    Template,
)
from .types import Type, convert, parse_type, type_of
from .values import ConversionError, to_string

#: Evaluating with this context allows neither references nor function calls (a var file,
#: a variable's default).
CONSTANT = EvalContext()

_VALID_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_DOCS = "https://developer.hashicorp.com/nomad/docs/reference/hcl2/variables"


@dataclass
class Validation:
    condition: Expr | None
    error_message: str
    range: Range


@dataclass
class Assignment:
    source: str  # default, varfile
    value: Any
    expr: Expr | None


@dataclass
class Variable:
    name: str
    range: Range | None
    type: Type | None = None
    description: str = ""
    values: list[Assignment] = field(default_factory=list)
    validations: list[Validation] = field(default_factory=list)


def just_attributes(body: Body, diags: list[Diag]) -> dict[str, Attribute]:
    """hclsyntax Body.JustAttributes: a nested block is an error here."""
    if body.blocks:
        first = body.blocks[0]
        diags.append(
            Diag(
                f"Unexpected {quote(first.type)} block",
                "Blocks are not allowed here.",
                first.type_range,
            )
        )
    return dict(body.attributes)


class Inputs:
    """The declared input variables and the locals, and their values."""

    def __init__(self, functions: dict[str, Any], source: str) -> None:
        self.variables: dict[str, Variable] = {}
        self.locals: dict[str, Any] = {}
        #: variables and locals whose value Nomad would not know (cty's unknown value) because
        #: their value had the wrong type; what depends on them is not evaluated or checked
        self.unknown: set[str] = set()
        self.functions = functions
        self.source = source

    def context(self) -> EvalContext:
        """jobspec2's EvalContext: ``var``, ``local``, the functions, the undefined-name hook."""
        values = {
            name: v.values[-1].value if v.values else None for name, v in self.variables.items()
        }
        return EvalContext({"var": values, "local": dict(self.locals)}, self.functions, self.source)

    # -- declarations ---------------------------------------------------------------------------

    def declare(self, blocks: list[Block], diags: list[Diag]) -> None:
        """decodeInputVariables: ``variable`` and ``variables`` blocks."""
        for block in blocks:
            if block.type == "variable":
                self._variable_block(block, diags)
            elif block.type == "variables":
                for name, attr in just_attributes(block.body, diags).items():
                    self._variables_entry(name, attr, diags)

    def _variables_entry(self, name: str, attr: Attribute, diags: list[Diag]) -> None:
        if name in self.variables:
            diags.append(
                Diag(
                    "Duplicate variable",
                    f"Duplicate {name} variable definition found.",
                    attr.name_range,
                )
            )
            return
        try:
            value = evaluate(attr.expr, CONSTANT)
        except DiagError as exc:
            diags.extend(exc.diags)
            return
        self.variables[name] = Variable(
            name, attr.range, type_of(value), values=[Assignment("default", value, attr.expr)]
        )

    def _variable_block(self, block: Block, diags: list[Diag]) -> None:
        name = block.labels[0]
        if name in self.variables:
            # jobspec2 gives this one a context but no subject.
            diags.append(Diag("Duplicate variable", f"Duplicate {name} variable definition found."))
            return
        schema = Schema(
            (("default", False), ("description", False), ("type", False)),
            (BlockHeader("validation"),),
        )
        found = content(block.body, schema, CONSTANT, diags)
        if not _VALID_IDENTIFIER.match(name):
            diags.append(
                Diag(
                    "Invalid variable name",
                    "A name must start with a letter or underscore and may contain only letters, "
                    "digits, underscores, and dashes.",
                    block.label_ranges[0],
                )
            )
        variable = Variable(name, block.def_range)
        if "description" in found.attributes:
            description = self._string(found.attributes["description"], diags)
            variable.description = description or ""
        if "type" in found.attributes:
            try:
                variable.type = parse_type(found.attributes["type"].expr)
            except DiagError as exc:
                diags.extend(exc.diags)
                return
        default = found.attributes.get("default")
        if default is not None:
            try:
                value = evaluate(default.expr, CONSTANT)
            except DiagError as exc:
                diags.extend(exc.diags)
                return
            if variable.type is not None:
                try:
                    value = convert(value, variable.type)
                except ConversionError as exc:
                    diags.append(
                        Diag(
                            "Invalid default value for variable",
                            "This default value is not compatible with the variable's type "
                            f"constraint: {exc}.",
                            default.expr.range,
                        )
                    )
                    self.unknown.add(f"var.{name}")
            variable.values.append(Assignment("default", value, default.expr))
            if variable.type is None:
                variable.type = type_of(value)
        for nested in found.of_type("validation"):
            variable.validations.append(self._validation(name, nested, diags))
        self.variables[name] = variable

    def _validation(self, name: str, block: Block, diags: list[Diag]) -> Validation:
        schema = Schema((("condition", True), ("error_message", True)))
        found = content(block.body, schema, CONSTANT, diags)
        validation = Validation(None, "", block.def_range)
        condition = found.attributes.get("condition")
        if condition is not None:
            validation.condition = condition.expr
            good = 0
            for reference in references(condition.expr):
                step = reference.steps[0] if reference.steps else None
                if reference.root == "var" and isinstance(step, GetAttrStep) and step.name == name:
                    good += 1
                    continue
                diags.append(
                    Diag(
                        "Invalid reference in variable validation",
                        f"The condition for variable {quote(name)} can only refer to the variable "
                        f"itself, using var.{name}.",
                        reference.range,
                    )
                )
            if good < 1:
                diags.append(
                    Diag(
                        "Invalid variable validation condition",
                        f"The condition for variable {quote(name)} must refer to var.{name} in "
                        "order to test incoming values.",
                        condition.expr.range,
                    )
                )
        message = found.attributes.get("error_message")
        if message is not None:
            text = self._string(message, diags)
            if text is not None:
                validation.error_message = text
                if not text.strip():
                    diags.append(
                        Diag(
                            "Invalid validation error message",
                            "An empty or blank string is not a valid nor useful error message.",
                            message.expr.range,
                        )
                    )
        return validation

    @staticmethod
    def _string(attr: Attribute, diags: list[Diag]) -> str | None:
        try:
            value = evaluate(attr.expr, CONSTANT)
            return to_string(value) if value is not None else None
        except DiagError as exc:
            diags.extend(exc.diags)
        except ConversionError as exc:
            diags.append(Diag("Unsuitable value type", f"Unsuitable value: {exc}", attr.expr.start))
        return None

    # -- values ---------------------------------------------------------------------------------

    def assign(self, var_file: Body, diags: list[Diag]) -> None:
        """collectInputVariableValues for the request's ``Variables`` (a var file's text)."""
        declarations = [b for b in var_file.blocks if b.type == "variable" and len(b.labels) == 1]
        for block in declarations:
            name = block.labels[0]
            diags.append(
                Diag(
                    "Variable declaration in a .var file",
                    "A .var file is used to assign values to variables that have already been "
                    "declared in job files, not to declare new variables. To declare variable "
                    f"{quote(name)}, place this block in one of your job files\n\nTo set a value "
                    f"for this variable in input.hcl, use the definition syntax instead:\n    "
                    f"{name} = <value>",
                    block.type_range,
                )
            )
        if declarations:
            return
        for name, attr in just_attributes(var_file, diags).items():
            variable = self.variables.get(name)
            if variable is None:
                # Only a warning for the parse endpoint (jobspec2 is not strict there).
                continue
            try:
                value = evaluate(attr.expr, CONSTANT)
            except DiagError as exc:
                diags.extend(exc.diags)
                continue
            if variable.type is not None:
                try:
                    value = convert(value, variable.type)
                except ConversionError as exc:
                    diags.append(
                        Diag(
                            "Invalid value for variable",
                            f"The value for {name} is not compatible with the variable's type "
                            f"constraint: {exc}.",
                            attr.expr.range,
                        )
                    )
                    self.unknown.add(f"var.{name}")
            variable.values.append(Assignment("varfile", value, attr.expr))

    def check_values(self, diags: list[Diag]) -> None:
        """Variables.Values(): every variable set, every value passing its validations."""
        for variable in self.variables.values():
            if not variable.values:
                diags.append(
                    Diag(
                        f"Unset variable {quote(variable.name)}",
                        "A used variable must be set or have a default value; see "
                        f"{_DOCS}  for details.",
                    )
                )
                continue
            if f"var.{variable.name}" not in self.unknown:
                self._validate(variable, variable.values[-1], diags)

    def _validate(self, variable: Variable, assignment: Assignment, diags: list[Diag]) -> None:
        ctx = EvalContext({"var": {variable.name: assignment.value}}, self.functions)
        for validation in variable.validations:
            if validation.condition is None:
                continue
            try:
                result = evaluate(validation.condition, ctx)
            except DiagError as exc:
                diags.extend(exc.diags)
                continue
            summary = "Invalid variable validation result"
            if result is None:
                diags.append(
                    Diag(
                        summary,
                        "Validation condition expression must return either true or false, "
                        "not null.",
                        validation.condition.range,
                    )
                )
                continue
            try:
                passed = convert(result, Type("bool"))
            except ConversionError as exc:
                diags.append(
                    Diag(
                        summary,
                        f"Invalid validation condition result value: {exc}.",
                        validation.condition.range,
                    )
                )
                continue
            if not passed:
                subject = assignment.expr.range if assignment.expr is not None else validation.range
                diags.append(
                    Diag(
                        f"Invalid value for {assignment.source} variable",
                        f"{validation.error_message}\n\nThis was checked by the validation rule "
                        f"at {validation.range}.",
                        subject,
                    )
                )

    # -- locals ---------------------------------------------------------------------------------

    def compute_locals(self, blocks: list[Block], diags: list[Diag]) -> None:
        """parseLocalVariables then evaluateLocalVariables (retrying until references resolve)."""
        pending: list[Attribute] = []
        for block in blocks:
            if block.type == "locals":
                # jobspec2 checks for duplicates against the locals evaluated so far, which are
                # none yet: a name set in two locals blocks takes the later value.
                pending.extend(just_attributes(block.body, diags).values())
        retry, previous = 0, 0
        while pending:
            local = pending[0]
            try:
                self.locals[local.name] = evaluate(local.expr, self.context())
            except DiagError as exc:
                if self._depends_on_unknown(local.expr):
                    # Nomad computes an unknown value here, without an error of its own.
                    self.unknown.add(f"local.{local.name}")
                    pending.pop(0)
                    continue
                if len(pending) == 1:
                    diags.extend(exc.diags)
                    return
                if previous == len(pending):
                    if retry == 100:
                        # Only a reference cycle gets this far.
                        diags.extend(exc.diags)
                        return
                    retry += 1
                previous = len(pending)
                # It may use a local not evaluated yet: try again after the others.
                pending.append(local)
            else:
                retry = 0
            pending.pop(0)

    def _depends_on_unknown(self, expr: Expr) -> bool:
        for reference in references(expr):
            step = reference.steps[0] if reference.steps else None
            if isinstance(step, GetAttrStep) and f"{reference.root}.{step.name}" in self.unknown:
                return True
        return False


def references(expr: Any, bound: frozenset[str] = frozenset()) -> list[ScopeTraversal]:
    """hclsyntax Variables(): the references an expression makes (for-expression names aside)."""
    found: list[ScopeTraversal] = []
    if isinstance(expr, ScopeTraversal):
        return [] if expr.root in bound else [expr]
    if isinstance(expr, For):
        found += references(expr.collection, bound)
        inner = bound | {expr.value_var} | ({expr.key_var} if expr.key_var else set())
        for part in (expr.key_expr, expr.value_expr, expr.condition):
            if part is not None:
                found += references(part, inner)
        return found
    if isinstance(expr, Template):
        return _part_references(expr.parts, bound)
    if isinstance(expr, Splat):
        return references(expr.source, bound) + references(expr.each, bound)
    if isinstance(expr, Expr):
        for value in vars(expr).values():
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, Expr):
                    found += references(item, bound)
                elif (
                    hasattr(item, "key") and hasattr(item, "value") and isinstance(item.value, Expr)
                ):
                    found += references(item.key, bound) if item.name is None else []
                    found += references(item.value, bound)
    return found


def _part_references(parts: list[Any], bound: frozenset[str]) -> list[ScopeTraversal]:
    found: list[ScopeTraversal] = []
    for part in parts:
        if isinstance(part, Interpolation):
            found += references(part.expr, bound)
        elif isinstance(part, IfDirective):
            found += references(part.condition, bound)
            found += _part_references(part.then_parts + part.else_parts, bound)
        elif isinstance(part, ForDirective):
            found += references(part.collection, bound)
            inner = bound | {part.value_var} | ({part.key_var} if part.key_var else set())
            found += _part_references(part.body, inner)
    return found
