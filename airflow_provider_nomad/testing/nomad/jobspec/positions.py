"""Source ranges from Lark's tokens and trees.

A heredoc's interpolations are parsed on their own (python-hcl2 reads a heredoc as one token),
so their positions are relative to the snippet; :class:`Positions` shifts them back to where the
snippet sits in the jobspec.
"""

from __future__ import annotations

from dataclasses import dataclass

from lark import Token, Tree

from .diagnostics import Range


@dataclass(frozen=True)
class Positions:
    """Maps positions in a parsed snippet to positions in the whole source.

    :param line: the source line of the snippet's first character.
    :param col: the source column of the snippet's first character.
    :param offset: the source offset of the snippet's first character.
    """

    line: int = 1
    col: int = 1
    offset: int = 0

    def point(self, line: int, col: int) -> tuple[int, int]:
        if line == 1:
            return self.line, self.col + col - 1
        return self.line + line - 1, col

    def range(
        self, line: int, col: int, end_line: int, end_col: int, start: int, end: int
    ) -> Range:
        line, col = self.point(line, col)
        end_line, end_col = self.point(end_line, end_col)
        return Range(line, col, end_line, end_col, self.offset + start, self.offset + end)

    def token(self, tok: Token) -> Range:
        return self.range(
            tok.line, tok.column, tok.end_line, tok.end_column, tok.start_pos, tok.end_pos
        )

    def tree(self, tree: Tree) -> Range:
        meta = tree.meta
        return self.range(
            meta.line, meta.column, meta.end_line, meta.end_column, meta.start_pos, meta.end_pos
        )

    def newline(self, tok: Token) -> Range:
        # HCL's newline token is the "\n" alone: it ends at column 1 of the next line.
        line, col = self.point(tok.line, tok.column)
        return Range(
            line, col, line + 1, 1, self.offset + tok.start_pos, self.offset + tok.start_pos + 1
        )


#: positions in a whole document
DOCUMENT = Positions()


def token_range(tok: Token) -> Range:
    return DOCUMENT.token(tok)


def tree_range(tree: Tree) -> Range:
    return DOCUMENT.tree(tree)
