"""Pieces of the blocked solver's analytic gradient (scalar terms).

With every term scalar, Lambda is diagonal and the derivative of the
profiled objective in a term's theta needs (``_solvers.BlockedSolver``):

* the term's entries of diag(Omega^{-1}): for the rest terms they are read
  off inv(Omega) (``_blocked.objective_blocked`` writes it); for the first
  factor they need b_l' inv(S) b_l per level, summed with weights:
  ``level_quadform`` (per level), ``merged_quadform`` (class-merged pairs,
  ``_merge``) or ``_basis.basis_quadform`` (class basis);
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

from ._checks cimport rises, within

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

    Measured against the alternative of skipping X'X and accumulating
    ||X b_l||^2 from X = inv(LT) column by column: that streams about nnz * m / 2
    entries of X from outside the L2 cache (22 ms on InstEval), while X'X by
    ``dlauum``-style BLAS-3 plus this lookup costs about 11 ms.

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


def merged_quadform(const int64_t[::1] pptr, const int32_t[::1] prow,
                    const int32_t[::1] pcls, const double[::1] pval, const double[::1] w,
                    const double[::1] rscale, const double[::1, :] Sinv):
    """sum_l c_l b_l' Sinv b_l over the class-merged level pairs (ML, scalar terms).

    With the merged entries of ``_merge`` (b_l = f_l v_l rscale, c_l = w[class]
    / f_l^2 folded into ``w``), this is sum over entries e of column c of
    w[pcls[e]] (2 - [row == c]) pval[e] rscale[row] rscale[c] Sinv[row, c].
    Column c of Sinv is read contiguously; give ``w`` = 0 for the Z_rest'Z_rest
    class. The blocked gradient needs only this sum of the first factor's
    quadratic forms, so the per-level ``level_quadform`` is not needed on
    this path.

    NumPy: ``sum(c_l * b_l @ S @ b_l for each level l)``.
    """
    cdef Py_ssize_t q = pptr.shape[0] - 1, c, e, r, e0, e1
    cdef double acc = 0.0, s0, s1, s2, s3
    cdef const double* col
    _check_entries(pptr, prow.shape[0], "merged_quadform")
    if (pcls.shape[0] != prow.shape[0] or pval.shape[0] != prow.shape[0]
            or rscale.shape[0] < q or Sinv.shape[0] < q or Sinv.shape[1] < q):
        raise ValueError("merged_quadform: classes, values, rscale or Sinv do not match")
    with nogil:
        for c in range(q):
            col = &Sinv[0, c]
            # four partial sums: the loop is bound by the latency of one add chain
            s0 = s1 = s2 = s3 = 0.0
            e0 = pptr[c]
            e1 = pptr[c + 1]
            e = e0
            while e + 4 <= e1:
                s0 = s0 + w[pcls[e]] * pval[e] * rscale[prow[e]] * col[prow[e]] * (2.0 - (prow[e] == c))
                s1 = s1 + w[pcls[e + 1]] * pval[e + 1] * rscale[prow[e + 1]] * col[prow[e + 1]] * (2.0 - (prow[e + 1] == c))
                s2 = s2 + w[pcls[e + 2]] * pval[e + 2] * rscale[prow[e + 2]] * col[prow[e + 2]] * (2.0 - (prow[e + 2] == c))
                s3 = s3 + w[pcls[e + 3]] * pval[e + 3] * rscale[prow[e + 3]] * col[prow[e + 3]] * (2.0 - (prow[e + 3] == c))
                e += 4
            while e < e1:
                s0 = s0 + w[pcls[e]] * pval[e] * rscale[prow[e]] * col[prow[e]] * (2.0 - (prow[e] == c))
                e += 1
            acc = acc + ((s0 + s1) + (s2 + s3)) * rscale[c]
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
