"""The random-effects columns' layout, shared by the solvers.

Random-effects columns are numbered block by block (a block is the terms on
one grouping factor, ``_terms.FactorBlock``) and level by level within a
block: block b's level l occupies K_b consecutive columns. These helpers turn
the per-row codes into that numbering (row-wise sparse Z), give each column
its level block and lambda, and allocate the padded dense workspaces.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from ._terms import FactorBlock


def rest_columns(blocks: list[FactorBlock], n: int
                 ) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
    """Row-wise sparse Z over ``blocks``: (n, R) column indices and values."""
    cols, vals, off = [], [], 0
    for b in blocks:
        for c in range(b.k):
            cols.append(off + b.codes.astype(np.int64) * b.k + c)
            vals.append(b.z[:, c])
        off += b.nlevels * b.k
    if not cols:
        return np.empty((n, 0), np.int32), np.empty((n, 0))
    return (np.ascontiguousarray(np.column_stack(cols).astype(np.int32)),
            np.ascontiguousarray(np.column_stack(vals)))


def rest_gram_lower(cols: NDArray[np.int32], vals: NDArray[np.float64], q: int
                    ) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]]:
    """Lower triangle of Z_rest'Z_rest by column (CSC: indptr, rows, values)."""
    n, R = cols.shape
    if R == 0:
        return np.zeros(q + 1, np.int64), np.empty(0, np.int32), np.empty(0)
    if R == 1:  # one scalar rest term: the Gram is diagonal
        diag = np.bincount(cols[:, 0], vals[:, 0] ** 2, minlength=q)
        return np.arange(q + 1, dtype=np.int64), np.arange(q, dtype=np.int32), diag
    Z = sp.csr_matrix((vals.ravel(), cols.ravel(), np.arange(0, n * R + 1, R)), shape=(n, q))
    G = sp.tril((Z.T @ Z).tocsc()).tocsc()
    G.sort_indices()
    return (G.indptr.astype(np.int64), G.indices.astype(np.int32),
            np.ascontiguousarray(G.data, dtype=np.float64))


def column_layout(blocks: list[FactorBlock]
                  ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Per random-effects column of ``blocks`` (structure only, computed once):
    the first column of its level block, the block width, and the offset of its
    block's lambda in the array :func:`lambda_values` returns."""
    start, width, loff, pos, off = [], [], [], 0, 0
    for b in blocks:
        k = b.k
        start.append(np.repeat(pos + np.arange(b.nlevels, dtype=np.int64) * k, k))
        width.append(np.full(b.nlevels * k, k, dtype=np.int64))
        loff.append(np.full(b.nlevels * k, off, dtype=np.int64))
        pos += b.nlevels * k
        off += k * k
    if not blocks:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    cat = np.concatenate
    return cat(start), cat(width), cat(loff)


def lambda_values(blocks: list[FactorBlock], theta: NDArray[np.float64]) -> NDArray[np.float64]:
    """The blocks' column-major lambdas at theta, concatenated (small: sum of K^2)."""
    if not blocks:
        return np.empty(0)
    return np.concatenate([b.lam(theta).ravel(order="F") for b in blocks])


def padded_square(n: int) -> NDArray[np.float64]:
    """A zeroed (ld, n) Fortran array, ld = n rounded up to a multiple of 8.

    The kernels factor its leading n x n block; ``[:n]`` is the matrix.
    """
    return np.zeros((-(-n // 8) * 8, n), order="F")
