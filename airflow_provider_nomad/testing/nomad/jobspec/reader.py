"""Reading HCL text: python-hcl2's Lark parse tree -> the syntax tree of :mod:`.syntax`.

python-hcl2's grammar is looser than HCL's in places (two items on a line, multi-line quoted
strings...); the builder checks those and reports them with HCL's own diagnostics. It reads
heredocs as single tokens, so their templates are split by :mod:`.templates` and each
interpolated expression is parsed here on its own, positions shifted back into the document.
"""

from __future__ import annotations

import re

import lark
from hcl2.api import parses_to_tree
from lark import Token, Tree

from ..golang import quote
from .diagnostics import Diag, DiagError, JobspecError, Range, diagnostics_text
from .positions import DOCUMENT, Positions
from .syntax import (
    AnonSymbol,
    Attribute,
    BinaryOp,
    Block,
    Body,
    Conditional,
    Expr,
    For,
    FunctionCall,
    GetAttrStep,
    Index,
    IndexStep,
    Literal,
    Object,
    ObjectItem,
    Parentheses,
    RelativeTraversal,
    ScopeTraversal,
    Splat,
    Step,
    Template,
    Tuple,
    UnaryOp,
    Unsupported,
)
from .syntax_errors import syntax_diag
from .templates import (
    ELSE,
    ENDFOR,
    ENDIF,
    FOR,
    IF,
    INTERP,
    TEXT,
    Piece,
    assemble,
    flush_indentation,
    mask_interpolation_strips,
    scan_heredoc,
)
from .values import number


def parse_syntax(text: str) -> Body:
    """Parse with python-hcl2 and rebuild the tree; raise Nomad-shaped syntax errors."""
    body, diags = read_body(text)
    if diags:
        raise JobspecError(diagnostics_text(diags))
    return body


def read_body(text: str) -> tuple[Body, list[Diag]]:
    """The syntax tree of a whole file, and the diagnostics of what HCL would refuse.

    :raises JobspecError: the text does not parse at all.
    """
    masked, strips = mask_interpolation_strips(text)
    try:
        tree = parses_to_tree(masked)
    except lark.exceptions.UnexpectedInput as exc:
        raise JobspecError(str(syntax_diag(exc, text))) from None
    builder = _SyntaxBuilder(source=text, strips=strips)
    body = builder.body(tree.children[0])
    lines = text.split("\n")
    body.range = Range(1, 1, len(lines), len(lines[-1]) + 1, 0, len(text))
    return body, builder.diags


def parse_expression(text: str, where: Positions = DOCUMENT) -> Expr:
    """One expression on its own (a heredoc interpolation, a ``-var`` style value).

    :raises DiagError: the text is not a single valid expression.
    """
    # python-hcl2 parses whole bodies only, so the expression becomes an argument's value;
    # the prefix is taken off the positions again.
    prefix = "x = "
    shifted = Positions(where.line, where.col - len(prefix), where.offset - len(prefix))
    source = prefix + text.replace("\n", " ") + "\n"
    try:
        tree = parses_to_tree(source)
    except lark.exceptions.UnexpectedInput as exc:
        diag = syntax_diag(exc, source)
        subject = diag.subject
        if subject is not None:
            subject = shifted.range(
                subject.line, subject.col, subject.end_line, subject.end_col, 0, 0
            )
        raise DiagError(Diag(diag.summary, diag.detail, subject)) from None
    items = [c for c in tree.children[0].children if isinstance(c, Tree) and c.data == "attribute"]
    if len(items) != 1:
        raise DiagError(
            Diag(
                "Invalid expression",
                "Expected the start of an expression, but found an invalid expression token.",
                shifted.range(1, len(prefix) + 1, 1, len(prefix) + 1, len(prefix), len(prefix)),
            )
        )
    builder = _SyntaxBuilder(shifted)
    expr = builder.expr(items[0].children[2])
    if builder.diags:
        raise DiagError(*builder.diags)
    return expr


#: HCL's binary operators as python-hcl2 spells them
_BINARY_OPERATORS = ("||", "&&", "==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%")


class _SyntaxBuilder:
    """Rebuilds python-hcl2's parse tree, checking what its grammar is looser about than HCL."""

    def __init__(
        self,
        pos: Positions = DOCUMENT,
        source: str | None = None,
        strips: frozenset[int] = frozenset(),
    ) -> None:
        self.diags: list[Diag] = []
        self.pos = pos
        #: the unmasked document (heredocs are read from it, strip markers included)
        self.source = source
        #: offsets of the interpolation strip markers masked before parsing
        self.strips = strips

    # -- bodies, attributes, blocks ---------------------------------------------------------

    def body(self, tree: Tree, in_block: bool = False, close: Token | None = None) -> Body:
        body = Body()
        children = [c for c in tree.children if isinstance(c, Tree)]
        # Content on the line of the opening brace makes a single-line block (foo { a = 1 }).
        single_line = in_block and bool(children) and children[0].data != "new_line_or_comment"
        if single_line:
            self._check_single_line_body(children)
        previous: Tree | None = None
        for child in children:
            if child.data == "new_line_or_comment":
                previous = None
                continue
            if previous is not None and not single_line:
                # python-hcl2 accepts two items on one line; HCL wants a newline after each.
                self._missing_newline(previous, self.pos.token(self._first_token(child)))
            # An operator expression swallows the newline that ends its line.
            previous = None if _ends_with_newline(child) else child
            if child.data == "attribute":
                attr = self.attribute(child)
                existing = body.attributes.get(attr.name)
                if existing is not None:
                    self.diags.append(
                        Diag(
                            "Attribute redefined",
                            f"The argument {quote(attr.name)} was already set at "
                            f"{existing.name_range}. Each argument may be set only once.",
                            attr.name_range,
                        )
                    )
                else:
                    body.attributes[attr.name] = attr
            else:
                body.blocks.append(self.block(child))
        if previous is not None and not single_line and close is not None:
            self._missing_newline(previous, self.pos.token(close))  # "a = 1 }"
        return body

    def _check_single_line_body(self, children: list[Tree]) -> None:
        first = children[0]
        if first.data == "block":
            ident = self._name_token(first.children[0])
            following = first.children[1]
            if isinstance(following, Tree):
                following = self._first_token(following)
            following_range = self.pos.token(following)
            self.diags.append(
                Diag(
                    "Argument definition required",
                    "A single-line block definition can contain only a single argument. If you "
                    f"meant to define argument {quote(str(ident))}, use an equals sign to assign "
                    "it a value. To define a nested block, place it on a line of its own within "
                    "its parent block.",
                    self.pos.token(ident).to(following_range),
                )
            )
            return
        if len(children) < 2:
            return
        second = children[1]
        if second.data == "new_line_or_comment":
            self.diags.append(
                Diag(
                    "Invalid single-argument block definition",
                    "An argument definition on the same line as its containing block creates a "
                    "single-line block definition, which must also be closed on the same line. "
                    "Place the block's closing brace immediately after the argument definition.",
                    self.pos.newline(second.children[0]),
                )
            )
        else:
            self.diags.append(
                Diag(
                    "Invalid single-argument block definition",
                    "A single-line block definition must end with a closing brace immediately "
                    "after its single argument definition.",
                    self.pos.token(self._first_token(second)),
                )
            )

    def _missing_newline(self, previous: Tree, subject: Range) -> None:
        if previous.data == "attribute":
            self.diags.append(
                Diag(
                    "Missing newline after argument",
                    "An argument definition must end with a newline.",
                    subject,
                )
            )
        else:
            self.diags.append(
                Diag(
                    "Missing newline after block definition",
                    "A block definition must end with a newline.",
                    subject,
                )
            )

    def attribute(self, tree: Tree) -> Attribute:
        name_tok = self._name_token(tree.children[0])
        return Attribute(str(name_tok), self.pos.token(name_tok), self.expr(tree.children[2]))

    def block(self, tree: Tree) -> Block:
        type_tok = self._name_token(tree.children[0])
        labels: list[str] = []
        label_ranges: list[Range] = []
        open_brace: Token | None = None
        close_brace: Token | None = None
        inner: Tree | None = None
        for child in tree.children[1:]:
            if isinstance(child, Token):
                if child.type == "LBRACE":
                    open_brace = child
                elif child.type == "RBRACE":
                    close_brace = child
                continue
            if open_brace is not None:
                if child.data == "body":
                    inner = child
                continue
            if child.data == "new_line_or_comment":
                self.diags.append(
                    Diag(
                        "Invalid block definition",
                        'A block definition must have block content delimited by "{" and "}", '
                        "starting on the same line as the block header.",
                        self.pos.newline(child.children[0]),
                    )
                )
            elif child.data == "string":
                labels.append(self._label_string(child))
                label_ranges.append(self.pos.tree(child))
            else:
                label_tok = self._name_token(child)
                labels.append(str(label_tok))
                label_ranges.append(self.pos.token(label_tok))
        assert open_brace is not None and close_brace is not None  # the grammar requires them
        brace_range = self.pos.token(open_brace)
        body = self.body(inner, True, close_brace) if inner is not None else Body()
        body.range = brace_range.to(self.pos.token(close_brace))
        return Block(
            str(type_tok), self.pos.token(type_tok), labels, label_ranges, brace_range, body
        )

    def _label_string(self, tree: Tree) -> str:
        text = []
        for piece in self._string_pieces(tree):
            if piece.kind != TEXT:
                self.diags.append(
                    Diag(
                        "Invalid string literal",
                        "Template sequences are not allowed in this string. To include a literal "
                        '"$", double it (as "$$") to escape it.',
                        piece.expr.range if piece.expr is not None else piece.range,
                    )
                )
            else:
                text.append(piece.text)
        return "".join(text)

    # -- expressions ------------------------------------------------------------------------

    def expr(self, node: Tree | Token) -> Expr:
        if isinstance(node, Token):  # pragma: no cover - the grammar wraps terminals in rules
            rng = self.pos.token(node)
            return Unsupported(rng, rng, f"the token {node!s}")
        rng = self._significant(node)
        kind = node.data
        if kind == "expr_term":
            return self._term(node, rng)
        if kind in ("int_lit", "float_lit"):
            return Literal(rng, rng, number(str(node.children[0])))
        if kind == "literal_value":
            word = str(node.children[0])
            value = {"true": True, "false": False, "null": None}[word]
            return Literal(rng, rng, value)
        if kind == "string":
            return self._template(node)
        if kind in ("heredoc_template", "heredoc_template_trim"):
            return self._heredoc(node)
        if kind == "identifier":
            return ScopeTraversal(rng, rng, str(node.children[0]))
        if kind == "get_attr_expr_term":
            return self._with_steps(
                self.expr(node.children[0]), [self._get_attr(node.children[1])], rng
            )
        if kind == "index_expr_term":
            return self._index(node, rng)
        if kind in ("attr_splat_expr_term", "full_splat_expr_term"):
            return self._splat(node, rng)
        if kind == "tuple":
            items = [self.expr(c) for c in self._trees(node)]
            return Tuple(rng, self.pos.token(node.children[0]), items)
        if kind == "object":
            return self._object(node, rng)
        if kind == "function_call":
            return self._call(node, rng)
        if kind == "conditional":
            cond, true_result, false_result = (self.expr(c) for c in self._trees(node))
            return Conditional(rng, cond.start, cond, true_result, false_result)
        if kind == "binary_op":
            return self._binary(node, rng)
        if kind == "unary_op":
            op = str(node.children[0])
            operand = self.expr(node.children[1])
            return UnaryOp(rng, rng, op, operand)
        if kind in ("for_tuple_expr", "for_object_expr"):
            return self._for(node, rng)
        return Unsupported(rng, rng, f"The expression ({kind})")

    def _term(self, node: Tree, rng: Range) -> Expr:
        inner = self._trees(node)
        first = node.children[0]
        result = self.expr(inner[0])
        if isinstance(first, Token) and first.type == "LPAR":
            return Parentheses(rng, result.start, result)
        return result

    def _get_attr(self, node: Tree) -> Step:
        dot, name_node = node.children[0], node.children[1]
        name_tok = name_node.children[0]
        return GetAttrStep(str(name_tok), self.pos.token(dot).to(self.pos.token(name_tok)))

    def _index_step(self, node: Tree) -> Step | Expr:
        """A literal index as a traversal step, else the key expression (HCL's IndexExpr)."""
        if node.data == "short_index":
            dot, digits = node.children
            return IndexStep(int(str(digits)), self.pos.token(dot).to(self.pos.token(digits)))
        key = self.expr(self._trees(node)[0])
        rng = self.pos.tree(node)
        if isinstance(key, Literal):
            return IndexStep(key.value, rng)
        if isinstance(key, Template) and key.literal_text is not None:
            return IndexStep(key.literal_text, rng)
        return key

    def _index(self, node: Tree, rng: Range) -> Expr:
        base = self.expr(node.children[0])
        step = self._index_step(node.children[1])
        if isinstance(step, Expr):
            return Index(rng, base.start, base, step, self.pos.tree(node.children[1]))
        return self._with_steps(base, [step], rng)

    @staticmethod
    def _with_steps(base: Expr, steps: list[Step], rng: Range) -> Expr:
        # A chain of names and literal indices from a root name is one traversal (HCL's
        # ScopeTraversalExpr); steps after any other expression apply to its value.
        if isinstance(base, ScopeTraversal):
            return ScopeTraversal(rng, rng, base.root, [*base.steps, *steps])
        if isinstance(base, RelativeTraversal):
            return RelativeTraversal(rng, rng, base.source, [*base.steps, *steps])
        return RelativeTraversal(rng, rng, base, steps)

    def _splat(self, node: Tree, rng: Range) -> Expr:
        source = self.expr(node.children[0])
        marker = node.children[1]
        item = AnonSymbol(self.pos.tree(marker), self.pos.tree(marker))
        each: Expr = item
        for step_node in self._trees(marker):
            step = (
                self._get_attr(step_node)
                if step_node.data == "get_attr"
                else self._index_step(step_node)
            )
            if isinstance(step, Expr):
                each = Index(each.range.to(step.range), each.start, each, step, step.range)
            else:
                each = self._with_steps(each, [step], each.range.to(step.range))
        return Splat(rng, source.start, source, each, item)

    def _object(self, node: Tree, rng: Range) -> Expr:
        items: list[ObjectItem] = []
        for elem in node.children:
            if not isinstance(elem, Tree) or elem.data != "object_elem":
                continue
            key_node = elem.children[0].children[0]
            value = self.expr(elem.children[2])
            if key_node.data == "keyword":
                key_rng = self.pos.tree(key_node)
                word = str(key_node.children[0])
                items.append(ObjectItem(word, Literal(key_rng, key_rng, word), value))
                continue
            key = self.expr(key_node)
            name = None
            # HCL reads a bare name in key position as the key itself, not a reference.
            if isinstance(key, ScopeTraversal) and not key.steps:
                name = key.root
            elif isinstance(key, ScopeTraversal | RelativeTraversal):
                self.diags.append(
                    Diag(
                        "Ambiguous attribute key",
                        "If this expression is intended to be a reference, wrap it in "
                        "parentheses. If it's instead intended as a literal name containing "
                        "periods, wrap it in quotes to create a string literal.",
                        key.range,
                    )
                )
            items.append(ObjectItem(name, key, value))
        return Object(rng, self.pos.token(node.children[0]), items)

    def _call(self, node: Tree, rng: Range) -> Expr:
        names = [c for c in node.children if isinstance(c, Tree) and c.data == "identifier"]
        name = "::".join(str(n.children[0]) for n in names)
        name_range = self.pos.tree(names[0]).to(self.pos.tree(names[-1]))
        open_paren = next(c for c in node.children if isinstance(c, Token) and c.type == "LPAR")
        close_paren = next(c for c in node.children if isinstance(c, Token) and c.type == "RPAR")
        args: list[Expr] = []
        expand = False
        arguments = next(
            (c for c in node.children if isinstance(c, Tree) and c.data == "arguments"), None
        )
        if arguments is not None:
            args = [self.expr(c) for c in self._trees(arguments)]
            expand = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in arguments.children)
        start = name_range.to(self.pos.token(open_paren))
        return FunctionCall(rng, start, name, name_range, args, expand, self.pos.token(close_paren))

    def _binary(self, node: Tree, rng: Range) -> Expr:
        lhs = self.expr(node.children[0])
        term = node.children[1]
        operator = next(
            c for c in term.children if isinstance(c, Tree) and c.data == "binary_operator"
        )
        # python-hcl2 folds a newline before an operator into the operator's text.
        op = str(operator.children[0]).strip()
        assert op in _BINARY_OPERATORS, op
        rhs = self.expr(self._trees(term)[-1])
        return BinaryOp(rng, lhs.start, op, lhs, rhs)

    def _for(self, node: Tree, rng: Range) -> Expr:
        intro = next(c for c in node.children if isinstance(c, Tree) and c.data == "for_intro")
        names = [
            str(c.children[0])
            for c in intro.children
            if isinstance(c, Tree) and c.data == "identifier"
        ]
        collection = self.expr(self._trees(intro)[-1])
        key_var, value_var = (names[0], names[1]) if len(names) == 2 else (None, names[0])
        exprs = [c for c in self._trees(node) if c.data not in ("for_intro", "for_cond")]
        cond_node = next(
            (c for c in node.children if isinstance(c, Tree) and c.data == "for_cond"), None
        )
        condition = self.expr(self._trees(cond_node)[0]) if cond_node is not None else None
        group = any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children)
        if node.data == "for_object_expr":
            key_expr, value_expr = self.expr(exprs[0]), self.expr(exprs[1])
        else:
            key_expr, value_expr = None, self.expr(exprs[0])
        start = self.pos.token(node.children[0])
        return For(
            rng, start, key_var, value_var, collection, key_expr, value_expr, condition, group
        )

    # -- templates --------------------------------------------------------------------------

    def _template(self, tree: Tree) -> Expr:
        rng = self.pos.tree(tree)
        pieces = self._string_pieces(tree)
        try:
            parts = assemble(pieces)
        except DiagError as exc:
            self.diags.extend(exc.diags)
            parts = []
        if len(pieces) == 1 and pieces[0].kind == INTERP:
            start = rng  # "${x}" alone: HCL's TemplateWrapExpr starts at the quote
        elif pieces and pieces[0].kind == INTERP:
            start = pieces[0].expr.start  # type: ignore[union-attr]
        elif pieces:
            start = pieces[0].range
        else:
            # An empty string starts (and ends) right after its opening quote.
            start = Range(
                rng.line, rng.col + 1, rng.line, rng.col + 1, rng.offset + 1, rng.offset + 1
            )
        return Template(rng, start, parts)

    def _string_pieces(self, tree: Tree) -> list[Piece]:
        pieces: list[Piece] = []
        for part in tree.children:
            if not isinstance(part, Tree):
                continue
            piece = part.children[0]
            if isinstance(piece, Token):
                rng = self.pos.token(piece)
                if piece.type == "STRING_CHARS":
                    pieces.append(Piece(TEXT, rng, self._unescape(piece)))
                else:
                    # "$${" and "%%{" escape a literal "${" or "%{".
                    pieces.append(Piece(TEXT, rng, str(piece)[1:]))
                continue
            pieces.append(self._string_sequence(piece))
        return pieces

    def _string_sequence(self, tree: Tree) -> Piece:
        """An interpolation or directive of a quoted string as a template piece."""
        rng = self.pos.tree(tree)
        kind = {
            "interpolation": INTERP,
            "template_if_start": IF,
            "template_else": ELSE,
            "template_endif": ENDIF,
            "template_for_start": FOR,
            "template_endfor": ENDFOR,
        }.get(tree.data)
        if kind is None:  # pragma: no cover - the grammar has no other string parts
            return Piece(INTERP, rng, expr=Unsupported(rng, rng, "A template sequence"))
        strips = [
            i
            for i, c in enumerate(tree.children)
            if isinstance(c, Token) and c.type == "STRIP_MARKER"
        ]
        strip_left = bool(strips) and strips[0] == 1
        strip_right = bool(strips) and strips[-1] == len(tree.children) - 2
        if kind == INTERP:
            strip_left = rng.offset + 2 in self.strips
            strip_right = rng.end_offset - 2 in self.strips
        exprs = [self.expr(c) for c in self._trees(tree) if c.data != "identifier"]
        names = [str(c.children[0]) for c in self._trees(tree) if c.data == "identifier"]
        piece = Piece(kind, rng, strip_left=strip_left, strip_right=strip_right)
        if kind in (INTERP, IF, FOR):
            piece.expr = exprs[-1]
        if kind == FOR:
            piece.key_var, piece.value_var = (
                (names[0], names[1]) if len(names) == 2 else (None, names[0])
            )
        return piece

    def _unescape(self, tok: Token) -> str:
        raw = str(tok)
        out: list[str] = []
        i = 0
        while i < len(raw):
            char = raw[i]
            if char == "\n":
                line, col = self.pos.point(*_position_in(tok, i))
                self.diags.append(
                    Diag(
                        "Invalid multi-line string",
                        "Quoted strings may not be split over multiple lines. To produce a "
                        "multi-line string, either use the \\n escape to represent a newline "
                        'character or use the "heredoc" multi-line template syntax.',
                        Range(line, col, line + 1, 1),
                    )
                )
                out.append(char)
                i += 1
                continue
            if char != "\\":
                out.append(char)
                i += 1
                continue
            selector = raw[i + 1 : i + 2]
            simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
            if selector in simple:
                out.append(simple[selector])
                i += 2
                continue
            width = {"u": 4, "U": 8}.get(selector)
            digits = raw[i + 2 : i + 2 + width] if width else ""
            line, col = self.pos.point(*_position_in(tok, i))
            if width and len(digits) == width and re.fullmatch(r"[0-9A-Fa-f]+", digits):
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            if width:
                detail = (
                    f"The \\{selector} escape sequence must be followed by {width} "
                    "hexadecimal digits."
                )
            else:
                detail = f"The symbol {quote(selector)} is not a valid escape sequence selector."
            self.diags.append(
                Diag("Invalid escape sequence", detail, Range(line, col, line, col + 2))
            )
            i += 2
        return "".join(out)

    def _heredoc(self, tree: Tree) -> Expr:
        tok = tree.children[0]
        rng = self.pos.token(tok)
        raw = str(tok) if self.source is None else self.source[tok.start_pos : tok.end_pos]
        match = re.match(r"<<(-?)([A-Za-z][A-Za-z0-9._-]*)\r?\n", raw)
        assert match is not None  # the terminal's own pattern guarantees it
        # The token ends with the closing marker's line and its newline: drop both.
        content_lines = raw[match.end() :].split("\n")[:-2]
        content = "".join(line + "\n" for line in content_lines)
        where = Positions(rng.line + 1, 1, rng.offset + match.end())
        start = Range(rng.line + 1, 1, rng.line + 1, 1, where.offset, where.offset)
        try:
            pieces = scan_heredoc(content, where, parse_expression)
            if match.group(1):
                flush_indentation(pieces)
            parts = assemble(pieces)
        except DiagError as exc:
            self.diags.extend(exc.diags)
            parts = []
        return Template(rng, start, parts)

    # -- parse-tree access ------------------------------------------------------------------

    @staticmethod
    def _trees(node: Tree) -> list[Tree]:
        """A node's sub-trees without the newlines and comments between them."""
        return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]

    def _significant(self, tree: Tree) -> Range:
        """A tree's range without the newline an operator expression may end with."""
        tokens = [t for t in tree.scan_values(lambda v: isinstance(v, Token))]
        while tokens and tokens[-1].type == "NL_OR_COMMENT":
            tokens.pop()
        if not tokens:
            return self.pos.tree(tree)
        return self.pos.tree(tree).to(self.pos.token(tokens[-1]))

    @staticmethod
    def _name_token(tree: Tree) -> Token:
        return tree.children[0]

    @staticmethod
    def _first_token(tree: Tree) -> Token:
        for tok in tree.scan_values(lambda v: isinstance(v, Token)):
            return tok
        raise AssertionError("a body item always starts with a token")  # pragma: no cover


def _ends_with_newline(tree: Tree) -> bool:
    last: Tree | Token = tree
    while isinstance(last, Tree):
        if last.data == "new_line_or_comment":
            return True
        if not last.children:
            return False
        last = last.children[-1]
    return last.type == "NL_OR_COMMENT" or str(last).endswith("\n")  # heredocs end so


def _position_in(tok: Token, index: int) -> tuple[int, int]:
    """Line and column (in the parsed text) of the character at ``index`` inside a token."""
    before = str(tok)[:index]
    newlines = before.count("\n")
    if newlines == 0:
        return tok.line, tok.column + index
    return tok.line + newlines, index - before.rfind("\n")
