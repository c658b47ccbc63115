"""Input checks at the Python boundary.

The compiled kernels assume clean input: finite float64 arrays, contiguous
0-based int32 grouping codes, no missing values. Everything a user can get
wrong is caught here, and every message names the column, term or value at
fault and says what was expected.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = [
    "check_columns",
    "check_dataframe",
    "check_finite_matrix",
    "check_grouping",
    "check_response",
    "drop_incomplete",
]

_MAX_LISTED = 20  # columns listed in "available columns" messages
_MAX_BAD_COLUMNS = 5  # non-finite matrix columns described in one message


def _list_names(names: list, limit: int = _MAX_LISTED) -> str:
    """``'a', 'b', 'c'`` with a ``..., and N more`` tail past ``limit``."""
    shown = ", ".join(repr(str(n)) for n in names[:limit])
    if len(names) > limit:
        shown += f", ... and {len(names) - limit} more"
    return shown


def check_dataframe(data: object) -> pd.DataFrame:
    """Check that ``data`` is a non-empty :class:`pandas.DataFrame`.

    Parameters
    ----------
    data : object
        The ``data`` argument the user passed.

    Returns
    -------
    pandas.DataFrame
        ``data`` itself (not copied).

    Raises
    ------
    TypeError
        If ``data`` is not a DataFrame.
    ValueError
        If it has no rows.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(
            f"data must be a pandas.DataFrame; got {type(data).__module__}."
            f"{type(data).__qualname__}. Convert it first, e.g. with pandas.DataFrame(data)"
        )
    if len(data) == 0:
        cols = list(data.columns)
        raise ValueError(
            f"data has no rows (columns: {_list_names(cols) if cols else 'none'}); "
            f"expected at least one observation per grouping level"
        )
    return data


def check_columns(required: Iterable[str], data: pd.DataFrame, what: str) -> None:
    """Check that every name in ``required`` is a column of ``data``.

    Parameters
    ----------
    required : iterable of str
        Column names the model needs.
    data : pandas.DataFrame
        The data.
    what : str
        Where the names come from, for the message, e.g. ``"the formula"``.

    Raises
    ------
    ValueError
        For unknown columns, e.g. ``"column 'Reacton' (used in the formula) is
        not in the data; did you mean 'Reaction'?"``. Close matches (by
        :func:`difflib.get_close_matches` and case-insensitively) are
        suggested; otherwise the available columns are listed. Also raised
        when a required column name appears more than once in ``data``.
    """
    columns = list(data.columns)
    names = list(dict.fromkeys(required))
    missing = [n for n in names if n not in data.columns]
    if missing:
        as_str = [str(c) for c in columns]
        lower: dict[str, list[str]] = {}
        for c in as_str:
            lower.setdefault(c.lower(), []).append(c)
        sentences = []
        list_available = False
        for name in missing:
            name_s = str(name)
            suggestions = [c for c in lower.get(name_s.lower(), []) if c != name_s]
            for c in difflib.get_close_matches(name_s, as_str, n=3, cutoff=0.6):
                if c not in suggestions:
                    suggestions.append(c)
            sentence = f"column {name_s!r} (used in {what}) is not in the data"
            if len(suggestions) == 1:
                sentence += f"; did you mean {suggestions[0]!r}?"
            elif suggestions:
                sentence += f"; did you mean one of {_list_names(suggestions)}?"
            else:
                list_available = True
            sentences.append(sentence)
        if list_available:
            avail = _list_names(as_str) if as_str else "none"
            if len(sentences) == 1:
                sentences[0] += f"; available columns: {avail}"
            else:
                sentences.append(f"available columns: {avail}")
        raise ValueError("\n".join(sentences))
    if not data.columns.is_unique:
        dup = data.columns[data.columns.duplicated()]
        clash = [n for n in names if n in dup]
        if clash:
            raise ValueError(
                f"column {str(clash[0])!r} (used in {what}) appears "
                f"{int((data.columns == clash[0]).sum())} times in the data; expected "
                f"unique column names: rename or drop the duplicates"
            )


def drop_incomplete(data: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, int]:
    """Drop the rows with a missing value in any of ``columns``.

    Missing means NaN, None, ``pandas.NA`` or NaT, including missing entries
    of categorical columns (lme4's ``na.omit`` on the model frame).

    Parameters
    ----------
    data : pandas.DataFrame
        The data; never modified.
    columns : list of str
        The model's columns (response, fixed-effects variables, grouping
        variables).

    Returns
    -------
    kept : pandas.DataFrame
        The complete rows, as a new frame with a fresh ``RangeIndex``.
    n_dropped : int
        How many rows were dropped.

    Raises
    ------
    ValueError
        If a column is unknown, or if every row has a missing value.
    """
    cols = list(dict.fromkeys(columns))
    check_columns(cols, data, "the model")
    if not cols:
        return data.reset_index(drop=True), 0
    na = data[cols].isna()
    mask = na.to_numpy().any(axis=1)
    n_dropped = int(mask.sum())
    if n_dropped == len(data):
        counts = na.sum()
        detail = ", ".join(
            f"{str(c)!r}: {int(k)} missing" for c, k in counts.items() if k > 0
        )
        raise ValueError(
            f"all {len(data)} rows have a missing value in at least one of the model's "
            f"columns ({detail}); expected some complete rows. Fill or drop the missing "
            f"values, or leave the mostly-missing columns out of the formula"
        )
    kept = data.loc[~mask] if n_dropped else data
    # reset_index returns a new frame: the caller's frame is never modified.
    return kept.reset_index(drop=True), n_dropped


def _first_value(values: np.ndarray) -> str:
    """repr of the first non-missing value, for messages."""
    for v in values[:1000]:
        if not pd.isna(v):
            return repr(v.item() if isinstance(v, np.generic) else v)
    return "<missing>"


def check_response(y: pd.Series | np.ndarray, name: str) -> np.ndarray:
    """Check and convert the response to a finite float64 vector.

    Parameters
    ----------
    y : pandas.Series or numpy.ndarray
        The response values (a one-column DataFrame is accepted too).
    name : str
        The response as written in the formula, for messages.

    Returns
    -------
    numpy.ndarray
        A new contiguous float64 array. Booleans become 0.0/1.0.

    Raises
    ------
    TypeError
        If the response is not numeric (strings, categoricals, objects,
        dates, complex numbers).
    ValueError
        If it is not one-dimensional, or has missing or infinite values.
    """
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(
                f"response {name!r} gives {y.shape[1]} columns ({_list_names(list(y.columns))}); "
                f"expected a single numeric column (a categorical or string response is "
                f"expanded into several columns: convert it to numbers first)"
            )
        y = y.iloc[:, 0]
    how = (
        f"convert it first, e.g. data[{name!r}] = pandas.to_numeric(data[{name!r}]) "
        f"or .astype(float)"
    )
    if isinstance(y, pd.Series):
        dtype = y.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            raise TypeError(
                f"response {name!r} is categorical (categories "
                f"{_list_names(list(dtype.categories), 5)}); the response must be numeric: "
                f"{how}"
            )
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
            values = y.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            raw = y.to_numpy()
            raise TypeError(
                f"response {name!r} has dtype {dtype} (e.g. the value {_first_value(raw)}); "
                f"the response must be numeric: {how}"
            )
    else:
        arr = np.asarray(y)
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 1:
            raise ValueError(
                f"response {name!r} has shape {arr.shape}; expected a one-dimensional vector"
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"response {name!r} has dtype {arr.dtype} (e.g. the value "
                f"{_first_value(arr)}); the response must be numeric: {how}"
            )
        values = arr.astype(np.float64)
    values = np.array(values, dtype=np.float64, order="C", copy=True)
    if values.ndim != 1:
        raise ValueError(
            f"response {name!r} has shape {values.shape}; expected a one-dimensional vector"
        )
    finite = np.isfinite(values)
    if not finite.all():
        nan = np.isnan(values)
        if nan.any():
            rows = np.flatnonzero(nan)
            raise ValueError(
                f"response {name!r} has {rows.size} missing (NaN) "
                f"value{'s' if rows.size != 1 else ''}, e.g. at row {rows[0]}; expected "
                f"finite numbers (rows with missing values are normally dropped first)"
            )
        rows = np.flatnonzero(~finite)
        raise ValueError(
            f"response {name!r} has {rows.size} infinite value{'s' if rows.size != 1 else ''}, "
            f"e.g. at row {rows[0]}; expected finite numbers (check a transformation such "
            f"as log of zero, or drop those rows)"
        )
    return values


def check_finite_matrix(X: np.ndarray, names: list[str], what: str) -> None:
    """Check that a model matrix has only finite values.

    Parameters
    ----------
    X : numpy.ndarray
        Matrix of shape (n, p) (a vector is treated as one column).
    names : list of str
        Column names, for the message.
    what : str
        The matrix, for the message, e.g. ``"the fixed-effects model matrix"``.

    Raises
    ------
    ValueError
        Naming each column with NaN or infinite values and a row where one
        occurs.
    """
    X = np.asarray(X)
    if X.dtype.kind in "biu":
        return
    if X.ndim == 1:
        X = X[:, None]
    if X.dtype.kind not in "fc":
        X = X.astype(np.float64)
    # Fast path without an (n, p) boolean temporary: a column containing a NaN
    # or an infinity has a non-finite sum (the converse can fail only through
    # overflow, which the exact per-column check below filters out).
    with np.errstate(over="ignore", invalid="ignore"):
        sums = X.sum(axis=0)
    candidates = np.flatnonzero(~np.isfinite(sums))
    problems = []
    for j in candidates:
        col = X[:, j]
        nan = np.isnan(col)
        inf = np.isinf(col)
        n_nan = int(nan.sum())
        n_inf = int(inf.sum())
        if n_nan == 0 and n_inf == 0:
            continue
        label = repr(str(names[j])) if j < len(names) else f"{j} (0-based)"
        kinds = []
        if n_inf:
            kinds.append(f"{n_inf} infinite value{'s' if n_inf != 1 else ''}")
        if n_nan:
            kinds.append(f"{n_nan} NaN value{'s' if n_nan != 1 else ''}")
        row = int(np.flatnonzero(nan | inf)[0])
        problems.append(f"column {label} has {' and '.join(kinds)}, e.g. at row {row}")
    if problems:
        shown = "; ".join(problems[:_MAX_BAD_COLUMNS])
        if len(problems) > _MAX_BAD_COLUMNS:
            shown += f"; and {len(problems) - _MAX_BAD_COLUMNS} more columns"
        raise ValueError(
            f"{what} has non-finite values: {shown}; expected finite numbers (check a "
            f"transformation such as log of zero or division by zero, or drop those rows)"
        )


def check_grouping(n_levels: int, nobs: int, group: str) -> None:
    """lme4's check on the number of levels of a grouping factor.

    Parameters
    ----------
    n_levels : int
        Number of (observed) levels of the grouping factor.
    nobs : int
        Number of observations.
    group : str
        The grouping factor as written, e.g. ``"Subject"`` or ``"batch:cask"``.

    Raises
    ------
    ValueError
        If ``n_levels < 1`` or ``n_levels >= nobs``.
    """
    if n_levels < 1:
        raise ValueError(
            f"grouping factor {group!r} has no levels; expected at least one (are all "
            f"its values missing?)"
        )
    if n_levels >= nobs:
        raise ValueError(
            f"grouping factor {group!r} has {n_levels} levels for {nobs} observations; "
            f"the number of levels of each grouping factor must be less than the number "
            f"of observations (lme4's check). Such a term is confounded with the residual"
        )
