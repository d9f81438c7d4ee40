"""Turn an HCL2 jobspec into the JSON ``Job`` that Nomad's ``POST /v1/jobs/parse`` returns.

:func:`parse_jobspec` serves the emulator's ``/v1/jobs/parse``. It follows Nomad's own
pipeline (``command/agent/job_endpoint.go`` -> ``jobspec2`` -> ``api.Job.Canonicalize``):

1. read the HCL text (:mod:`.reader`; python-hcl2 parses, :mod:`.syntax_errors` words its
   failures like HCL, :mod:`.templates` splits string templates);
2. declare ``variable``s, set them from the request's ``Variables`` (var-file text), check their
   types and validations, compute ``locals`` (:mod:`.variables`);
3. decode the ``job`` block into Nomad's api structs (:mod:`.job` for jobspec2's own decoders,
   :mod:`.gohcl` for the generic struct decoding, :mod:`.apistructs` for the structs, and
   :mod:`.content` for HCL's body rules, ``dynamic`` blocks included), evaluating expressions
   with HCL's operators and jobspec2's functions (:mod:`.evaluate`, :mod:`.references`,
   :mod:`.functions`) on cty-like values (:mod:`.values`, :mod:`.types`);
4. normalize as jobspec2 does (:mod:`.normalize`), then fill in defaults when the request asks
   for it (:mod:`.canonicalize`).

A reference the jobspec cannot resolve (``${attr.kernel.name}``, ``${NOMAD_META_day}``) stays in
the string as written, for the Nomad client to interpolate at run time, as Nomad does. What
Nomad accepts but this parser does not reproduce (Consul Connect blocks, a JSON jobspec, a few
functions such as ``bcrypt``) is refused with an error that names it, never dropped.

Errors read like Nomad's: each diagnostic is ``input.hcl:<line>,<col>-<col>: <summary>; <detail>``
(Nomad names the submitted source ``input.hcl``). :mod:`.registration` holds the defaults and
checks the server applies when a job is registered.
"""

from __future__ import annotations

from typing import Any

from .canonicalize import canonicalize_job
from .diagnostics import Diag, DiagError, JobspecError, Range, diagnostics_text
from .job import decode_file
from .normalize import normalize_job
from .reader import parse_syntax, read_body

__all__ = ["JobspecError", "parse_jobspec"]


def parse_jobspec(hcl: str, canonicalize: bool = False, variables: str = "") -> dict[str, Any]:
    """Parse an HCL2 jobspec into Nomad's JSON ``Job`` (without a ``{"Job": ...}`` wrapper).

    :param hcl: the jobspec text (``JobHCL`` of the parse request).
    :param canonicalize: apply the defaults of Nomad's ``api.Job.Canonicalize()``, as the parse
        endpoint does when the request says ``"Canonicalize": true``.
    :param variables: values for the jobspec's input variables, as the text of an HCL var file
        (``Variables`` of the parse request), e.g. ``business_date = "2026-05-04"``.
    :return: the job as Nomad's JSON encodes it: durations in nanoseconds, unset fields ``None``.
    :raises JobspecError: the jobspec is empty, not valid HCL, or not a valid (supported) job.
    """
    if hcl == "":
        # The endpoint refuses an empty JobHCL before it reaches the parser.
        raise JobspecError("Job spec is empty")
    for name, value in (("JobHCL", hcl), ("Variables", variables)):
        if not isinstance(value, str):
            # Nomad's JSON decoding refuses these before parsing anything.
            raise JobspecError(f"{name} must be a string (HCL text), got {type(value).__name__}")
    if _looks_like_json(hcl):
        raise JobspecError(str(_json_refused("jobspec", "jobspecs")))
    var_file = _var_file(variables)
    body = parse_syntax(hcl)
    try:
        decoded = decode_file(body, hcl, var_file)
    except DiagError as exc:
        # jobspec2 decode() joins its decoding diagnostics one per line.
        raise JobspecError("\n".join(str(d) for d in exc.diags)) from None
    if decoded.late:
        # Driver configs are evaluated after everything else decoded cleanly; their failures
        # come as one HCL diagnostics list.
        raise JobspecError(diagnostics_text(decoded.late))
    job = decoded.job
    normalize_job(job, decoded.job_id, decoded.vault, decoded.secrets, decoded.tasks)
    if canonicalize:
        canonicalize_job(job)
    return job


def _var_file(variables: str) -> Any:
    if not variables:
        return None
    if _looks_like_json(variables):
        raise JobspecError(
            "unable to parse var content: " + str(_json_refused("var content", "them"))
        )
    try:
        body, diags = read_body(variables)
    except JobspecError as exc:
        raise JobspecError(f"unable to parse var content: {exc}") from None
    if diags:
        raise JobspecError(f"unable to parse var content: {diagnostics_text(diags)}")
    return body


def _json_refused(what: str, plural: str) -> Diag:
    return Diag(
        f"Unsupported {what} format",
        f'The {what} starts with "{{", so Nomad would read it as JSON; this parser reads HCL2 '
        f"{plural} only.",
        Range(1, 1, 1, 2),
    )


def _looks_like_json(text: str) -> bool:
    # jobspec2.isJSON skips spaces only (not tabs or newlines) before looking for "{".
    for char in text:
        if char != " ":
            return char == "{"
    return False
