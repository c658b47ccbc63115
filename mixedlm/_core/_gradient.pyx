"""Pieces of the blocked solver's analytic gradient (scalar terms).

With every term scalar, Lambda is diagonal and the derivative of the
profiled objective in a term's theta needs (``_solvers.BlockedSolver``):

* the term's entries of diag(Omega^{-1}): for the rest terms they are read
  off inv(Omega) (``_blocked.objective_blocked`` writes it); for the first
  factor they need b_l' inv(S) b_l per level, summed with weights:
  ``level_quadform`` (per level), ``merged_quadform`` (class-merged pairs,
  ``_merge``), ``_basis.basis_quadform`` (class basis), or, from the
  inverse factor X = inv(L11) without forming inv(S) = X'X,
  ``level_normsq`` (which also gives diag(inv(S)));
* Z'r for the residual r at the conditional modes, from the stored cross
  products: ``residual_cross``; and the first factor's modes, whose sparse
  part is ``level_matvec``.

Storage layout: as in ``_blocked`` (level-major entries ``ptr``/``idx``/
``val`` with ``idx`` ascending within a level; ``Sinv`` Fortran, lower
triangle; the Gram of the rest columns as a CSC lower triangle).
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t

from ._checks cimport ascending_within, rises, runs_in_columns, within
from ._merge cimport entry_row, stream_value

cnp.import_array()


cdef _check_entries(const int64_t[::1] ptr, Py_ssize_t nentries, str name):
    """``ptr`` rises from 0 to the number of entries (O(len(ptr)), a C loop).

    The entries' row indices are checked once where the solver builds its
    column incidence (``_remat.column_incidence``), not per evaluation.
    """
    if not rises(ptr, nentries):
        raise ValueError(f"{name}: pointers must rise from 0 to the number of entries")


def level_matvec(const int64_t[::1] ptr, const int32_t[::1] idx, const double[:, ::1] val,
                 const double[::1] x, Py_ssize_t q_rest):
    """Per level l: sum over its entries of val[a, 0] * x[idx[a]] (scalar first factor).

    ``x`` has one entry per rest column (q_rest); the entries' ``idx`` are in
    [0, q_rest) (checked once by ``_remat.column_incidence``).

    NumPy: ``np.bincount(level_of_entry, val[:, 0] * x[idx], minlength=nl)``.
    """
    cdef Py_ssize_t nl = ptr.shape[0] - 1, l, a
    cdef double acc
    _check_entries(ptr, idx.shape[0], "level_matvec")
    if val.shape[0] != idx.shape[0] or val.shape[1] < 1 or x.shape[0] != q_rest:
        raise ValueError("level_matvec: val needs one row per entry and x q_rest entries")
    out_arr = np.empty(nl, dtype=np.float64)
    cdef double[::1] out = out_arr
    with nogil:
        for l in range(nl):
            acc = 0.0
            for a in range(ptr[l], ptr[l + 1]):
                acc = acc + val[a, 0] * x[idx[a]]
            out[l] = acc
    return out_arr


def level_quadform(const int64_t[::1] ptr, const int32_t[::1] idx,
                   const double[::1] bz, const double[:, ::1] bx,
                   const double[::1, :] Sinv, Py_ssize_t q_rest):
    """Per level l of a scalar first factor: b_l' Sinv b_l.

    b_l has the sparse entries ``bz[ptr[l]:ptr[l+1]]`` at rows ``idx[...]`` and
    the dense entries ``bx[:, l]`` at rows ``q_rest + j`` (``bx`` may have zero
    rows). ``Sinv`` holds a symmetric matrix in its lower triangle (as
    ``objective_blocked`` leaves it). This gives the first factor's entries of
    diag(Omega^{-1}) for the gradient: (1 + b_l' S^{-1} b_l) / L_l^2.

    Accumulating ||X b_l||^2 from X = inv(LT) column by column instead
    streams about nnz * m / 2 entries of X from outside the L2 cache (22 ms
    on InstEval, measured on a Xeon); ``level_normsq`` does it over packed
    row blocks of X, which the merged path uses when it pays.

    NumPy: ``out[l] = b @ S @ b`` with S the full symmetric matrix.
    """
    cdef Py_ssize_t nl = ptr.shape[0] - 1, px = bx.shape[0], l, a, b, j, j2
    cdef double acc, s
    _check_entries(ptr, idx.shape[0], "level_quadform")
    if (bz.shape[0] != idx.shape[0] or (px and bx.shape[1] != nl)
            or Sinv.shape[1] < q_rest + px or Sinv.shape[0] < q_rest + px):
        raise ValueError("level_quadform: bz, bx and Sinv do not match the entries")
    out_arr = np.empty(nl, dtype=np.float64)
    cdef double[::1] out = out_arr
    with nogil:
        for l in range(nl):
            acc = 0.0
            for b in range(ptr[l], ptr[l + 1]):
                s = 0.5 * bz[b] * Sinv[idx[b], idx[b]]
                for a in range(b + 1, ptr[l + 1]):  # idx sorted: idx[a] > idx[b]
                    s = s + bz[a] * Sinv[idx[a], idx[b]]
                acc = acc + 2.0 * bz[b] * s
                for j in range(px):
                    acc = acc + 2.0 * bz[b] * bx[j, l] * Sinv[q_rest + j, idx[b]]
            for j in range(px):
                s = 0.5 * bx[j, l] * Sinv[q_rest + j, q_rest + j]
                for j2 in range(j + 1, px):
                    s = s + bx[j2, l] * Sinv[q_rest + j2, q_rest + j]
                acc = acc + 2.0 * bx[j, l] * s
            out[l] = acc
    return out_arr


def merged_quadform(pptr, prow, pval, rcol, rptr, rcls, w, rscale, Sinv):
    """sum_l c_l b_l' Sinv b_l over the class-merged level pairs (ML, scalar terms).

    With the merged entries of ``_merge`` (b_l = f_l v_l rscale, c_l = w[class]
    / f_l^2 folded into ``w``), this is the sum over the class runs r of
    column c (``_pairs.class_runs``) of w[rcls[r]] rscale[c] times the sum
    over their entries e of (2 - [row == c]) pval[e] rscale[row] Sinv[row, c].
    Column c of Sinv is read contiguously; give ``w`` = 0 for the
    Z_rest'Z_rest class. The rows and values come in either storage of
    ``_pairs.narrow_merged``. Pointers, runs and classes are checked; the
    rows are not (they come from checked level entries, see
    ``_pairs.MergedPairs``). The blocked gradient needs only this sum of the
    first factor's quadratic forms, so the per-level ``level_quadform`` is
    not needed on this path.

    NumPy: ``sum(c_l * b_l @ S @ b_l for each level l)``.
    """
    row_type, value_type = np.asarray(prow).dtype, np.asarray(pval).dtype
    if row_type not in (np.int32, np.uint16) or value_type not in (np.float32, np.float64):
        raise ValueError(f"merged_quadform: rows must be int32 or uint16 and values float32 "
                         f"or float64 (dtype), got {row_type} and {value_type}")
    return _merged_quadform(pptr, prow, pval, rcol, rptr, rcls, w, rscale, Sinv)


def _merged_quadform(const int64_t[::1] pptr, const entry_row[::1] prow,
                     const stream_value[::1] pval, const int64_t[::1] rcol,
                     const int64_t[::1] rptr, const int32_t[::1] rcls, const double[::1] w,
                     const double[::1] rscale, const double[::1, :] Sinv):
    """:func:`merged_quadform` for one storage of the rows and values."""
    cdef Py_ssize_t q = pptr.shape[0] - 1, c, e, r, e1, row
    cdef double acc = 0.0, s0, s1
    cdef const double* col
    _check_entries(pptr, prow.shape[0], "merged_quadform")
    if (pval.shape[0] != prow.shape[0] or rscale.shape[0] < q or Sinv.shape[0] < q
            or Sinv.shape[1] < q or rptr.shape[0] != rcls.shape[0] + 1
            or not rises(rcol, rcls.shape[0]) or not rises(rptr, prow.shape[0])
            or not runs_in_columns(rcol, rptr, pptr) or not within(rcls, w.shape[0])):
        raise ValueError("merged_quadform: values, runs, classes, rscale or Sinv do not match")
    with nogil:
        for c in range(q):
            col = &Sinv[0, c]
            for r in range(rcol[c], rcol[c + 1]):
                # two partial sums: the loop is bound by the latency of one add chain
                s0 = s1 = 0.0
                e = rptr[r]
                e1 = rptr[r + 1]
                while e + 2 <= e1:
                    row = prow[e]
                    s0 = s0 + pval[e] * rscale[row] * col[row] * (2.0 - (row == c))
                    row = prow[e + 1]
                    s1 = s1 + pval[e + 1] * rscale[row] * col[row] * (2.0 - (row == c))
                    e += 2
                if e < e1:
                    row = prow[e]
                    s0 = s0 + pval[e] * rscale[row] * col[row] * (2.0 - (row == c))
                acc = acc + w[rcls[r]] * (s0 + s1) * rscale[c]
    return acc


def residual_cross(const double[:, :, ::1] A11, const double[:, :, ::1] AZX,
                   const int64_t[::1] ptr, const int32_t[::1] idx, const double[:, ::1] val,
                   const int64_t[::1] gptr, const int32_t[::1] grow, const double[::1] gval,
                   const double[:, ::1] AXr, const double[::1] beta,
                   const double[::1] b1, const double[::1] br):
    """Z' r for the residual r = y - X beta - Z b, from the stored blocks (scalar terms).

    ``b1`` (nl,) are the first factor's effects, ``br`` (q_rest,) the rest's;
    ``gptr``/``grow``/``gval`` the lower triangle of Z_rest'Z_rest by column
    (CSC) and ``AXr`` (q_rest, P) its cross products with [X y].

    Returns
    -------
    zr1 : ndarray of shape (nl,)
        Z1' r per level: AZX[p, l] - AZX[:p, l] @ beta - A11[l] b1[l] - A1r_l @ br.
    zrr : ndarray of shape (q_rest,)
        Z_rest' r: AXr[:, p] - AXr[:, :p] @ beta - A1r.T @ b1 - A_rr @ br.
    """
    cdef Py_ssize_t nl = A11.shape[0], p = beta.shape[0], q = AXr.shape[0], l, a, j, c, e, r
    cdef double acc
    _check_entries(ptr, idx.shape[0], "residual_cross")
    _check_entries(gptr, grow.shape[0], "residual_cross (Gram)")
    if not within(grow, q):
        raise ValueError("residual_cross: Gram rows out of range")
    if (ptr.shape[0] != nl + 1 or val.shape[0] != idx.shape[0] or gval.shape[0] != grow.shape[0]
            or AZX.shape[0] != p + 1 or AZX.shape[1] != nl or AXr.shape[1] != p + 1
            or b1.shape[0] != nl or br.shape[0] != q or gptr.shape[0] != q + 1):
        raise ValueError("residual_cross: inconsistent sizes")
    zr1_arr = np.empty(nl, dtype=np.float64)
    zrr_arr = np.empty(q, dtype=np.float64)
    cdef double[::1] zr1 = zr1_arr, zrr = zrr_arr
    with nogil:
        for c in range(q):
            acc = AXr[c, p]
            for j in range(p):
                acc = acc - AXr[c, j] * beta[j]
            zrr[c] = acc
        # NumPy: zrr -= A_rr @ br, A_rr symmetric from its lower triangle
        for c in range(q):
            for e in range(gptr[c], gptr[c + 1]):
                r = grow[e]
                zrr[r] -= gval[e] * br[c]
                if r != c:
                    zrr[c] -= gval[e] * br[r]
        for l in range(nl):
            acc = AZX[p, l, 0] - A11[l, 0, 0] * b1[l]
            for j in range(p):
                acc = acc - AZX[j, l, 0] * beta[j]
            for a in range(ptr[l], ptr[l + 1]):
                acc = acc - val[a, 0] * br[idx[a]]
                zrr[idx[a]] -= val[a, 0] * b1[l]
            zr1[l] = acc
    return zr1_arr, zrr_arr


cdef extern from "_normsq.h":
    double mixedlm_level_normsq(int64_t nl, const int64_t* ptr, const int32_t* idx,
                                const double* val, const double* wl, const double* rscale,
                                const double* X, int64_t ldx, int64_t m,
                                double* diag, double* panel) noexcept nogil
    int MIXEDLM_NORMSQ_ROWS


def level_normsq(const int64_t[::1] ptr, const int32_t[::1] idx, const double[:, ::1] val,
                 const double[::1] wl, const double[::1] rscale, const double[::1, :] X,
                 Py_ssize_t m, double[::1] work=None):
    """sum_l wl[l] ||X (rscale * v_l)||^2 for the lower-triangular m x m ``X``,
    and the squared norms of X's columns (the diagonal of X'X).

    v_l is level l's sparse column over the rest columns (entries
    ``ptr[l]:ptr[l+1]`` of ``idx``/``val``, ``idx`` ascending within a level,
    one value per entry: a scalar first factor); only X's lower triangle is
    read. With X = inv(L11), ||X b||^2 = b' inv(S) b, so this is the
    gradient's weighted sum of the first factor's quadratic forms without
    forming inv(S) = X'X (``_chol.lauum_rec``, m^3 / 6 multiply-adds): here
    about sum over entries of (m - column) multiply-adds (exactly:
    ``_pairs.normsq_work``, the blocks being padded), over 64-row blocks of X
    packed so that each stays in L2 cache (``_normsq.h``, in vectors of 4
    doubles, compiled for AVX2 too where the compiler can dispatch on the
    CPU; every version gives the same bits). Measured on InstEval (m = 1128,
    73k entries, 1 thread, AMD EPYC): 4.5 ms against 11.7 ms for
    ``lauum_rec`` plus 1-2.7 ms for ``merged_quadform``.

    ``work``, scratch of at least :data:`NORMSQ_WORK_ROWS` * m doubles, is
    allocated when not given (the solver keeps one across evaluations).

    NumPy: ``sum(wl[l] * np.sum((np.tril(X) @ (rscale * V[l])) ** 2))`` and
    ``(np.tril(X) ** 2).sum(axis=0)``.

    Returns
    -------
    total : float
    diag : ndarray of shape (m,)
    """
    cdef Py_ssize_t nl = ptr.shape[0] - 1
    cdef double total = 0.0
    _check_entries(ptr, idx.shape[0], "level_normsq")
    if (val.shape[0] != idx.shape[0] or val.shape[1] != 1 or wl.shape[0] != nl
            or rscale.shape[0] < m or X.shape[0] < m or X.shape[1] < m):
        raise ValueError("level_normsq: val, wl, rscale or X do not match the entries")
    if not within(idx, m):
        raise ValueError("level_normsq: entries out of range")
    if not ascending_within(ptr, idx):
        raise ValueError("level_normsq: columns must ascend within each level")
    diag_arr = np.zeros(m, dtype=np.float64)
    cdef double[::1] diag = diag_arr
    if m == 0:
        return 0.0, diag_arr
    if work is None:
        work = np.empty(MIXEDLM_NORMSQ_ROWS * m, dtype=np.float64)
    elif work.shape[0] < MIXEDLM_NORMSQ_ROWS * m:
        raise ValueError(f"level_normsq: work needs {MIXEDLM_NORMSQ_ROWS * m} doubles")
    with nogil:
        total = mixedlm_level_normsq(nl, &ptr[0], &idx[0] if idx.shape[0] else NULL,
                                     &val[0, 0] if idx.shape[0] else NULL,
                                     &wl[0] if nl else NULL, &rscale[0], &X[0, 0],
                                     X.strides[1] // sizeof(double), m, &diag[0], &work[0])
    return total, diag_arr


#: Rows of the inverse factor per packed block of :func:`level_normsq`: its
#: ``work`` needs this many doubles per column.
NORMSQ_WORK_ROWS = MIXEDLM_NORMSQ_ROWS


