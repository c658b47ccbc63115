"""Parsing of lme4-style model formulas.

A mixed-model formula such as ``"Reaction ~ 1 + Days + (1 + Days | Subject)"``
is split into

* the *fixed* part, a plain formula with the random-effects ("bar") terms
  removed, handed to formulaic later (``"Reaction ~ 1 + Days"``), and
* the *random* terms, one :class:`RandomTerm` per (left side, grouping factor)
  pair after lme4's expansions of ``||`` (``expandDoubleVerts``) and of nested
  grouping factors ``a/b`` (``findbars``/``expandSlash``).

The bar parsing is pure Python: it scans characters with a nesting-depth
counter (so ``(1 + log(x) | g)`` works) and never evaluates anything.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from ._scanner import (
    _EXAMPLE,
    _NAME_RE,
    _check_balanced,
    _has_bar,
    _join_terms,
    _normalise_whitespace,
    _scan,
    _split_terms,
    _strip_spaces,
    _top_positions,
)

__all__ = ["ParsedFormula", "RandomTerm", "parse_formula"]


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(lhs | group)`` after expansion.

    Attributes
    ----------
    lhs : str
        Formulaic-ready right-hand side for this term's model matrix, with the
        intercept made explicit: ``"1"``, ``"1 + Days"``, ``"0 + Days"``.
    group : str
        Grouping factor as written, whitespace removed: ``"Subject"``,
        ``"batch:cask"``.
    group_vars : tuple of str
        The data columns making up the grouping factor: ``("batch", "cask")``.
    source : str
        The bar term as the user wrote it (whitespace-normalised), for
        messages: ``"(1 + Days | Subject)"``.
    """

    lhs: str
    group: str
    group_vars: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class ParsedFormula:
    """A parsed mixed-model formula.

    Attributes
    ----------
    formula : str
        The original formula text, whitespace-normalised.
    response : str
        The left-hand side expression text, e.g. ``"Reaction"``.
    fixed : str
        Formulaic formula for the fixed-effects part, bar terms removed, e.g.
        ``"Reaction ~ 1 + Days"``; ``"y ~ 1"`` when only bar terms were given.
    random : tuple of RandomTerm
        The random-effects terms after expansion, in the order written.
    """

    formula: str
    response: str
    fixed: str
    random: tuple[RandomTerm, ...]



def _peel(term: str) -> str | None:
    """If ``term`` is a (possibly multiply) parenthesised bar ``(lhs | g)``,
    return its inner text ``lhs | g``; otherwise return None."""
    inner = term
    while inner.startswith("(") and inner.endswith(")"):
        # Does the opening parenthesis close at the very end?
        closes_at_end = True
        for i, c, depth, _ in _scan(inner):
            if c == ")" and depth == 0:
                closes_at_end = i == len(inner) - 1
                break
        if not closes_at_end:
            return None
        inner = inner[1:-1].strip()
        if _top_positions(inner, "|"):
            return inner
    return None


# ---------------------------------------------------------------------------
# Bar terms
# ---------------------------------------------------------------------------


def _expand_star(term: str) -> list[str]:
    """R's expansion of ``a*b*c`` into ``a, b, c, a:b, a:c, b:c, a:b:c``."""
    stars = _top_positions(term, "*")
    # '**' is formulaic's power operator: not handled here.
    if not stars:
        return [term]
    factors: list[str] = []
    start = 0
    for p in stars:
        factors.append(term[start:p].strip())
        start = p + 1
    factors.append(term[start:].strip())
    if any(not f for f in factors):
        raise ValueError(f"cannot expand the term {term!r}: empty factor around '*'")
    from itertools import combinations

    out: list[str] = []
    for k in range(1, len(factors) + 1):
        for combo in combinations(factors, k):
            out.append(":".join(combo))
    return out


def _degree(term: str) -> int:
    return len(_top_positions(term, ":")) + 1


def _parse_lhs(lhs: str, source: str) -> tuple[bool, list[tuple[str, str]]]:
    """Split a bar's left side into (has_intercept, other signed terms)."""
    parts = _split_terms(lhs, f"left side of the random-effects term {source}:")
    intercept = True
    rest: list[tuple[str, str]] = []
    for sign, term in parts:
        if term == "1":
            intercept = sign == "+"
        elif term == "0":
            intercept = sign == "-"
        else:
            rest.append((sign, term))
    return intercept, rest


def _double_bar_terms(lhs: str, source: str) -> list[str]:
    """lme4's ``expandDoubleVerts``: ``(x + z || g)`` -> ``1``, ``0 + x``, ``0 + z``."""
    intercept, rest = _parse_lhs(lhs, source)
    labels: list[str] = []
    for sign, term in rest:
        stars = _top_positions(term, "*")
        power = any(b == a + 1 for a, b in itertools.pairwise(stars))
        if power or _top_positions(term, "/^%"):
            # R's terms() would expand these; keep the parser small and explicit.
            raise ValueError(
                f"the random-effects term {source} uses {term!r} with '||'; write the "
                f"uncorrelated terms out explicitly, e.g. (1 | g) + (0 + x | g) + (0 + z | g)"
            )
        expanded = _expand_star(term)
        if sign == "+":
            labels.extend(t for t in expanded if t not in labels)
        else:
            labels = [t for t in labels if t not in expanded]
    # R's terms() orders the labels by degree (main effects, then interactions).
    labels.sort(key=_degree)
    out = ["1"] if intercept else []
    out.extend(f"0 + {t}" for t in labels)
    if not out:
        raise ValueError(
            f"the random-effects term {source} has no terms on its left side; expected "
            f"an intercept or at least one variable, e.g. (1 || g) or (x || g)"
        )
    return out


def _single_bar_lhs(lhs: str, source: str) -> str:
    """Normalise a ``|`` left side with an explicit ``1``/``0`` intercept."""
    intercept, rest = _parse_lhs(lhs, source)
    if not intercept and not any(sign == "+" for sign, _ in rest):
        raise ValueError(
            f"the random-effects term {source} has no columns: its intercept is removed "
            f"and there is no other term; expected e.g. (1 | g) or (0 + x | g)"
        )
    return _join_terms([("+", "1" if intercept else "0"), *rest])


def _parse_group(group_text: str, source: str) -> list[tuple[str, tuple[str, ...]]]:
    """Expand the grouping part: ``a/b`` -> ``[('a', ('a',)), ('a:b', ('a','b'))]``."""
    grp = _strip_spaces(group_text)
    expected = (
        "the grouping factor must be a variable or an interaction/nesting of variables, "
        "e.g. g, a:b or a/b"
    )
    if not grp:
        raise ValueError(
            f"the random-effects term {source} has an empty grouping factor after '|'; "
            f"expected a variable, e.g. (1 | g)"
        )
    # Only names, ':' and '/' are allowed: no function calls, '+', '*', brackets.
    levels = grp.split("/")
    nested: list[list[str]] = []
    for level in levels:
        names = level.split(":") if level else [""]
        for name in names:
            if not _NAME_RE.match(name):
                raise ValueError(
                    f"the random-effects term {source} has the grouping factor "
                    f"{grp!r}; {expected}. To group by an expression, add it to the data "
                    f"as a column first"
                )
        nested.append(names)
    out: list[tuple[str, tuple[str, ...]]] = []
    prefix: list[str] = []
    for names in nested:
        prefix = prefix + names
        label = ":".join(prefix)
        group_vars = tuple(n[1:-1] if n.startswith("`") else n for n in prefix)
        out.append((label, group_vars))
    return out


def _parse_bar(inner: str, source: str) -> list[RandomTerm]:
    """Parse ``lhs | g`` / ``lhs || g`` (the text inside the parentheses)."""
    bars = _top_positions(inner, "|")
    double = len(bars) == 2 and bars[1] == bars[0] + 1
    if len(bars) > 2 or (len(bars) == 2 and not double):
        raise ValueError(
            f"the random-effects term {source} has more than one bar; expected a single "
            f"'|' or '||' as in (lhs | g) or (lhs || g)"
        )
    lhs = inner[: bars[0]].strip()
    rhs = inner[bars[-1] + 1 :].strip()
    op = "||" if double else "|"
    if not lhs:
        raise ValueError(
            f"the random-effects term {source} has an empty left side before {op!r}; "
            f"expected e.g. (1 {op} g) for a random intercept or (1 + x {op} g)"
        )
    groups = _parse_group(rhs, source)
    lhss = _double_bar_terms(lhs, source) if double else [_single_bar_lhs(lhs, source)]
    return [
        RandomTerm(lhs=term_lhs, group=label, group_vars=group_vars, source=source)
        for term_lhs in lhss
        for label, group_vars in groups
    ]


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def parse_formula(formula: str) -> ParsedFormula:
    """Parse an lme4-style mixed-model formula.

    Parameters
    ----------
    formula : str
        A two-sided formula with at least one random-effects term, e.g.
        ``"Reaction ~ 1 + Days + (1 + Days | Subject)"``. Supported bar forms
        (lme4 semantics): ``(1 | g)``, ``(1 + x | g)``, ``(x | g)`` (implicit
        intercept), ``(0 + x | g)``, ``(-1 + x | g)``, ``(x - 1 | g)``,
        ``(x || g)`` (uncorrelated terms), grouping factors ``a:b``
        (interaction) and ``a/b`` (nesting: ``a`` and ``a:b``).

    Returns
    -------
    ParsedFormula
        The response, the fixed-effects formula (bars removed) and the
        expanded random-effects terms in the order written.

    Raises
    ------
    TypeError
        If ``formula`` is not a string.
    ValueError
        If the formula is empty, not two-sided, has unbalanced parentheses,
        a bar outside parentheses, a malformed bar term, or no random-effects
        term at all.

    Examples
    --------
    >>> p = parse_formula("Reaction ~ Days + (Days || Subject)")
    >>> p.fixed
    'Reaction ~ Days'
    >>> [(t.lhs, t.group) for t in p.random]
    [('1', 'Subject'), ('0 + Days', 'Subject')]
    """
    if not isinstance(formula, str):
        raise TypeError(
            f"formula must be a string such as 'Reaction ~ Days + (Days | Subject)'; "
            f"got {type(formula).__name__}"
        )
    text = _normalise_whitespace(formula)
    if not text:
        raise ValueError(f"the formula is empty; expected a formula, {_EXAMPLE}")
    _check_balanced(text, "formula")

    tildes = _top_positions(text, "~")
    if not tildes:
        raise ValueError(
            f"formula {text!r} has no '~'; expected 'response ~ terms', {_EXAMPLE}"
        )
    if len(tildes) > 1:
        raise ValueError(
            f"formula {text!r} has {len(tildes)} '~'; expected exactly one, as in "
            f"'response ~ terms', {_EXAMPLE}"
        )
    response = text[: tildes[0]].strip()
    rhs = text[tildes[0] + 1 :].strip()
    if not response:
        raise ValueError(
            f"formula {text!r} has no response (nothing left of '~'); a linear mixed "
            f"model needs one, {_EXAMPLE}"
        )
    if _has_bar(response):
        raise ValueError(
            f"the response {response!r} of formula {text!r} contains '|'; random-effects "
            f"terms belong on the right of '~', {_EXAMPLE}"
        )
    if not rhs:
        raise ValueError(
            f"formula {text!r} has nothing right of '~'; expected terms, {_EXAMPLE}"
        )

    parts = _split_terms(rhs, f"right side of formula {text!r}:")
    fixed_parts: list[tuple[str, str]] = []
    random: list[RandomTerm] = []
    for sign, term in parts:
        inner = _peel(term)
        if inner is not None:
            if sign == "-":
                raise ValueError(
                    f"the random-effects term {term} is subtracted in formula {text!r}; "
                    f"random-effects terms can only be added, e.g. 'y ~ x + {term}'"
                )
            random.extend(_parse_bar(inner, term))
            continue
        if _has_bar(term):
            if _top_positions(term, "|"):
                raise ValueError(
                    f"the term {term!r} in formula {text!r} has '|' outside parentheses; "
                    f"random-effects terms must be parenthesised, e.g. ({term})"
                )
            raise ValueError(
                f"the term {term!r} in formula {text!r} contains a random-effects bar "
                f"inside a larger expression; a random-effects term (lhs | g) must stand "
                f"alone and be added with '+', e.g. 'y ~ x + (1 | g)'"
            )
        fixed_parts.append((sign, term))

    if not random:
        raise ValueError(
            f"formula {text!r} contains no random-effects term such as (1|g); a linear "
            f"mixed model needs at least one. For a model without random effects use an "
            f"ordinary linear model (e.g. statsmodels.OLS)"
        )
    if not fixed_parts:
        fixed_rhs = "1"  # lme4's implicit intercept
    elif len(fixed_parts) == 1 and fixed_parts[0] == ("-", "1"):
        fixed_rhs = "0"  # 'y ~ (1|g) - 1': no fixed effects at all
    else:
        fixed_rhs = _join_terms(fixed_parts)
    return ParsedFormula(
        formula=text,
        response=response,
        fixed=f"{response} ~ {fixed_rhs}",
        random=tuple(random),
    )
