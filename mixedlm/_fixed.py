"""The fixed-effects model matrix: formulaic materialisation and rank handling."""
from __future__ import annotations

import warnings

import formulaic
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from ._terms import simple_columns
from ._validation import check_finite_matrix, check_response
from ._warnings import RankDeficiencyWarning

RANK_TOL = 1e-7  # lme4's default tolerance for rank detection (relative to column norm)


def response_vector(response: str, fixed: str, data: pd.DataFrame) -> NDArray[np.float64]:
    """The response as float64: a plain column is checked directly, an expression
    (``np.log(y)``) is evaluated by formulaic."""
    if response in data.columns:
        return check_response(data[response], response)
    lhs = formulaic.Formula(fixed).get_model_matrix(data, na_action="ignore").lhs
    if lhs.shape[1] != 1:
        raise TypeError(f"response '{response}' must be one numeric column; formulaic "
                        f"expanded it to {lhs.shape[1]} columns {list(lhs.columns)}")
    return check_response(np.asarray(lhs.iloc[:, 0]), response)


def fixed_matrix(fixed: str, data: pd.DataFrame, y: NDArray[np.float64]
                 ) -> tuple[NDArray[np.float64], list[str]]:
    """[X y] as one Fortran-ordered array (filled column by column, no full
    intermediate copies) and the names of X's columns."""
    rhs = fixed.split("~", 1)[1]
    simple = simple_columns(rhs, data)
    if simple is not None and len(set(simple)) == len(simple):
        names = ([] if ("0" in simple or "-1" in simple) else ["Intercept"]) + [
            c for c in simple if c not in ("1", "0", "-1")]
        Xy = np.empty((len(data), len(names) + 1), order="F")
        for j, name in enumerate(names):
            Xy[:, j] = 1.0 if name == "Intercept" else np.asarray(data[name], dtype=np.float64)
        Xy[:, -1] = y
        check_finite_matrix(Xy[:, :-1], names, "fixed-effects model matrix")
        return Xy, names
    mm = formulaic.model_matrix(rhs, data, na_action="ignore")
    names = [str(c) for c in mm.columns]
    if mm.shape[0] != len(data):
        raise ValueError(f"the fixed-effects formula '{rhs.strip()}' produced {mm.shape[0]} "
                         f"rows for {len(data)} observations")
    Xy = np.empty((len(data), len(names) + 1), order="F")
    for j, col in enumerate(mm.columns):
        Xy[:, j] = np.asarray(mm[col], dtype=np.float64)
    del mm
    Xy[:, -1] = y
    check_finite_matrix(Xy[:, :-1], names, "fixed-effects model matrix")
    return Xy, names


def full_rank_columns(X: NDArray[np.float64], tol: float = RANK_TOL) -> NDArray[np.intp]:
    """Indices of a maximal set of linearly independent columns, earliest first.

    Like R's ``qr()`` (LINPACK dqrdc2, as lme4 uses), a column is dropped when its
    residual after projection on the kept earlier columns is below ``tol`` times
    its norm. The projection is done on the triangular factor of one Householder
    QR of X, so the greedy pass costs O(p^3) after one O(n p^2) BLAS step.
    """
    p = X.shape[1]
    if p == 0:
        return np.arange(0)
    R = np.linalg.qr(X, mode="r")
    kept: list[int] = []
    Q = np.empty((R.shape[0], 0))
    for j in range(p):
        v = R[:, j].copy()
        norm0 = np.linalg.norm(v)
        if norm0 == 0.0:
            continue
        for _ in range(2):  # re-orthogonalise once for stability
            v -= Q @ (Q.T @ v)
        nv = np.linalg.norm(v)
        if nv > tol * norm0:
            kept.append(j)
            Q = np.column_stack([Q, v / nv])
    return np.array(kept, dtype=np.intp)


def drop_rank_deficient(Xy: NDArray[np.float64], names: list[str]
                        ) -> tuple[NDArray[np.float64], list[str], list[str]]:
    """Drop linearly dependent columns of X (all of [X y] but the last column),
    with a warning that names them."""
    p = Xy.shape[1] - 1
    keep = full_rank_columns(Xy[:, :p])
    if len(keep) == p:
        return Xy, names, []
    kept = set(keep.tolist())
    dropped = [names[j] for j in range(p) if j not in kept]
    warnings.warn(
        f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
        f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
        RankDeficiencyWarning, stacklevel=4)
    return (np.asfortranarray(Xy[:, np.append(keep, p)]), [names[j] for j in keep],
            dropped)
