"""Character scanning for formulas: nesting depth, quotes, top-level splitting.

Pure string functions used by :mod:`mixedlm._formula`; nothing is evaluated.
"""

from __future__ import annotations

import re

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_QUOTES = ("'", '"', "`")
_NAME_RE = re.compile(r"^(?:[A-Za-z_.][A-Za-z0-9_.]*|`[^`]+`)$")
_EXAMPLE = "e.g. 'y ~ x + (1 | g)'"


# ---------------------------------------------------------------------------
# Character scanning
# ---------------------------------------------------------------------------


def _outside_quotes(text: str):
    """Yield ``(index, char)`` for the characters outside quotes.

    Quotes are ``'...'``, ``"..."`` and backticks; a backslash escapes the next
    character except inside backticks. Quote characters themselves are not
    yielded. If the text ends inside a quote, a last ``(quote_position, "")``
    is yielded so that callers can report it.
    """
    quote, quote_pos, i, n = None, -1, 0, len(text)
    while i < n:
        c = text[i]
        if quote is not None:
            if c == "\\" and quote != "`":
                i += 2
                continue
            if c == quote:
                quote = None
        elif c in _QUOTES:
            quote, quote_pos = c, i
        else:
            yield i, c
        i += 1
    if quote is not None:
        yield quote_pos, ""


def _scan(text: str):
    """Yield ``(index, char, depth, brace_depth)`` for characters outside quotes.

    ``depth`` counts all open brackets ``( [ {`` before the character (a
    closing bracket is reported at the depth of its content minus one, i.e.
    the depth it closes back to); ``brace_depth`` counts open ``{`` only
    (formulaic's verbatim Python blocks, in which ``|`` is not a bar).
    Brackets and quotes are assumed balanced (see :func:`_check_balanced`).
    """
    depth = 0
    braces = 0
    for i, c in _outside_quotes(text):
        if not c:
            continue
        if c in _OPEN:
            yield i, c, depth, braces
            depth += 1
            if c == "{":
                braces += 1
        elif c in _CLOSE:
            depth -= 1
            if c == "}":
                braces -= 1
            yield i, c, depth, braces
        else:
            yield i, c, depth, braces


def _pointer(text: str, pos: int) -> str:
    """Return ``text`` with a caret line under position ``pos``."""
    return f"\n    {text}\n    {' ' * pos}^"


def _check_balanced(text: str, where: str) -> None:
    """Raise ValueError saying where brackets or quotes are unbalanced."""
    stack: list[tuple[str, int]] = []
    for i, c in _outside_quotes(text):
        if not c:
            raise ValueError(
                f"unterminated quote in {where} {text!r}: {text[i]} at position {i} "
                f"is never closed" + _pointer(text, i)
            )
        if c in _OPEN:
            stack.append((c, i))
        elif c in _CLOSE:
            if not stack:
                raise ValueError(
                    f"unbalanced parentheses in {where} {text!r}: {c!r} at position {i} "
                    f"has no matching {_CLOSE[c]!r}" + _pointer(text, i)
                )
            opener, opos = stack.pop()
            if _OPEN[opener] != c:
                raise ValueError(
                    f"unbalanced parentheses in {where} {text!r}: {opener!r} at position "
                    f"{opos} is closed by {c!r} at position {i}; expected "
                    f"{_OPEN[opener]!r}" + _pointer(text, i)
                )
    if stack:
        opener, opos = stack[-1]
        raise ValueError(
            f"unbalanced parentheses in {where} {text!r}: {opener!r} at position {opos} "
            f"is never closed; expected a matching {_OPEN[opener]!r}" + _pointer(text, opos)
        )


def _normalise_whitespace(text: str) -> str:
    """Collapse whitespace runs outside quotes to one space and strip."""
    out: list[str] = []
    quote = None
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if quote is not None:
            out.append(c)
            if c == "\\" and quote != "`" and i + 1 < n:
                out.append(text[i + 1])
                i += 2
                continue
            if c == quote:
                quote = None
            i += 1
            continue
        if c.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            i += 1
            continue
        if c in _QUOTES:
            quote = c
        out.append(c)
        i += 1
    return "".join(out).strip()


def _strip_spaces(text: str) -> str:
    """Remove all whitespace outside backtick/quote-quoted names."""
    out: list[str] = []
    quote = None
    for c in text:
        if quote is not None:
            out.append(c)
            if c == quote:
                quote = None
            continue
        if c in _QUOTES:
            quote = c
        if not c.isspace():
            out.append(c)
    return "".join(out)


def _top_positions(text: str, chars: str) -> list[int]:
    """Indices of characters in ``chars`` at bracket depth 0, outside quotes."""
    return [i for i, c, depth, _ in _scan(text) if depth == 0 and c in chars]


def _has_bar(text: str) -> bool:
    """Whether ``text`` contains a ``|`` outside quotes and ``{...}`` blocks."""
    return any(c == "|" and braces == 0 for _, c, _, braces in _scan(text))


def _split_terms(text: str, where: str) -> list[tuple[str, str]]:
    """Split ``text`` at top-level ``+``/``-`` into ``(sign, term)`` pairs.

    Consecutive signs are combined (``x + -1`` is ``x - 1``); a leading sign is
    unary. Raise ValueError for an empty term (``x + + z``, ``x +``).
    """
    parts: list[tuple[str, str]] = []
    sign = "+"
    start = 0
    pending = False  # at least one operator was seen
    for i, c, depth, _ in _scan(text):
        if depth != 0 or c not in "+-":
            continue
        chunk = text[start:i].strip()
        if chunk:
            parts.append((sign, chunk))
            sign = c
        else:
            # unary or doubled sign ('-1 + x', 'x + -1'): combine
            sign = "+" if (sign == "+") == (c == "+") else "-"
        pending = True
        start = i + 1
    chunk = text[start:].strip()
    if not chunk:
        if pending:
            raise ValueError(
                f"{where} {text!r} ends with the operator {sign!r}; expected a term after it"
            )
        raise ValueError(f"{where} {text!r} is empty; expected at least one term")
    parts.append((sign, chunk))
    return parts


def _join_terms(parts: list[tuple[str, str]]) -> str:
    """Inverse of :func:`_split_terms`: ``[('+','1'),('+','x')] -> '1 + x'``."""
    out = []
    for k, (sign, term) in enumerate(parts):
        if k == 0:
            out.append(term if sign == "+" else "-" + term)
        else:
            out.append(f"{sign} {term}")
    return " ".join(out)
