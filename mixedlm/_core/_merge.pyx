"""Level pairs of the first factor merged by weight class, for the blocked solver.

With a scalar first factor and scalar rest terms, the Schur complement that
the blocked solver factors per theta has, below its diagonal,

    sum_l f_l^2 v_l v_l'          (rest x rest)    and
    sum_l f_l^2 AZX[:, l] v_l'    ([X y] x rest),

where v_l are level l's cross products with the rest columns (``val``) and
f_l^2 = lam^2 / (lam^2 A11_l + 1) depends on the level only through A11_l
(its row count when the term is an intercept). Levels with equal A11_l form
a *class*; summing their products once, here, leaves per theta one weight per
class and a stream of merged entries (InstEval: 1.29M level pairs become
832k class entries; 73k [X y] updates of P values become 28k).

Storage layout (the output, by rest column c; entries of column c are
``ptr[c]:ptr[c+1]``):
* pairs: ``prow`` (int32) the row (>= c), ``pcls`` (int32) the class,
  ``pval`` (float64) sum over the class's levels of v_l[row] * v_l[c]; the
  column's entries of Z_rest'Z_rest come first, as class ``nclass``;
* [X y] rows: ``xcls`` (int32) the class and ``xval`` (nx, P) float64, C order,
  sum over the class's levels touching c of AZX[:, l] * v_l[c].
Inputs are those of ``_remat.level_cross_sparse``.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t

from ._remat import column_class_entries

cnp.import_array()


def merge_level_pairs(const int64_t[::1] ptr, const int32_t[::1] idx,
                      const double[:, ::1] val, const int32_t[::1] cls, Py_ssize_t nclass,
                      const double[:, :, ::1] AZX, Py_ssize_t q_rest,
                      const int64_t[::1] gptr, const int32_t[::1] grow,
                      const double[::1] gval):
    """Merge the level pairs of each rest column by class (see the module docstring).

    Parameters
    ----------
    ptr, idx, val : level-major entries (``val`` (nnz, 1): scalar first factor),
        ``idx`` ascending within each level.
    cls : ndarray of shape (nl,), int32
        Class of each level, in ``[0, nclass)``.
    AZX : ndarray of shape (P, nl, 1)
    q_rest : int
    gptr, grow, gval : the lower triangle of Z_rest'Z_rest by column (CSC). Its
        entries join the stream as class ``nclass`` (the caller gives it the
        weight -1), so the solver needs no dense copy of that block.

    Returns
    -------
    pptr, prow, pcls, pval, xptr, xcls, xval

    Notes
    -----
    The entries are regrouped by column with the levels in class order (a
    counting sort), so that one column's pairs of one class accumulate in a
    dense scratch column that stays in L1 cache. One pass fills outputs
    allocated to upper bounds (the level products; InstEval: 1.29M for 832k
    entries) and returns views of their used part. A counting pass first
    cost about as much as the fill (InstEval, measured in one construction
    harness: 28 ms for the merge with it, 15 ms without).
    """
    cdef Py_ssize_t nl = ptr.shape[0] - 1, nnz = idx.shape[0], P = AZX.shape[0]
    cdef Py_ssize_t c, t, a, b, l, j, k, r, g, npair = 0, nx = 0, t0, t1
    cdef double vb
    cdef int64_t[::1] mark = np.full(max(q_rest, 1), -1, dtype=np.int64)
    cdef double[::1] acc = np.zeros(max(q_rest, 1), dtype=np.float64)
    cdef double[::1] accx = np.zeros(max(P, 1), dtype=np.float64)
    # one spare slot: the branch-free append writes before it knows the row is new
    cdef int32_t[::1] touched = np.empty(q_rest + 1, dtype=np.int32)
    cdef Py_ssize_t ntouch
    # validates cls, idx and ptr (the kernel indexes with them unchecked)
    cptr_arr, cent_arr, clev_arr = column_class_entries(ptr, idx, cls, nclass, q_rest)
    if (gptr.shape[0] != q_rest + 1 or grow.shape[0] != gval.shape[0]
            or gptr[q_rest] != grow.shape[0] or AZX.shape[1] != nl or AZX.shape[2] != 1
            or val.shape[0] != nnz or val.shape[1] != 1
            or (grow.shape[0] and (np.min(grow) < 0 or np.max(grow) >= q_rest))):
        raise ValueError("merge_level_pairs: inconsistent sizes")
    cdef const int64_t[::1] cptr = cptr_arr, cent = cent_arr
    cdef const int32_t[::1] clev = clev_arr
    # AZX by level: the walk reads one level's P values together
    cdef const double[:, ::1] AZXt = np.ascontiguousarray(np.asarray(AZX)[:, :, 0].T)
    # upper bounds, so one pass fills the output: a (column, class) group adds at
    # most one entry per level product, and has at least one level entry. The
    # tails past the bounds' use are never written, so never touched (RSS).
    cdef Py_ssize_t max_pair = gptr[q_rest] + _level_pairs(ptr)
    pptr_arr = np.zeros(q_rest + 1, dtype=np.int64)
    xptr_arr = np.zeros(q_rest + 1, dtype=np.int64)
    prow_arr = np.empty(max_pair, dtype=np.int32)
    pcls_arr = np.empty(max_pair, dtype=np.int32)
    pval_arr = np.empty(max_pair, dtype=np.float64)
    xcls_arr = np.empty(nnz, dtype=np.int32)
    xval_arr = np.empty((nnz, P), dtype=np.float64)
    cdef int64_t[::1] pptr = pptr_arr, xptr = xptr_arr
    cdef int32_t[::1] prow = prow_arr, pcls = pcls_arr, xcls = xcls_arr
    cdef double[::1] pval = pval_arr
    cdef double[:, ::1] xval = xval_arr
    # one (column, class) group at a time
    with nogil:
        for c in range(q_rest):
            pptr[c] = npair
            xptr[c] = nx
            for t in range(gptr[c], gptr[c + 1]):
                prow[npair] = grow[t]
                pcls[npair] = <int32_t>nclass
                pval[npair] = gval[t]
                npair += 1
            t0 = cptr[c]
            while t0 < cptr[c + 1]:
                k = cls[clev[t0]]
                g = c * (nclass + 1) + k
                ntouch = 0
                t1 = accumulate_class_run(t0, cptr[c + 1], cls, cent, clev, ptr, idx, val,
                                          AZXt, g, &mark[0], &acc[0], &accx[0],
                                          &touched[0], &ntouch)
                for t in range(ntouch):
                    r = touched[t]
                    prow[npair] = <int32_t>r
                    pcls[npair] = <int32_t>k
                    pval[npair] = acc[r]
                    acc[r] = 0.0
                    npair += 1
                xcls[nx] = <int32_t>k
                for j in range(P):
                    xval[nx, j] = accx[j]
                    accx[j] = 0.0
                nx += 1
                t0 = t1
        pptr[q_rest] = npair
        xptr[q_rest] = nx
    # views of the used part (a copy would touch every page once more)
    return (pptr_arr, prow_arr[:npair], pcls_arr[:npair], pval_arr[:npair], xptr_arr,
            xcls_arr[:nx], xval_arr[:nx])


cdef Py_ssize_t _level_pairs(const int64_t[::1] ptr) noexcept nogil:
    """sum_l nnz_l (nnz_l + 1) / 2: the level products all groups add together."""
    cdef Py_ssize_t l, m, total = 0
    for l in range(ptr.shape[0] - 1):
        m = ptr[l + 1] - ptr[l]
        total += m * (m + 1) // 2
    return total
