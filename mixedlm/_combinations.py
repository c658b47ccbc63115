"""Fixed parts made only of factors: X from the distinct combinations of their levels.

When every variable of the fixed-effects formula is a pandas categorical
column, a row of X depends on the row only through the combination of those
variables' levels (dummy and contrast codes, their interactions, and any
row-wise expression of them). formulaic then materialises X on one row per
distinct combination, and X is that small matrix's rows gathered by each
observation's combination. formulaic's own cost grows with the rows
(measured: ``1 + a*b`` with 50 columns on 2M rows, 1.27 s through its sparse
output); this costs one pass over the factor codes plus the gather.

The result is exactly formulaic's X (same values, names and column order):
the small frame keeps the columns' categorical dtypes, so the levels and
contrasts are those of the full data. That holds only for terms that are
built row by row from the levels, so the route is taken only for formulas
made of factor names, the term operators and ``C(...)`` with formulaic's
``contr.*`` codings (:func:`row_wise_terms`): a Python expression in braces,
``I(...)`` or a stateful transform (``center``, ``scale``, ``poly``, splines)
may use the whole column (``{a.cat.codes - a.cat.codes.mean()}``), whose
value over the combinations is not its value over the rows.
"""
from __future__ import annotations

import io
import tokenize

import numpy as np
import pandas as pd
from numpy.typing import NDArray

#: Used when there are at most this fraction as many distinct combinations as
#: rows (below that, formulaic on the rows themselves is as cheap).
COMBINATION_MAX_FRACTION = 0.25
#: A presence table over every possible combination (with its int64 running
#: count, 9 bytes an entry) is used up to this many entries per row, so that it
#: costs about as much memory as the inverse; larger code spaces are sorted
#: (``np.unique``) instead.
DENSE_CODE_SPACE_PER_ROW = 1


#: Punctuation a row-wise fixed part may use: term operators, and the calls,
#: arguments and literals of ``C(x, contr.sum)`` or ``C(x, levels=["a", "b"])``.
_ROW_WISE_OPS = {"+", "-", "*", "**", ":", "/", "(", ")", ",", "=", ".", "[", "]"}


def row_wise_terms(rhs: str, variables: list[str]) -> bool:
    """Whether every term of the fixed part ``rhs`` is built row by row from the
    levels of ``variables``.

    Accepted: the variables' names, the term operators, and ``C(x, ...)``
    whose first argument is one variable and whose further arguments are
    codings (``contr.<name>(...)``), keyword arguments and literals (numbers,
    plain strings, lists). Anything else may read the whole column or name
    something that is not a column (formulaic's ``exp``, ``scale``, ...) and
    is left to formulaic on the rows: braces, f-strings, other calls,
    attribute access, indexing, unpacking, and names that are not one of
    ``variables``.
    """
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(rhs.strip()).readline)
                  if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return False
    names = set(variables)
    # one entry per open parenthesis: [argument index, tokens seen in the first
    # argument] for a C() call, None for a grouping or coding parenthesis
    calls: list[list[int] | None] = []
    for i, tok in enumerate(tokens):
        text = tok.string
        prev = tokens[i - 1].string if i else ""
        nxt = tokens[i + 1].string if i + 1 < len(tokens) else ""
        nxt_is_name = i + 1 < len(tokens) and tokens[i + 1].type == tokenize.NAME
        in_option = any(c is not None and c[0] > 0 for c in calls)
        if calls and calls[-1] is not None and calls[-1][0] == 0 and text not in (",", ")"):
            # C()'s first argument: exactly one of the variables
            calls[-1][1] += 1
            if calls[-1][1] > 1 or tok.type != tokenize.NAME or text not in names:
                return False
            continue
        if tok.type == tokenize.NAME:
            coding = prev == "." and i >= 2 and tokens[i - 2].string == "contr"
            if text == "C" and nxt == "(" and not in_option:
                continue
            if (text == "contr" and nxt == ".") or coding:
                if not in_option:
                    return False  # a coding outside C()'s options
                continue
            if in_option and (nxt == "=" or text in ("True", "False", "None")):
                continue  # a keyword argument's name or a literal
            if text in names and not in_option and nxt != "(":
                continue  # a variable, as a term
            return False
        if tok.type == tokenize.NUMBER:
            continue
        if tok.type == tokenize.STRING:
            prefix = text[:len(text) - len(text.lstrip("rRbBuUfF"))]
            if "f" in prefix.lower():
                return False  # an f-string runs code on the frame
            continue
        if tok.type != tokenize.OP or text not in _ROW_WISE_OPS:
            return False  # braces, |, @, %, ...
        if text in ("*", "**") and calls:
            return False  # unpacking (or arithmetic) inside a call
        if text == "(":
            calls.append([0, 0] if prev == "C" else None)
        elif text == ")":
            if not calls or (calls[-1] is not None and calls[-1][1] == 0):
                return False  # unbalanced, or C() without its variable
            calls.pop()
        elif text == "," and calls and calls[-1] is not None:
            calls[-1][0] += 1
        elif text == "." and not (prev == "contr" and nxt_is_name):
            return False  # attribute access other than contr.<name>
        elif text == "[" and not (in_option and prev in ("(", ",", "=", "[")):
            return False  # indexing; only a list literal among C()'s options
        elif text == "=" and not in_option:
            return False
    return not calls


#: formulaic's own names that a fixed part on this route may use; a data column
#: of the same name takes their place on the rows, but not in the small frame.
RESERVED_NAMES = ("C", "contr")


def combination_factors(rhs: str, variables: list[str] | None, data: pd.DataFrame
                        ) -> list[str] | None:
    """The factors to take the combinations route with, or None: every variable
    categorical (:func:`categorical_variables`), the terms row-wise
    (:func:`row_wise_terms`), and no data column named like formulaic's
    ``C`` or ``contr``."""
    factors = categorical_variables(variables, data)
    if (factors is None or any(name in data.columns for name in RESERVED_NAMES)
            or not row_wise_terms(rhs, factors)):
        return None
    return factors


def categorical_variables(variables: list[str] | None, data: pd.DataFrame) -> list[str] | None:
    """``variables`` when there is at least one and every one is a categorical
    column of ``data``; None otherwise."""
    if not variables or any(v not in data.columns or not isinstance(data[v], pd.Series)
                            or not isinstance(data[v].dtype, pd.CategoricalDtype)
                            for v in variables):
        return None
    return list(variables)


def level_combinations(data: pd.DataFrame, variables: list[str]
                       ) -> tuple[NDArray[np.intp], NDArray[np.intp]] | None:
    """The distinct combinations of the variables' levels.

    Parameters
    ----------
    data : pandas.DataFrame
        Without missing values in ``variables`` (``_validation.drop_incomplete``).
    variables : list of str
        Categorical columns.

    Returns
    -------
    first : ndarray of shape (m,)
        A row of each combination (any one: they share X's row), combinations
        in code order.
    inverse : ndarray of shape (n,)
        Each row's combination, in ``[0, m)``.

    None when there are more than ``COMBINATION_MAX_FRACTION`` of the rows
    combinations, when a code is missing, or when the code space overflows.
    """
    n = len(data)
    code = np.zeros(n, dtype=np.int64)
    size = 1
    for v in variables:
        levels = data[v].cat.codes.to_numpy()
        k = max(len(data[v].cat.categories), 1)
        if size > np.iinfo(np.int64).max // k or (n and levels.min() < 0):
            return None
        code = code * k + levels  # mixed radix: one integer per combination
        size *= k
    limit = COMBINATION_MAX_FRACTION * n
    if size <= DENSE_CODE_SPACE_PER_ROW * n + 1024:
        present = np.zeros(size, dtype=bool)
        present[code] = True
        rank = np.cumsum(present, dtype=np.intp) - 1
        m = int(rank[-1]) + 1 if size else 0
        if m > limit:
            return None
        inverse = rank[code]
    else:
        codes, inverse = np.unique(code, return_inverse=True)
        m = len(codes)
        if m > limit:
            return None
        inverse = inverse.astype(np.intp, copy=False)
    first = np.empty(m, dtype=np.intp)
    first[inverse] = np.arange(n, dtype=np.intp)  # one of each combination's rows
    return first, inverse


def combination_frame(data: pd.DataFrame, variables: list[str], first: NDArray[np.intp]
                      ) -> pd.DataFrame:
    """One row per combination, with the columns' dtypes (categories) kept."""
    return data[variables].iloc[first].reset_index(drop=True)
