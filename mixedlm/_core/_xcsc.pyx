"""Cross products of [X y] held sparse, by column (CSC).

When X is mostly zeros (dummy-coded factors and their interactions;
InstEval's ``service*dept``: 28 columns, 10% nonzero), ``mixedlm._fixed``
keeps [X y] as CSC instead of a dense (n, P) array; these kernels give the
same blocks as their dense counterparts in ``_remat`` and ``_fixed.xy_gram``,
with one multiply-add per stored entry.

Storage layout
--------------
[X y], n rows and P = p + 1 columns (y last, stored in full):

* ``indptr`` (P + 1,) int64: column j's entries are ``indptr[j]:indptr[j+1]``;
* ``indices`` (nnz,) int32: their rows, in [0, n), in any order (duplicates
  are summed);
* ``data`` (nnz,) float64: their values.

Each kernel checks these arrays before it indexes with them (C loops, once
per model). The level ``codes`` and rest columns ``cols`` come from the
package's own grouping, validated there, as for ``_remat``.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t

from ._checks cimport rises, within

cnp.import_array()


cdef inline bint _valid(const int64_t[::1] indptr, const int32_t[::1] indices,
                        const double[::1] data, Py_ssize_t n) noexcept nogil:
    return (data.shape[0] == indices.shape[0] and rises(indptr, indices.shape[0])
            and within(indices, n))


def level_cross_csc(const int32_t[::1] codes, const double[:, ::1] z1,
                    const int64_t[::1] indptr, const int32_t[::1] indices,
                    const double[::1] data, Py_ssize_t nlevels):
    """Per-level Z1_l' [X y] (``_remat.level_cross_dense``), shape (P, nlevels, K).

    Raises
    ------
    ValueError
        When the CSC arrays are inconsistent or a row is outside [0, n).
    """
    cdef Py_ssize_t n = codes.shape[0], k = z1.shape[1], p = indptr.shape[0] - 1
    cdef Py_ssize_t i, j, c, l, t
    cdef double v
    if z1.shape[0] != n or not _valid(indptr, indices, data, n):
        raise ValueError("level_cross_csc: inconsistent CSC arrays")
    out_arr = np.zeros((p, nlevels, k), dtype=np.float64)
    cdef double[:, :, ::1] out = out_arr
    with nogil:
        for j in range(p):
            for t in range(indptr[j], indptr[j + 1]):
                i = indices[t]
                v = data[t]
                l = codes[i]
                for c in range(k):
                    out[j, l, c] += z1[i, c] * v
    return out_arr


def rest_cross_csc(const int32_t[:, ::1] cols, const double[:, ::1] vals,
                   const int64_t[::1] indptr, const int32_t[::1] indices,
                   const double[::1] data, Py_ssize_t q_rest):
    """Z_rest' [X y] (``_remat.rest_cross_dense``), a (q_rest, P) C-order array.

    Raises
    ------
    ValueError
        When the CSC arrays are inconsistent or a row is outside [0, n).
    """
    cdef Py_ssize_t n = cols.shape[0], R = cols.shape[1], p = indptr.shape[0] - 1
    cdef Py_ssize_t i, a, j, t
    cdef double v
    if vals.shape[0] != n or vals.shape[1] != R or not _valid(indptr, indices, data, n):
        raise ValueError("rest_cross_csc: inconsistent CSC arrays")
    zx_arr = np.zeros((p, max(q_rest, 1)), dtype=np.float64)
    cdef double[:, ::1] zx = zx_arr
    with nogil:
        for j in range(p):
            for t in range(indptr[j], indptr[j + 1]):
                i = indices[t]
                v = data[t]
                for a in range(R):
                    zx[j, cols[i, a]] += v * vals[i, a]
    return np.ascontiguousarray(zx_arr[:, :q_rest].T)


def csc_gram(const int64_t[::1] indptr, const int32_t[::1] indices,
             const double[::1] data, Py_ssize_t n):
    """[X y]'[X y], a symmetric (P, P) Fortran array.

    NumPy: ``G = Xy.T @ Xy``. The entries are first regrouped by row (a
    counting sort, keeping column order), then each row adds its outer
    product to the lower triangle: sum over rows of nnz_row^2 / 2 updates
    of a P x P block that stays in L1 cache (InstEval's service*dept: about
    0.7M), where a product of the sparse matrices costs several times more.

    Raises
    ------
    ValueError
        When the CSC arrays are inconsistent or a row is outside [0, n).
    """
    cdef Py_ssize_t p = indptr.shape[0] - 1, nnz = indices.shape[0], i, j, t, a, b, ca, cb
    cdef double va
    if n < 0 or not _valid(indptr, indices, data, n):
        raise ValueError("csc_gram: inconsistent CSC arrays")
    rptr_arr = np.zeros(n + 1, dtype=np.int64)
    rcol_arr = np.empty(nnz, dtype=np.int32)
    rval_arr = np.empty(nnz, dtype=np.float64)
    G_arr = np.zeros((p, p), dtype=np.float64, order="F")
    cdef int64_t[::1] rptr = rptr_arr
    cdef int32_t[::1] rcol = rcol_arr
    cdef double[::1] rval = rval_arr
    cdef double[::1, :] G = G_arr
    with nogil:
        for t in range(nnz):
            rptr[indices[t] + 1] += 1
        for i in range(n):
            rptr[i + 1] += rptr[i]
        for j in range(p):  # columns in order: each row's entries by column
            for t in range(indptr[j], indptr[j + 1]):
                i = indices[t]
                rcol[rptr[i]] = <int32_t>j
                rval[rptr[i]] = data[t]
                rptr[i] += 1
        for i in range(n, 0, -1):  # undo the fill's shift of the pointers
            rptr[i] = rptr[i - 1]
        rptr[0] = 0
        for i in range(n):
            for a in range(rptr[i], rptr[i + 1]):
                ca = rcol[a]
                va = rval[a]
                G[ca, ca] += va * va
                for b in range(rptr[i], a):  # rcol[b] <= ca
                    cb = rcol[b]
                    # a duplicate (row, column) entry meets the other one once
                    G[ca, cb] += (2.0 if cb == ca else 1.0) * va * rval[b]
        for j in range(p):  # mirror the lower triangle
            for i in range(j + 1, p):
                G[j, i] = G[i, j]
    return G_arr
