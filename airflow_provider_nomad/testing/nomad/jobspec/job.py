"""jobspec2's decoding of a file: variables and locals first, then the ``job`` block.

The struct decoding is generic (:mod:`.gohcl`); this module holds what jobspec2 does by hand:
the file's top level (``parse.go``/``types.config.go``), the decoders it registers for task
groups, tasks, constraints and affinities (``hcl_conversions.go``), ``meta``/``env`` written as
arguments, and ``vault``/``secret``/``task`` blocks placed where the api struct has no field
for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..golang import quote
from .apistructs import STRUCTS, new_struct
from .content import BlockHeader, Schema, View, content, partial_content, scoped
from .diagnostics import Diag, DiagError
from .evaluate import EvalContext, evaluate
from .functions import jobspec_functions
from .gohcl import UNSET, Decoder
from .syntax import Block, Body
from .types import NUMBER, STRING, Type, convert
from .values import ConversionError, to_string
from .variables import Inputs

_FILE = Schema(
    blocks=(
        BlockHeader("variables"),
        BlockHeader("variable", ("name",)),
        BlockHeader("locals"),
        BlockHeader("job", ("name",)),
    )
)
_JOB_EXTRAS = Schema(
    blocks=(BlockHeader("vault"), BlockHeader("secret", ("name",)), BlockHeader("task", ("name",)))
)
_GROUP_EXTRAS = Schema(blocks=(BlockHeader("vault"), BlockHeader("secret", ("name",))))


@dataclass
class Decoded:
    """What decoding a file gives before normalization: the job and jobspec2's side values."""

    job: dict[str, Any]
    job_id: str
    vault: dict[str, Any] | None = None
    secrets: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    #: driver-config evaluation failures, which Nomad reports only if nothing else failed
    late: list[Diag] = field(default_factory=list)


def decode_file(body: Body, source: str, var_file: Body | None) -> Decoded:
    """jobspec2 decode(): the job of a parsed file.

    :raises DiagError: with the diagnostics Nomad reports, one per line.
    """
    diags: list[Diag] = []
    top = content(body, _FILE, EvalContext(), diags)
    if diags:
        raise DiagError(*diags)  # jobspec2 stops at the first structural problem of the file
    inputs = Inputs(jobspec_functions(), source)
    inputs.declare(top.blocks, diags)
    locals_blocks = [b for b in top.blocks if b.type == "locals"]
    if var_file is not None:
        inputs.assign(var_file, diags)
    inputs.check_values(diags)
    inputs.compute_locals(locals_blocks, diags)
    if diags:
        raise DiagError(*diags)
    ctx = inputs.context()
    decoder = Decoder(ctx, _BLOCK_DECODERS)
    decoded = _decode_job(decoder, [b for b in top.blocks if b.type == "job"])
    if decoder.diags:
        raise DiagError(*decoder.diags)
    decoded.late = _evaluate_deferred(decoder)
    return decoded


def _decode_job(decoder: Decoder, blocks: list[Block]) -> Decoded:
    decoded = Decoded(new_struct("Job"), "")
    first: Block | None = None
    for block in blocks:
        if first is not None:
            decoder.diags.append(
                Diag(
                    "Duplicate job block",
                    'Only one block of type "job" is allowed. Previous definition was at '
                    f"{first.def_range}.",
                    block.def_range,
                )
            )
            continue
        first = block
        decoded.job_id = block.labels[0]
        meta, view = _attribute_map(decoder, View(block.body), "meta")
        extras, remain = partial_content(view, _JOB_EXTRAS, decoder.ctx, decoder.diags)
        _top_level_extras(decoder, extras.blocks, decoded)
        decoder.decode_fields(remain, STRUCTS["Job"], decoded.job)
        if meta is not None:
            decoded.job["Meta"] = meta
    if first is None:
        decoder.diags.append(Diag("Missing job block", "A job block is required"))
    return decoded


def _top_level_extras(decoder: Decoder, blocks: list[Block], decoded: Decoded) -> None:
    """decodeTopLevelExtras: one job-wide ``vault``, ``secret`` and job-level ``task`` blocks."""
    seen_vault: Block | None = None
    for block in blocks:
        if block.type == "vault":
            if seen_vault is not None:
                decoder.diags.append(
                    Diag(
                        "Duplicate vault block",
                        'Only one block of type "vault" is allowed. Previous definition was at '
                        f"{seen_vault.def_range}.",
                        block.def_range,
                    )
                )
                continue
            seen_vault = block
            decoded.vault = decoder.decode_struct(block.body, "Vault")
        elif block.type == "task":
            task = decoder.decode_struct(block.body, "Task")
            task["Name"] = block.labels[0]
            decoded.tasks.append(task)
        else:
            secret = decoder.decode_struct(block.body, "Secret")
            secret["Name"] = block.labels[0]
            decoded.secrets.append(secret)


# -- task groups and tasks ------------------------------------------------------------------


def _decode_task_group(decoder: Decoder, view: View, out: dict[str, Any]) -> None:
    """jobspec2 decodeTaskGroup."""
    before = len(decoder.diags)
    meta, view = _attribute_map(decoder, view, "meta")
    extras, remain = partial_content(view, _GROUP_EXTRAS, decoder.ctx, decoder.diags)
    if len(decoder.diags) > before:
        return
    # jobspec2 decodes these with its diagnostics then overwritten by the group's own, so a
    # mistake inside a group-level vault or secret block goes unreported, as it does here.
    side = Decoder(decoder.ctx, decoder.block_decoders)
    vault = None
    secrets = []
    for block in extras.blocks:
        if block.type == "vault":
            vault = side.decode_struct(block.body, "Vault")
        else:
            secret = side.decode_struct(block.body, "Secret")
            secret["Name"] = block.labels[0]
            secrets.append(secret)
    decoder.deferred.extend(side.deferred)
    decoder.decode_fields(remain, STRUCTS["TaskGroup"], out)
    if meta is not None:
        out["Meta"] = meta
    for task in out["Tasks"] or []:
        if vault is not None and task["Vault"] is None:
            task["Vault"] = vault
        if secrets:
            # jobspec2 appends the task's own secrets to themselves here, not the group's.
            task["Secrets"] = secrets if not task["Secrets"] else task["Secrets"] + task["Secrets"]
    scaling = out["Scaling"]
    if scaling is not None:
        if scaling["Type"] == "":
            scaling["Type"] = "horizontal"
        _check_group_scaling(decoder, scaling, remain)


def _check_group_scaling(decoder: Decoder, policy: dict[str, Any], remain: View) -> None:
    """validateGroupScalingPolicy: a group's policy needs ``max`` and the horizontal type."""
    if policy["Max"] is not None and policy["Type"] == "horizontal":
        return
    found, _ = partial_content(remain, Schema(blocks=(BlockHeader("scaling"),)), decoder.ctx, [])
    blocks = found.of_type("scaling")
    if not blocks:
        return
    inner, _ = partial_content(
        blocks[0].body, Schema((("max", True), ("type", False))), decoder.ctx, decoder.diags
    )
    type_attr = inner.attributes.get("type")
    if policy["Type"] != "horizontal" and type_attr is not None:
        decoder.diags.append(
            Diag(
                "Invalid group scaling type",
                f"task group scaling policy had invalid type: {quote(policy['Type'])}",
                type_attr.expr.range,
            )
        )


def _decode_task(decoder: Decoder, view: View, out: dict[str, Any]) -> None:
    """jobspec2 decodeTask: ``env``/``meta`` arguments and ``scaling "cpu"``/``"mem"`` policies."""
    env, view = _attribute_map(decoder, view, "env")
    meta, view = _attribute_map(decoder, view, "meta")
    found, remain = partial_content(
        view, Schema(blocks=(BlockHeader("scaling", ("name",)),)), decoder.ctx, decoder.diags
    )
    _task_scaling_policies(decoder, found.blocks, out)
    decoder.decode_fields(remain, STRUCTS["Task"], out)
    if env is not None:
        out["Env"] = env
    if meta is not None:
        out["Meta"] = meta


def _task_scaling_policies(decoder: Decoder, blocks: list[Block], task: dict[str, Any]) -> None:
    seen: dict[str, Block] = {}
    for block in blocks:
        label = block.labels[0].lower()
        kinds = {"cpu": "vertical_cpu", "mem": "vertical_mem"}
        if label not in kinds:
            decoder.diags.append(
                Diag(
                    "Invalid scaling policy name",
                    'scaling policy name must be "cpu" or "mem"',
                    block.label_ranges[0],
                )
            )
            continue
        if label in seen:
            decoder.diags.append(
                Diag(
                    f"Duplicate scaling {quote(label)} block",
                    f"Only one scaling {label} block is allowed. Another was defined at "
                    f"{seen[label].def_range}.",
                    block.def_range,
                )
            )
            continue
        seen[label] = block
        policy = decoder.decode_struct(block.body, "ScalingPolicy")
        if policy["Type"] == "":
            policy["Type"] = kinds[label]
        elif policy["Type"] != kinds[label]:
            decoder.diags.append(
                Diag(
                    "Invalid scaling policy type",
                    f"Invalid policy type, expected {quote(policy['Type'])} but found "
                    f"{quote(kinds[label])}",
                    block.def_range,
                )
            )
            continue
        task["ScalingPolicies"] = [*(task["ScalingPolicies"] or []), policy]


def _attribute_map(decoder: Decoder, view: View, name: str) -> tuple[dict[str, str] | None, View]:
    """decodeAsAttribute: ``meta = {...}`` (an argument) instead of a ``meta {}`` block."""
    found, remain = partial_content(view, Schema(((name, False),)), decoder.ctx, [])
    attr = found.attributes.get(name)
    if attr is None:
        return None, view
    blocks, _ = partial_content(remain, Schema(blocks=(BlockHeader(name),)), decoder.ctx, [])
    if blocks.blocks:
        decoder.diags.append(
            Diag(
                f"Duplicate {name} block",
                f"{name} may not be defined more than once. Another definition is defined at "
                f"{attr.range}.",
                blocks.blocks[0].def_range,
            )
        )
        return None, remain
    value = decoder.decode_attribute(attr, "map[string]string")
    return ({} if value is UNSET else value), remain


# -- constraints and affinities (hcldec specs) ------------------------------------------------

_CONSTRAINT_SPEC: dict[str, Type] = {
    **dict.fromkeys(
        (
            "attribute",
            "value",
            "operator",
            "distinct_property",
            "regexp",
            "version",
            "semver",
            "set_contains",
            "set_contains_all",
            "set_contains_any",
            "is_set",
            "is_not_set",
        ),
        STRING,
    ),
    "distinct_hosts": Type("bool"),
}
_AFFINITY_SPEC: dict[str, Type] = {
    **dict.fromkeys(
        (
            "attribute",
            "value",
            "operator",
            "version",
            "semver",
            "regexp",
            "set_contains",
            "set_contains_all",
            "set_contains_any",
        ),
        STRING,
    ),
    "weight": NUMBER,
}


def _spec_values(decoder: Decoder, view: View, spec: dict[str, Type]) -> dict[str, Any] | None:
    """hcldec.Decode of an ObjectSpec of optional attributes; None after any diagnostic."""
    before = len(decoder.diags)
    found = content(
        view, Schema(tuple((name, False) for name in sorted(spec))), decoder.ctx, decoder.diags
    )
    values: dict[str, Any] = {}
    for name, attr in found.attributes.items():
        try:
            value = evaluate(attr.expr, scoped(decoder.ctx, attr))
            values[name] = convert(value, spec[name])
        except DiagError as exc:
            decoder.diags.extend(exc.diags)
        except ConversionError as exc:
            decoder.diags.append(
                Diag(
                    "Incorrect attribute value type",
                    f"Inappropriate value for attribute {quote(name)}: {exc}.",
                    attr.expr.range,
                )
            )
    return None if len(decoder.diags) > before else values


def _decode_constraint(decoder: Decoder, view: View, out: dict[str, Any]) -> None:
    """jobspec2 decodeConstraint."""
    values = _spec_values(decoder, view, _CONSTRAINT_SPEC)
    if values is None:
        return

    def text(name: str) -> str:
        value = values.get(name)
        return "" if value is None else value

    out["LTarget"], out["RTarget"], out["Operand"] = (
        text("attribute"),
        text("value"),
        text("operator"),
    )
    for special in ("version", "semver", "regexp", "set_contains"):
        if text(special):
            out["Operand"], out["RTarget"] = special, text(special)
    if values.get("distinct_hosts") is not None:
        out["Operand"], out["RTarget"] = "distinct_hosts", to_string(values["distinct_hosts"])
    if text("distinct_property"):
        out["Operand"], out["LTarget"] = "distinct_property", text("distinct_property")
    if out["Operand"] == "":
        out["Operand"] = "="


def _decode_affinity(decoder: Decoder, view: View, out: dict[str, Any]) -> None:
    """jobspec2 decodeAffinity."""
    values = _spec_values(decoder, view, _AFFINITY_SPEC)
    if values is None:
        return

    def text(name: str) -> str:
        value = values.get(name)
        return "" if value is None else value

    out["LTarget"], out["RTarget"], out["Operand"] = (
        text("attribute"),
        text("value"),
        text("operator"),
    )
    if values.get("weight") is not None:
        # Go truncates the number to an int8 (wrapping around, as a conversion does).
        out["Weight"] = (int(values["weight"]) + 128) % 256 - 128
    for special in (
        "version",
        "semver",
        "regexp",
        "set_contains_any",
        "set_contains_all",
        "set_contains",
    ):
        if text(special):
            out["Operand"], out["RTarget"] = special, text(special)
    if out["Operand"] == "":
        out["Operand"] = "="


_BLOCK_DECODERS = {
    "TaskGroup": _decode_task_group,
    "Task": _decode_task,
    "Constraint": _decode_constraint,
    "Affinity": _decode_affinity,
}


# -- driver configs: decodeMapInterfaceType ----------------------------------------------------


def _evaluate_deferred(decoder: Decoder) -> list[Diag]:
    late: list[Diag] = []
    for target, attrs in decoder.deferred:
        for name, attr in attrs.items():
            try:
                target[name] = go_json(evaluate(attr.expr, scoped(decoder.ctx, attr)))
            except DiagError as exc:
                late.extend(exc.diags)
        ordered = dict(sorted(target.items()))
        target.clear()
        target.update(ordered)
    return late


def go_json(value: Any) -> Any:
    """A value as Nomad's JSON shows a map[string]interface{}: keys sorted, whole numbers int."""
    if isinstance(value, dict):
        return {k: go_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [go_json(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
