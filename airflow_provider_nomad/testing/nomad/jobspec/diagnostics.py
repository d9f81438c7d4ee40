"""Source ranges and HCL diagnostics, and the error the parse endpoint answers with.

Errors read like Nomad's: each diagnostic is ``input.hcl:<line>,<col>-<col>: <summary>; <detail>``
(Nomad names the submitted source ``input.hcl``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Nomad's parse endpoint hands the body to ``jobspec2`` under this file name, so every source
#: range in its error messages starts with it.
SOURCE_NAME = "input.hcl"


class JobspecError(ValueError):
    """A jobspec that Nomad (or this parser) would refuse.

    ``str(error)`` is the text Nomad's ``/v1/jobs/parse`` answers with status 400.

    :param message: the error text, one or more HCL diagnostics.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Range:
    """A source range; columns are 1-based and the end is exclusive, as in HCL."""

    line: int
    col: int
    end_line: int
    end_col: int
    #: character offsets of the start and (exclusive) end in the source text, where known;
    #: jobspec2 cuts unresolved references out of the source by offset.
    offset: int = field(default=-1, compare=False)
    end_offset: int = field(default=-1, compare=False)

    def __str__(self) -> str:
        if self.line == self.end_line:
            return f"{SOURCE_NAME}:{self.line},{self.col}-{self.end_col}"
        return f"{SOURCE_NAME}:{self.line},{self.col}-{self.end_line},{self.end_col}"

    def to(self, other: Range) -> Range:
        """hcl.RangeBetween: from this range's start to the other's end."""
        return Range(
            self.line, self.col, other.end_line, other.end_col, self.offset, other.end_offset
        )

    def start_point(self) -> Range:
        """The empty range at this range's start (hcl.Body.MissingItemRange's shape)."""
        return Range(self.line, self.col, self.line, self.col, self.offset, self.offset)


@dataclass(frozen=True)
class Diag:
    """One HCL diagnostic; ``str()`` gives hcl.Diagnostic.Error()'s text."""

    summary: str
    detail: str
    subject: Range | None = None

    def __str__(self) -> str:
        # Go prints a nil *hcl.Range as "<nil>".
        where = str(self.subject) if self.subject is not None else "<nil>"
        return f"{where}: {self.summary}; {self.detail}"


class DiagError(Exception):
    """Raised with the diagnostics that stop an evaluation (HCL returns them with a value)."""

    def __init__(self, *diags: Diag) -> None:
        super().__init__("\n".join(str(d) for d in diags))
        self.diags = list(diags)

    @property
    def diag(self) -> Diag:
        return self.diags[0]


def diagnostics_text(diags: list[Diag]) -> str:
    """hcl.Diagnostics.Error(): the first diagnostic and how many more there are."""
    if len(diags) == 1:
        return str(diags[0])
    return f"{diags[0]}, and {len(diags) - 1} other diagnostic(s)"
