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

``gather_rows_csc`` builds these arrays for a fixed part of factors only,
from formulaic's X on one row per level combination (``mixedlm._combinations``).

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


def gather_rows_csc(const double[:, ::1] Xc, const int64_t[::1] inverse,
                    const double[::1] y):
    """[X y] as CSC arrays for X = Xc[inverse]: the rows of a small dense matrix
    gathered, one row of ``Xc`` per distinct combination of factor levels
    (``mixedlm._combinations``), ``inverse`` each observation's combination.

    Each column's rows come out ascending; zeros of ``Xc`` are not stored,
    and y is stored in full as the last column. One pass over the rows after
    the column counts, writing p + 1 ascending streams.

    NumPy: ``scipy.sparse.csc_array(np.column_stack([Xc[inverse], y]))``.

    Returns
    -------
    indptr : ndarray of shape (p + 2,), int64
    indices : ndarray of shape (nnz,), int32
    data : ndarray of shape (nnz,), float64

    Raises
    ------
    ValueError
        When ``y`` does not have a value per row, a combination is outside
        [0, len(Xc)), or the rows do not fit int32 indices.
    """
    cdef Py_ssize_t m = Xc.shape[0], p = Xc.shape[1], n = inverse.shape[0]
    cdef Py_ssize_t i, j, u, t, total
    if y.shape[0] != n or n >= 2147483647:
        raise ValueError("gather_rows_csc: y needs one value per row, and the rows "
                         "must fit int32 indices")
    count_arr = np.zeros(max(m, 1), dtype=np.int64)
    cdef int64_t[::1] count = count_arr
    cdef bint bad = False
    with nogil:
        for i in range(n):
            if inverse[i] < 0 or inverse[i] >= m:
                bad = True
                break
            count[inverse[i]] += 1
    if bad:
        raise ValueError("gather_rows_csc: a combination index is out of range")
    # each combination's nonzero columns (CSR of Xc's pattern)
    uptr_arr = np.zeros(m + 1, dtype=np.int64)
    ucol_arr = np.empty(max(m * p, 1), dtype=np.int32)
    indptr_arr = np.zeros(p + 2, dtype=np.int64)
    cdef int64_t[::1] uptr = uptr_arr, indptr = indptr_arr
    cdef int32_t[::1] ucol = ucol_arr
    with nogil:
        for u in range(m):
            uptr[u + 1] = uptr[u]
            for j in range(p):
                if Xc[u, j] != 0.0:
                    ucol[uptr[u + 1]] = <int32_t>j
                    uptr[u + 1] += 1
                    indptr[j + 1] += count[u]
        indptr[p + 1] = n
        for j in range(p + 1):
            indptr[j + 1] += indptr[j]
    total = indptr[p + 1]
    indices_arr = np.empty(total, dtype=np.int32)
    data_arr = np.empty(total, dtype=np.float64)
    pos_arr = indptr_arr[:p + 1].copy()
    cdef int32_t[::1] indices = indices_arr
    cdef double[::1] data = data_arr
    cdef int64_t[::1] pos = pos_arr
    with nogil:
        for i in range(n):
            u = inverse[i]
            for t in range(uptr[u], uptr[u + 1]):
                j = ucol[t]
                indices[pos[j]] = <int32_t>i
                data[pos[j]] = Xc[u, j]
                pos[j] += 1
            indices[pos[p]] = <int32_t>i
            data[pos[p]] = y[i]
            pos[p] += 1
    return indptr_arr, indices_arr, data_arr
