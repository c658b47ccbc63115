"""Grouping factors: 0-based int32 codes and level labels from data columns.

A grouping factor may be one column of any dtype (character, integer,
categorical, bool) or an interaction ``a:b`` of several. Codes are contiguous
int32 (what the kernels index with); levels keep a categorical's order, with
unused categories dropped (lme4's droplevels), and sort other values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._validation import check_columns

__all__ = ["as_grouping_codes"]


def _labels(values) -> list[str]:
    """String labels of level values; integral floats print as integers."""
    arr = np.asarray(values)
    if (arr.dtype.kind == "f" and arr.size and np.all(np.isfinite(arr))
            and np.all(arr == np.round(arr)) and np.all(np.abs(arr) < 2.0**53)):
        return [str(int(v)) for v in arr]
    if arr.dtype.kind in "iubOUS":
        # the same objects (or Python ints/bools, which print alike) without
        # pandas' per-element boxing: 50x faster on thousands of levels
        return [str(v) for v in arr.tolist()]
    return [str(v) for v in values]


def _factor(col: pd.Series, column: str, group: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes (int64, 0-based, contiguous) and labels (object array of str)."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cat = col.array
        codes = np.asarray(cat.codes, dtype=np.int64)
        n_missing = int((codes < 0).sum())
        labels: list[str] = []
        if not n_missing:
            # droplevels: keep the categories present, in category order.
            present = np.bincount(codes, minlength=len(dtype.categories)) > 0
            remap = np.cumsum(present) - 1
            codes = remap[codes]
            labels = _labels(dtype.categories[present])
    else:
        try:
            codes, uniques = pd.factorize(col, sort=True)
        except TypeError:  # unorderable mix, e.g. ints and strings in an object column
            codes, uniques = pd.factorize(col.astype(str), sort=True)
        codes = np.asarray(codes, dtype=np.int64)
        n_missing = int((codes < 0).sum())
        labels = _labels(uniques)
    if n_missing:
        raise ValueError(
            f"grouping factor {group!r}: column {column!r} has {n_missing} missing "
            f"value{'s' if n_missing != 1 else ''}; expected none (drop incomplete rows first)"
        )
    return codes, np.asarray(labels, dtype=object)


def as_grouping_codes(
    data: pd.DataFrame, group_vars: tuple[str, ...], group: str
) -> tuple[np.ndarray, pd.Index]:
    """Build a grouping factor from one or more columns.

    Parameters
    ----------
    data : pandas.DataFrame
        The (complete-case) data.
    group_vars : tuple of str
        The columns of the grouping factor: ``("Subject",)`` or, for an
        interaction ``a:b``, ``("a", "b")``.
    group : str
        The grouping factor as written, for messages.

    Returns
    -------
    codes : numpy.ndarray of int32
        0-based level code of each row; every code in ``range(len(levels))``
        occurs.
    levels : pandas.Index
        String labels of the levels. A single categorical column keeps its
        category order, restricted to the categories present (lme4's
        ``droplevels``); other dtypes use their sorted unique values. For an
        interaction the levels are the observed combinations, labelled
        ``"A:a"`` (values joined by ``":"`` in ``group_vars`` order) and
        ordered lexicographically by the component level orders.

    Raises
    ------
    ValueError
        If a column is unknown or has missing values.

    Notes
    -----
    O(n log n) at worst: :func:`pandas.factorize` and categorical codes, no
    Python loop over rows. Interactions are combined one variable at a time
    with a mixed-radix key that is re-compressed to the observed combinations
    after each step, so the key never overflows.
    """
    if not group_vars:
        raise ValueError(f"grouping factor {group!r} has no variables; expected at least one")
    check_columns(group_vars, data, f"the grouping factor {group!r}")
    codes, labels = _factor(data[group_vars[0]], group_vars[0], group)
    for var in group_vars[1:]:
        codes2, labels2 = _factor(data[var], var, group)
        radix = len(labels2)
        key = codes * radix + codes2
        codes, combos = pd.factorize(key, sort=True)
        codes = np.asarray(codes, dtype=np.int64)
        combos = np.asarray(combos, dtype=np.int64)
        labels = labels[combos // radix] + ":" + labels2[combos % radix]
    if len(labels) >= np.iinfo(np.int32).max:
        raise ValueError(
            f"grouping factor {group!r} has {len(labels)} levels; at most "
            f"{np.iinfo(np.int32).max - 1} are supported"
        )
    return codes.astype(np.int32), pd.Index(list(labels))
