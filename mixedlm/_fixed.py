"""The fixed-effects model matrix: formulaic materialisation and rank handling."""
from __future__ import annotations

import warnings

import formulaic
import numpy as np
import pandas as pd
import scipy.linalg as sla
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
    for j in range(len(names)):  # by position: label lookups on a ModelMatrix are slow
        Xy[:, j] = mm.iloc[:, j].to_numpy()
    del mm
    Xy[:, -1] = y
    check_finite_matrix(Xy[:, :-1], names, "fixed-effects model matrix")
    return Xy, names


#: The Gram-matrix shortcut of :func:`full_rank_columns` accepts X as full rank
#: only when every column keeps at least this fraction of its norm after
#: projection on the earlier ones: far above RANK_TOL and far above the
#: Gram's own rounding (about 1e-8 of the norm), so the verdict cannot differ
#: from the QR pass. Anything closer goes to the QR pass.
GRAM_CLEAR = 1e-3


def xy_gram(Xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """[X y]'[X y] as a symmetric Fortran array: the one O(n P^2) product, shared by
    the rank check and the solvers."""
    # BLAS dsyrk, NumPy: G = Xy.T @ Xy (lower triangle, then mirrored)
    G = sla.blas.dsyrk(1.0, Xy, trans=1, lower=1)
    return np.asfortranarray(G + np.tril(G, -1).T)


def full_rank_columns(X: NDArray[np.float64], tol: float = RANK_TOL,
                      gram: NDArray[np.float64] | None = None) -> NDArray[np.intp]:
    """Indices of a maximal set of linearly independent columns, earliest first.

    Like R's ``qr()`` (LINPACK dqrdc2, as lme4 uses), a column is dropped when its
    residual after projection on the kept earlier columns is below ``tol`` times
    its norm.

    The usual full-rank case is settled from the p x p Gram matrix: the
    diagonal of its Cholesky factor is exactly those residual norms, so when
    every one exceeds ``GRAM_CLEAR`` times its column norm all columns are
    kept (``gram`` = X'X when the caller has it, else one BLAS ``dsyrk``). Otherwise the projection
    is done on the triangular factor of one Householder QR of X, so the greedy
    pass costs O(p^3) after one O(n p^2) LAPACK step.
    """
    p = X.shape[1]
    if p == 0:
        return np.arange(0)
    G = xy_gram(X) if gram is None else gram
    norms = np.sqrt(np.diag(G))
    if np.all(norms > 0):
        R, info = sla.lapack.dpotrf(G, lower=0, clean=0, overwrite_a=0)
        if info == 0 and np.all(np.diag(R) > GRAM_CLEAR * norms):
            return np.arange(p)
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


def drop_rank_deficient(Xy: NDArray[np.float64], names: list[str], G: NDArray[np.float64]
                        ) -> tuple[NDArray[np.float64], list[str], list[str],
                                   NDArray[np.float64]]:
    """Drop linearly dependent columns of X (all of [X y] but the last column),
    with a warning that names them; ``G`` = [X y]'[X y] is subset to match."""
    p = Xy.shape[1] - 1
    keep = full_rank_columns(Xy[:, :p], gram=G[:p, :p])
    if len(keep) == p:
        return Xy, names, [], G
    kept = set(keep.tolist())
    dropped = [names[j] for j in range(p) if j not in kept]
    warnings.warn(
        f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
        f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
        RankDeficiencyWarning, stacklevel=4)
    cols = np.append(keep, p)
    return (np.asfortranarray(Xy[:, cols]), [names[j] for j in keep], dropped,
            np.asfortranarray(G[np.ix_(cols, cols)]))
