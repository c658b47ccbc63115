"""The fixed-effects model matrix: formulaic materialisation, storage and rank handling.

[X y] is held in one of two forms, chosen here once per model:

* dense, an (n, P) Fortran array (P = p + 1): numeric columns, and any X
  with many nonzeros;
* CSC (``scipy.sparse.csc_array``, y as its last column) when at most
  ``SPARSE_X_MAX_DENSITY`` of X's entries are nonzero: dummy-coded factors
  and their interactions (InstEval's ``service*dept``: 28 columns, 10%
  nonzero). No dense n x p copy is made; the cross products cost one
  multiply-add per stored entry.

A fixed part made only of pandas categoricals (dummies, contrasts and their
interactions) is materialised by formulaic on one row per distinct
combination of the factors' levels and gathered to the rows
(``_combinations``, ``_core._xcsc.gather_rows_csc``): InstEval's
``service*dept`` has 28 combinations for 73,421 rows. Anything else goes
through formulaic on the rows.

Everything the solvers need from [X y] is a cross product, built by
:func:`xy_gram`, :func:`level_cross` and :func:`rest_cross` in either form.
"""
from __future__ import annotations

import warnings

import formulaic
import numpy as np
import pandas as pd
import scipy.linalg as sla
import scipy.sparse as sp
from numpy.typing import NDArray

from ._core._remat import level_cross_dense, rest_cross_dense
from ._combinations import combination_factors, combination_frame, level_combinations
from ._core._xcsc import csc_gram, gather_rows_csc, level_cross_csc, rest_cross_csc
from ._terms import simple_columns
from ._validation import check_finite_matrix, check_response
from ._warnings import RankDeficiencyWarning

RANK_TOL = 1e-7  # lme4's default tolerance for rank detection (relative to column norm)
#: [X y] is kept sparse (CSC) when at most this fraction of X's entries are
#: nonzero. Measured on InstEval's service*dept (10% nonzero): construction
#: from 80-270 ms to 50-95 ms, whole-process peak RSS from 195 to 188 MB, no
#: dense 17 MB copy of X; a stored entry costs the kernels a few times a dense
#: one, so denser matrices stay dense.
SPARSE_X_MAX_DENSITY = 0.25

XyMatrix = NDArray[np.float64] | sp.csc_array


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
                 ) -> tuple[XyMatrix, list[str]]:
    """[X y] (dense Fortran, or CSC when X is mostly zeros; see the module
    docstring), filled column by column without full intermediate copies,
    and the names of X's columns."""
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
    variables = _variables(rhs)
    factors = combination_factors(rhs, variables, data)
    if factors is not None:
        built = _from_combinations(rhs, data, y, factors)
        if built is not None:
            return built
    if _has_factor(rhs, data, variables):
        built = _from_sparse(rhs, data, y)
        if built is not None:
            return built
    try:
        mm = formulaic.model_matrix(rhs, data, na_action="ignore")
    except Exception as exc:  # formulaic raises many types; name the part and keep its word
        raise ValueError(f"formulaic cannot build the fixed-effects part '{rhs.strip()}': "
                         f"{type(exc).__name__}: {exc}") from exc
    names = [str(c) for c in mm.columns]
    _check_rows(mm.shape[0], len(data), rhs)
    Xy = np.empty((len(data), len(names) + 1), order="F")
    for j in range(len(names)):  # by position: label lookups on a ModelMatrix are slow
        Xy[:, j] = mm.iloc[:, j].to_numpy()
    del mm
    Xy[:, -1] = y
    check_finite_matrix(Xy[:, :-1], names, "fixed-effects model matrix")
    return Xy, names


def _variables(rhs: str) -> list[str] | None:
    """The data variables of the fixed part, or None when formulaic cannot parse
    it (the model matrix call then reports the error)."""
    try:
        return [str(v) for v in formulaic.Formula(rhs).required_variables]
    except Exception:  # noqa: BLE001 - formulaic raises several types for bad syntax
        return None


def _has_factor(rhs: str, data: pd.DataFrame, variables: list[str] | None) -> bool:
    """Whether the fixed part uses a categorical, string or boolean column, or
    ``C()``: the designs whose dummy columns can make X mostly zeros. Numeric
    designs take formulaic's dense output (its sparse output is slower for
    them: measured 0.05-0.08 s against 0.10-0.14 s at 200k rows)."""
    if "C(" in rhs or variables is None:
        return True
    return any(v in data.columns and data[v].dtype.kind not in "iuf" for v in variables)


def _check_rows(nrows: int, n: int, rhs: str) -> None:
    if nrows != n:
        raise ValueError(f"the fixed-effects formula '{rhs.strip()}' produced {nrows} "
                         f"rows for {n} observations")


def _from_combinations(rhs: str, data: pd.DataFrame, y: NDArray[np.float64],
                       factors: list[str]) -> tuple[XyMatrix, list[str]] | None:
    """[X y] for a fixed part of factors only, from formulaic's X on one row per
    distinct combination of their levels (``_combinations``); None when the
    combinations are too many to pay, or the small X is not finite (the full
    route then reports the offending column and row)."""
    combos = level_combinations(data, factors)
    if combos is None:
        return None
    first, inverse = combos
    # NumPy output: the same columns as the pandas one, without building a
    # DataFrame (InstEval's 28 rows: 1.2 ms against 6.4)
    mm = formulaic.model_matrix(rhs, combination_frame(data, factors, first),
                                na_action="ignore", output="numpy")
    names = [str(c) for c in mm.model_spec.column_names]
    _check_rows(mm.shape[0], len(first), rhs)
    Xc = np.asarray(mm, dtype=np.float64).reshape(len(first), len(names))
    del mm
    if not np.all(np.isfinite(Xc)):
        return None
    n, p = len(data), len(names)
    nonzero = Xc != 0.0
    nnz = int(np.bincount(inverse, minlength=len(first)) @ nonzero.sum(axis=1))
    if nnz > SPARSE_X_MAX_DENSITY * n * p:
        Xy = np.empty((n, p + 1), order="F")
        for j in range(p):
            Xy[:, j] = Xc[inverse, j]
        Xy[:, -1] = y
        return Xy, names
    if n + nnz >= np.iinfo(np.int32).max:
        return None  # the kernel writes int32 rows
    indptr, rows, values = gather_rows_csc(np.ascontiguousarray(Xc),
                                           inverse.astype(np.int64, copy=False),
                                           np.ascontiguousarray(y, dtype=np.float64))
    return sp.csc_array((values, rows, indptr.astype(np.int32)), shape=(n, p + 1)), names


def _from_sparse(rhs: str, data: pd.DataFrame, y: NDArray[np.float64]
                 ) -> tuple[XyMatrix, list[str]] | None:
    """[X y] from formulaic's sparse output: CSC when X is mostly zeros, else dense;
    None when formulaic's sparse output cannot build the part (it lacks some
    terms its dense output has, such as a scalar ``{a.cat.codes.mean()}``:
    the dense route then builds it, or reports the error)."""
    try:
        mm = formulaic.model_matrix(rhs, data, na_action="ignore", output="sparse")
    except Exception:  # noqa: BLE001 - the dense route reports what formulaic says
        return None
    names = [str(c) for c in mm.model_spec.column_names]
    n, p = len(data), len(names)
    _check_rows(mm.shape[0], n, rhs)
    X = sp.csc_array(mm, dtype=np.float64)
    del mm
    X.sum_duplicates()  # canonical: sorted rows, each (row, column) once
    if not np.all(np.isfinite(X.data)):
        bad = np.unique(np.searchsorted(X.indptr, np.flatnonzero(~np.isfinite(X.data)),
                                        side="right") - 1)
        # the dense check of just those columns names them and a row
        check_finite_matrix(X[:, bad].toarray(), [names[j] for j in bad],
                            "fixed-effects model matrix")
    if X.nnz > SPARSE_X_MAX_DENSITY * n * p:
        Xy = np.zeros((n, p + 1), order="F")
        for j in range(p):
            s = slice(X.indptr[j], X.indptr[j + 1])
            Xy[X.indices[s], j] = X.data[s]
        Xy[:, -1] = y
        return Xy, names
    total = int(X.nnz) + n
    itype = np.int32 if total < np.iinfo(np.int32).max else np.int64
    indptr = np.append(X.indptr.astype(itype), itype(total))
    indices = np.concatenate([X.indices.astype(itype), np.arange(n, dtype=itype)])
    return sp.csc_array((np.concatenate([X.data, y]), indices, indptr),
                        shape=(n, p + 1)), names


def _csc_parts(Xy: sp.csc_array) -> tuple[NDArray[np.int64], NDArray[np.int32],
                                          NDArray[np.float64]]:
    """The kernels' CSC arrays (``_core._remat``): int64 pointers, int32 rows."""
    return (np.asarray(Xy.indptr, dtype=np.int64), np.asarray(Xy.indices, dtype=np.int32),
            np.asarray(Xy.data, dtype=np.float64))


def level_cross(codes: NDArray[np.int32], z: NDArray[np.float64], Xy: XyMatrix,
                nlevels: int) -> NDArray[np.float64]:
    """Per-level Z1' [X y], shape (P, nlevels, K) (``_core._remat.level_cross_dense``)."""
    if sp.issparse(Xy):
        return level_cross_csc(codes, z, *_csc_parts(Xy), nlevels)
    return level_cross_dense(codes, z, Xy, nlevels)


def rest_cross(cols: NDArray[np.int32], vals: NDArray[np.float64], Xy: XyMatrix,
               q_rest: int) -> NDArray[np.float64]:
    """Z_rest' [X y], shape (q_rest, P) (``_core._remat.rest_cross_dense``)."""
    if sp.issparse(Xy):
        return rest_cross_csc(cols, vals, *_csc_parts(Xy), q_rest)
    return rest_cross_dense(cols, vals, Xy, q_rest)


def xy_times(Xy: XyMatrix, beta: NDArray[np.float64]) -> NDArray[np.float64]:
    """X beta, in either storage."""
    return np.asarray(Xy @ np.append(beta, 0.0))


def dense_x(Xy: XyMatrix) -> NDArray[np.float64]:
    """X as a dense (n, p) Fortran array: a view of dense [X y], else a new array."""
    if sp.issparse(Xy):
        return Xy[:, :-1].toarray(order="F")  # one dense copy, already Fortran
    return Xy[:, :-1]


#: The Gram-matrix shortcut of :func:`full_rank_columns` accepts X as full rank
#: only when every column keeps at least this fraction of its norm after
#: projection on the earlier ones: far above RANK_TOL and far above the
#: Gram's own rounding (about 1e-8 of the norm), so the verdict cannot differ
#: from the QR pass. Anything closer goes to the QR pass.
GRAM_CLEAR = 1e-3


def xy_gram(Xy: XyMatrix) -> NDArray[np.float64]:
    """[X y]'[X y] as a symmetric Fortran array: the one O(n P^2) product (O(nnz P)
    when sparse), shared by the rank check and the solvers."""
    if sp.issparse(Xy):
        return csc_gram(*_csc_parts(Xy), Xy.shape[0])
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
    R = np.linalg.qr(X.toarray() if sp.issparse(X) else X, mode="r")
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


def drop_rank_deficient(Xy: XyMatrix, names: list[str], G: NDArray[np.float64]
                        ) -> tuple[XyMatrix, list[str], list[str], NDArray[np.float64]]:
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
    sub = Xy[:, cols] if sp.issparse(Xy) else np.asfortranarray(Xy[:, cols])
    return (sub, [names[j] for j in keep], dropped,
            np.asfortranarray(G[np.ix_(cols, cols)]))
