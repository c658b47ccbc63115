"""Blocked Cholesky solver for several grouping factors (crossed or nested).

The first factor (the one with the most random effects) has a block-diagonal
Lambda'Z1'Z1 Lambda + I, so it is eliminated level by level; what is left, the
Schur complement over W = [Z_rest X y], is a dense symmetric matrix factored
by one recursive Cholesky (``_chol.chol_rec``, a faster ``dpotrf``; the
MixedModels.jl layout: the leading block stays diagonal, later blocks fill
in). Per theta:

    L_l = chol(lam1' A11_l lam1 + I)                            per level
    B_l = L_l^{-1} lam1' A1W_l                                  per level
    T   = Lambda_W' (A_WW - sum_l B_l' B_l) Lambda_W + [I 0; 0 0]
    LT  = chol(T)

and the objective reads log-determinants and sqrt(pwrss) off the diagonals.
No pass over the observations is made. With scalar terms the rest columns
may come in a dissected order (``mixedlm/_dissection.py``): T is then
factored by ``_sepchol``, component by component and then its dense root.

Storage layout
--------------
* ``A11`` (nl, K1, K1), ``AZX`` (P, nl, K1): as in ``_dense``.
* ``ptr`` (nl+1,) int64, ``idx`` (nnz,) int32, ``val`` (nnz, K1): the
  rest columns each level touches (``_remat.level_cross_sparse``), with
  ``idx`` sorted ascending within each level; ``cptr`` (q_rest+1,) int64 and
  ``cent`` (nnz,) int64 the same entries by rest column (positions into
  ``idx``/``val``), ``lev`` (nnz,) int32 the level of each entry.
* ``A22`` (Nw, Nw) Fortran, Nw = q_rest + P: lower triangle of A_WW.
* Workspaces overwritten per theta: ``L`` (nl, K1, K1) column-major blocks,
  ``C`` (P, nl, K1) and ``Csp`` (nnz, K1) the pieces of B, ``T`` (Nw, Nw)
  Fortran, holding LT after the call, stored in an (ld, Nw) array whose
  leading dimension ld >= Nw is padded to a multiple of 8 doubles so that
  every column starts 64-byte aligned (OpenBLAS measured 15-20% faster);
  rows past Nw are never touched. ``bs`` (nnz,) and ``Ct`` (nl, P)
  are scratch for the scalar fast path (may be empty otherwise).
* Rest scaling: when every rest term is scalar, ``rscale`` (q_rest,) holds
  the lambda of each column. Otherwise, per rest column i: ``rstart[i]`` the
  first column of its level block, ``rk[i]`` its width, ``rlam_off[i]`` the
  offset of its column-major lambda block in ``rlam``.
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport log, sqrt, M_PI
from libc.string cimport memcpy, memset
from libc.stdlib cimport malloc, free
from libc.stdint cimport int32_t, int64_t, uint16_t
from scipy.linalg.cython_blas cimport dsyrk
from ._basis cimport assemble_basis
from ._merge cimport entry_row, stream_value
from ._checks cimport rises, runs_in_columns, within
from ._chol cimport chol_inv_lead, chol_rec, lauum_rec
from ._sepchol cimport check_dissection, chol_dissected, chol_inv_dissected
from ._linalg cimport factor_level, lam_t_vec, solve_lower

cnp.import_array()


cdef void _scale_rest_general(double[::1, :] T, Py_ssize_t q_rest,
                              const int64_t[::1] rstart, const int64_t[::1] rk,
                              const int64_t[::1] rlam_off, const double[::1] rlam) noexcept nogil:
    """T <- Lambda_W' T Lambda_W on the full symmetric T (lower copied up first).

    NumPy: ``T = Lw.T @ T @ Lw`` with Lw = blockdiag(lambda blocks, I_P).
    In place: column s+c only depends on columns s+r with r >= c, so
    ascending c within a block is safe; rows likewise.
    """
    cdef Py_ssize_t nw = T.shape[1], i, j, r, s, k, c
    cdef double acc
    for j in range(nw):
        for i in range(j + 1, nw):
            T[j, i] = T[i, j]
    # right multiply: T[:, s+c] = sum_{r>=c} lam[r, c] T[:, s+r]
    for i in range(q_rest):
        s = rstart[i]; k = rk[i]; c = i - s
        for j in range(nw):
            acc = 0.0
            for r in range(c, k):
                acc = acc + rlam[rlam_off[i] + c * k + r] * T[j, s + r]
            T[j, i] = acc
    # left multiply: T[s+c, :] = sum_{r>=c} lam[r, c] T[s+r, :]
    for j in range(nw):
        for i in range(q_rest):
            s = rstart[i]; k = rk[i]; c = i - s
            acc = 0.0
            for r in range(c, k):
                acc = acc + rlam[rlam_off[i] + c * k + r] * T[s + r, j]
            T[i, j] = acc


cdef void _factor_levels_scalar(const double[:, :, ::1] A11, const double[:, :, ::1] AZX,
                                const int64_t[::1] ptr, const double[:, ::1] val,
                                double lam, int P, double[:, :, ::1] L,
                                double[:, :, ::1] C, double[:, ::1] Csp, double* Ct,
                                double* logdet, bint with_csp=True) noexcept nogil:
    """Per level of a scalar first factor: L_l = sqrt(lam^2 A11_l + 1), C[:, l]
    and, unless ``with_csp`` is false, Csp (both scaled by f_l = lam / L_l),
    and log L_l^2 into ``logdet``; also C row-major into ``Ct`` (nl x P)
    unless it is NULL."""
    cdef Py_ssize_t nl = A11.shape[0], l, j, a
    cdef double m, f
    for l in range(nl):
        m = lam * lam * A11[l, 0, 0] + 1.0
        L[l, 0, 0] = sqrt(m)
        logdet[0] += log(m)
        f = lam / L[l, 0, 0]
        if Ct != NULL:
            for j in range(P):
                C[j, l, 0] = f * AZX[j, l, 0]
                Ct[l * P + j] = C[j, l, 0]
        if with_csp:
            for a in range(ptr[l], ptr[l + 1]):
                Csp[a, 0] = f * val[a, 0]
    if Ct == NULL:
        # by column of C, so that C and AZX are read and written in order
        # (level-outer, the P writes per level are nl apart)
        for j in range(P):
            for l in range(nl):
                C[j, l, 0] = (lam / L[l, 0, 0]) * AZX[j, l, 0]


cdef int _eliminate_scalar(const double[:, :, ::1] A11, const double[:, :, ::1] AZX,
                           const int64_t[::1] ptr, const int32_t[::1] idx,
                           const double[:, ::1] val, const int64_t[::1] cptr,
                           const int64_t[::1] cent, const int32_t[::1] lev,
                           const double[::1, :] A22,
                           double lam, const double[::1] rscale, int qr, int P,
                           double[:, :, ::1] L, double[:, :, ::1] C, double[:, ::1] Csp,
                           double[::1, :] T, double* Ct, double* bs,
                           double* logdet) noexcept nogil:
    """Fast path of the per-level elimination: scalar first factor, scalar rest.

    Writes T = S (A22 - sum_l B_l' B_l) S with S = diag(rscale, 1) directly: A22
    is copied scaled and each B_l entry is scaled before it is subtracted, so no
    separate scaling pass over T is needed.

    Pass 1, over levels: L_l, C[:, l] (also into the row-major scratch ``Ct``,
    nl x P), Csp and its scaled copy ``bs``. Pass 2, column by column: column j
    of T is copied-and-scaled and then receives the contributions of every
    level that touches rest column j, found through the column-major incidence
    ``cptr``/``cent`` (entry positions) and ``lev`` (their levels). The column
    being built stays in L1 cache and each level's entries are read as one
    short sequential run.
    """
    cdef Py_ssize_t nw = T.shape[1], nl = A11.shape[0], l, a, b, j, c, e, t
    cdef Py_ssize_t ld = T.shape[0]  # padded leading dimension
    cdef double cb, sc
    cdef double* Tp = &T[0, 0]
    cdef double* col
    cdef double* colx
    cdef const double* ctl
    cdef const double* Ap = &A22[0, 0]
    cdef const double* rs = &rscale[0] if qr > 0 else NULL
    _factor_levels_scalar(A11, AZX, ptr, val, lam, P, L, C, Csp, Ct, logdet)
    for a in range(ptr[nl]):
        bs[a] = Csp[a, 0] * rs[idx[a]]
    for c in range(qr):
        # NumPy: T[c:, c] = A22[c:, c] * rscale[c] * [rscale, 1...][c:]
        col = Tp + c * ld
        sc = rs[c]
        for a in range(c, qr):
            col[a] = Ap[c * nw + a] * sc * rs[a]
        for a in range(qr, nw):
            col[a] = Ap[c * nw + a] * sc
        colx = col + qr
        for t in range(cptr[c], cptr[c + 1]):
            # NumPy: T[idx[b:e], c] -= bs[b:e] * bs[b];  T[qr:, c] -= C[:, l] * bs[b]
            b = cent[t]
            l = lev[b]
            e = ptr[l + 1]
            cb = bs[b]
            for a in range(b, e):
                col[idx[a]] -= bs[a] * cb
            ctl = Ct + l * P
            for j in range(P):
                colx[j] -= ctl[j] * cb
    # columns of [X y] (c >= qr): a plain copy; NumPy: T[qr:, qr:] = A22[qr:, qr:]
    for c in range(qr, nw):
        memcpy(Tp + c * ld + c, Ap + c * nw + c, (nw - c) * sizeof(double))
    return 0

cdef struct MergedStream:
    # one of each pair is set (the other NULL), as ``_pairs.narrow_merged`` stored it
    const int32_t* rows32
    const uint16_t* rows16
    const double* vals64
    const float* vals32
    const double* x64
    const float* x32


cdef inline void _scatter_sub(double* col, const entry_row* rows, const stream_value* vals,
                              double wk, Py_ssize_t e0, Py_ssize_t e1) noexcept nogil:
    """NumPy: ``col[rows[e0:e1]] -= wk * vals[e0:e1]`` (rows distinct within a run)."""
    cdef Py_ssize_t e
    for e in range(e0, e1):
        col[rows[e]] -= wk * vals[e]


cdef inline void _axpy_sub(double* colx, const stream_value* xv, double wk, int P) noexcept nogil:
    """NumPy: ``colx[:P] -= wk * xv[:P]``."""
    cdef Py_ssize_t j
    for j in range(P):
        colx[j] -= wk * xv[j]


cdef int _eliminate_merged(const double[:, :, ::1] A11, const double[:, :, ::1] AZX,
                           const int64_t[::1] ptr, const double[:, ::1] val,
                           double lam, const double[::1] rscale,
                           int qr, int P, double[:, :, ::1] L, double[:, :, ::1] C,
                           double[:, ::1] Csp, double[::1, :] T, const MergedStream* st,
                           const int64_t[::1] xptr, const int32_t[::1] xcls,
                           const double[::1] cls_a11,
                           const double[:, ::1] AXr, const double[::1, :] XX,
                           const int64_t[::1] rcol, const int64_t[::1] rptr,
                           const int32_t[::1] rcls, double* w, double* logdet) noexcept nogil:
    """The scalar fast path on class-merged level pairs (``_merge``).

    Pass 1, over levels: L_l, C[:, l] and Csp (kept for the solution and the
    gradient). Then one weight per class, w_k = lam^2 / (lam^2 A11_k + 1)
    (and w = -1 for the Z_rest'Z_rest entries, which the stream carries as
    the last class), and column by column: T[c:qr, c] = 0, T[qr:, c] =
    AXr[c], then the column's runs of merged entries are streamed in storage
    order (rows -= w_k v; [X y] rows -= w_k xval) and the column is scaled
    last (rows by rs[row] rs[c], [X y] rows by rs[c]), so that T = S (A_WW -
    sum_l B_l' B_l) S with S = diag(rscale, 1). The [X y] corner is copied
    from ``XX``. ``w`` is nclass + 1 scratch.

    The stream (``st``) is read through plain pointers, in the narrowest
    exact storage ``_pairs.narrow_merged`` found: the loop is bound by the
    bytes it streams (InstEval: 832k entries and 28k [X y] rows per
    evaluation, 17 MB at full width, 8 MB narrowed).
    """
    cdef Py_ssize_t nw = T.shape[1], ncls = cls_a11.shape[0]
    cdef Py_ssize_t a, j, c, e, r, g
    cdef Py_ssize_t ld = T.shape[0]  # padded leading dimension
    cdef double sc, wk
    cdef double* Tp = &T[0, 0]
    cdef double* col
    cdef double* colx
    cdef const double* rs = &rscale[0] if qr > 0 else NULL
    cdef const double* axr = &AXr[0, 0] if qr > 0 else NULL
    cdef const int64_t* rp = &rptr[0]
    cdef const int64_t* rc = &rcol[0]
    cdef const int32_t* rk = &rcls[0] if rcls.shape[0] > 0 else NULL
    cdef const int64_t* xp = &xptr[0]
    cdef const int32_t* xk = &xcls[0] if xcls.shape[0] > 0 else NULL
    _factor_levels_scalar(A11, AZX, ptr, val, lam, P, L, C, Csp, NULL, logdet)
    for g in range(ncls):
        w[g] = lam * lam / (lam * lam * cls_a11[g] + 1.0)
    w[ncls] = -1.0
    for c in range(qr):
        col = Tp + c * ld
        colx = col + qr
        # NumPy: T[c:qr, c] = 0; T[qr:, c] = AXr[c]
        memset(col + c, 0, (qr - c) * sizeof(double))
        memcpy(colx, axr + c * P, P * sizeof(double))
        # NumPy: T[prow, c] -= w[cls] * pval  (the column's runs, one class each)
        for r in range(rc[c], rc[c + 1]):
            wk = w[rk[r]]
            if st.rows16 != NULL:
                if st.vals32 != NULL:
                    _scatter_sub(col, st.rows16, st.vals32, wk, rp[r], rp[r + 1])
                else:
                    _scatter_sub(col, st.rows16, st.vals64, wk, rp[r], rp[r + 1])
            elif st.vals32 != NULL:
                _scatter_sub(col, st.rows32, st.vals32, wk, rp[r], rp[r + 1])
            else:
                _scatter_sub(col, st.rows32, st.vals64, wk, rp[r], rp[r + 1])
        # NumPy: T[qr:, c] -= w[xcls] @ xval  (the column's [X y] entries)
        for e in range(xp[c], xp[c + 1]):
            if st.x32 != NULL:
                _axpy_sub(colx, st.x32 + e * P, w[xk[e]], P)
            else:
                _axpy_sub(colx, st.x64 + e * P, w[xk[e]], P)
        # NumPy: T[c:qr, c] *= rscale[c:qr] * rscale[c]; T[qr:, c] *= rscale[c]
        sc = rs[c]
        for a in range(c, qr):
            col[a] = col[a] * rs[a] * sc
        for j in range(P):
            colx[j] = colx[j] * sc
    # columns of [X y]: NumPy: T[qr:, qr:] = XX (lower triangle)
    for c in range(P):
        memcpy(Tp + (qr + c) * ld + qr + c, &XX[c, c], (P - c) * sizeof(double))
    return 0


def objective_blocked(const double[:, :, ::1] A11, const double[:, :, ::1] AZX,
                      const int64_t[::1] ptr, const int32_t[::1] idx,
                      const double[:, ::1] val, const int64_t[::1] cptr,
                      const int64_t[::1] cent, const int32_t[::1] lev,
                      const double[::1, :] A22,
                      const double[::1, :] lam1, Py_ssize_t q_rest,
                      bint all_scalar, const double[::1] rscale,
                      const int64_t[::1] rstart, const int64_t[::1] rk,
                      const int64_t[::1] rlam_off, const double[::1] rlam,
                      double n, Py_ssize_t p, bint reml,
                      double[:, :, ::1] L, double[:, :, ::1] C,
                      double[:, ::1] Csp, double[::1, :] T,
                      double[::1] bs, double[:, ::1] Ct, double[::1, :] Sinv,
                      merged=None, basis=None, bint gram=True, dissected=None):
    """Profiled deviance (ML) or REML criterion for several grouping factors.

    When ``Sinv`` has m > 0 columns, the inverse of the leading m x m block
    of the Schur complement (lower triangle) is written into it as well, for
    the gradient: X = inv(LT[:m, :m]) comes out of the factorization
    (``_chol.chol_inv_lead``) and ``_chol.lauum_rec`` forms X'X, unless
    ``gram`` is false: ``Sinv`` then holds X itself (lower triangle), for
    ``_gradient.level_normsq``. Give a (0, 0) array otherwise.

    ``merged``, for the scalar fast path, is the tuple ``(pptr, prow, pval,
    xptr, xcls, xval, cls_a11, AXr, XX, rcol, rptr, rcls)``
    (``_pairs.MergedPairs``): the output of ``_merge.merge_level_pairs``
    without its classes per entry, the rows uint16 or int32 and the values
    and [X y] rows float32 or float64 (``_pairs.narrow_merged``), the A11
    value of each class, A_WW's [X y] rows by rest column ((q_rest, P), C
    order), its [X y] corner ((P, P), Fortran) and the class runs
    (``_pairs.class_runs``). ``A22``, ``cptr``/``cent``/``lev`` and
    ``bs``/``Ct`` are then not read (A22 may be empty). Its pointers, runs
    and classes are checked per call (O(q_rest + runs + [X y] rows)); its
    rows, like ``idx``, come from checked level entries and are not.

    ``basis``, for the same path on large designs, is the tuple ``(Pb, Xb,
    alpha, gptr, grow, gval, AXr, XX)``: the output of
    ``_basis.basis_level_pairs``, the coordinates alpha = U'w of this theta's
    class weights, the lower triangle of Z_rest'Z_rest by column (CSC) and
    ``AXr``, ``XX`` as above (``_basis.assemble_basis``). It takes precedence
    over ``merged``. ``Csp`` is then not written: nothing on that path reads
    it (the caller forms f_l val from ``L`` where it needs it), which keeps
    the evaluation free of O(nnz) work beyond the per-level factors.

    ``dissected``, for the scalar path in a dissected order of the rest
    columns (``mixedlm/_dissection.py``), is the tuple ``(cstart, rptr,
    rrow, work, gsize, usize)``: the components and their root rows, and the
    scratch of ``_sepchol``'s kernels, which then factor T (and form the
    inverse factor) in place of the dense ones. Checked per call (O(components
    + rows)).

    Sizes and pointers are checked on every call (C loops, O(levels +
    q_rest)); the entries of ``idx`` are checked once where the solver
    builds its column incidence (``_remat.column_incidence``).

    Returns
    -------
    float
        The objective; ``inf`` if a factorization fails.
    """
    cdef int nl = <int>A11.shape[0], k = <int>A11.shape[1], P = <int>(p + 1)
    cdef int nw = <int>T.shape[1], qr = <int>q_rest, nk = nl * k, kk = k * k
    cdef int ld = <int>T.shape[0]  # T's rows are padded: ld >= nw
    cdef int m_inv = <int>Sinv.shape[1], ld_inv = <int>Sinv.shape[0]
    cdef Py_ssize_t l, j, c, r, a, b, i1, i2
    cdef int info = 0
    cdef bint fast
    cdef double logdet_z = 0.0, logdet_x = 0.0, rr, d, obj, acc, s
    cdef double alpha = -1.0, one = 1.0
    cdef char uplo = b'L', trans = b'T'
    fast = all_scalar and k == 1
    cdef const int64_t[::1] pptr, xptr
    cdef const int32_t[::1] xcls
    cdef const double[::1] cls_a11
    cdef const double[:, ::1] AXr
    cdef const int32_t[::1] prow32 = None
    cdef const uint16_t[::1] prow16 = None
    cdef const double[::1] pval64 = None
    cdef const float[::1] pval32 = None
    cdef const double[:, ::1] xval64 = None
    cdef const float[:, ::1] xval32 = None
    cdef MergedStream stream
    cdef Py_ssize_t npair = 0, nxr = 0, xcols = 0
    cdef const double[::1, :] XX
    cdef const int64_t[::1] rcol, rptr
    cdef const int32_t[::1] rcls
    cdef bint use_basis = fast and basis is not None
    cdef bint use_merged = fast and merged is not None and not use_basis
    cdef double[::1] wcls
    cdef const double[::1] Pb, wbasis, gval
    cdef const double[:, :, ::1] Xb
    cdef const int64_t[::1] gptr
    cdef const int32_t[::1] grow
    cdef Py_ssize_t rb = 0
    cdef Py_ssize_t nnz = idx.shape[0]
    cdef bint use_dis = dissected is not None
    cdef const int64_t[::1] dstart, drptr
    cdef const int32_t[::1] drrow
    cdef double[::1] dwork
    cdef Py_ssize_t dg = 0, du = 0
    cdef int ncomp = 0
    if (nw != qr + P or ld < nw or ptr.shape[0] != nl + 1 or val.shape[0] != nnz
            or val.shape[1] != k or AZX.shape[0] != P or AZX.shape[1] != nl
            or AZX.shape[2] != k or A11.shape[2] != k or L.shape[0] != nl
            or L.shape[1] != k or L.shape[2] != k or C.shape[0] != P or C.shape[1] != nl
            or C.shape[2] != k or Csp.shape[0] != nnz or Csp.shape[1] != k
            or lam1.shape[0] != k or lam1.shape[1] != k or qr < 0 or p < 0):
        raise ValueError("objective_blocked: inconsistent sizes")
    if not rises(ptr, nnz):
        raise ValueError("objective_blocked: ptr must rise from 0 to len(idx)")
    if all_scalar and qr > 0 and rscale.shape[0] < qr:
        raise ValueError("objective_blocked: rscale needs one entry per rest column")
    if fast and not use_basis and not (merged is not None):
        if (bs.shape[0] < nnz or Ct.shape[0] != nl or Ct.shape[1] != P
                or cptr.shape[0] != qr + 1 or cent.shape[0] != nnz
                or lev.shape[0] != nnz or A22.shape[0] != nw or A22.shape[1] != nw):
            raise ValueError("objective_blocked: per-level scratch does not match")
    elif not fast and (A22.shape[0] != nw or A22.shape[1] != nw):
        raise ValueError("objective_blocked: A22 must be (q_rest + P) square")
    if use_basis:
        Pb, Xb, wbasis, gptr, grow, gval, AXr, XX = basis
        rb = wbasis.shape[0]
        if (rb < 1 or Xb.shape[0] != qr or Xb.shape[1] != rb or Xb.shape[2] != P
                or Pb.shape[0] != rb * qr * (qr + 1) // 2 or gptr.shape[0] != qr + 1
                or grow.shape[0] != gptr[qr] or gval.shape[0] != gptr[qr]
                or AXr.shape[0] != qr or AXr.shape[1] != P or XX.shape[0] != P
                or XX.shape[1] != P or (qr > 0 and rscale.shape[0] < qr)):
            raise ValueError("class-basis pairs do not match this model's sizes")
        if not rises(gptr, grow.shape[0]):
            raise ValueError("class-basis pairs: the Gram's column pointers must rise from 0")
        if not within(grow, qr):
            raise ValueError("class-basis pairs: Gram rows out of range")
    if use_merged:
        (pptr, prow_o, pval_o, xptr, xcls, xval_o, cls_a11, AXr, XX,
         rcol, rptr, rcls) = merged
        memset(&stream, 0, sizeof(MergedStream))
        npair = len(prow_o)
        nxr = len(xval_o)
        # each entry array in one of its two storage types (memoryviews check
        # dtype and contiguity); the pointers stay valid while ``merged`` lives
        if prow_o.dtype == np.uint16:
            prow16 = prow_o
            stream.rows16 = &prow16[0] if npair else NULL
        else:
            prow32 = prow_o
            stream.rows32 = &prow32[0] if npair else NULL
        if pval_o.dtype == np.float32:
            pval32 = pval_o
            stream.vals32 = &pval32[0] if npair else NULL
        else:
            pval64 = pval_o
            stream.vals64 = &pval64[0] if npair else NULL
        if xval_o.dtype == np.float32:
            xval32 = xval_o
            stream.x32 = &xval32[0, 0] if nxr and P else NULL
            xcols = xval32.shape[1]
        else:
            xval64 = xval_o
            stream.x64 = &xval64[0, 0] if nxr and P else NULL
            xcols = xval64.shape[1]
        if (pptr.shape[0] != qr + 1 or xptr.shape[0] != qr + 1 or xcols != P
                or AXr.shape[0] != qr or AXr.shape[1] != P or XX.shape[0] != P
                or XX.shape[1] != P or npair != pptr[qr] or len(pval_o) != pptr[qr]
                or xcls.shape[0] != xptr[qr] or nxr != xptr[qr]):
            raise ValueError("merged level pairs do not match this model's sizes")
        if prow16 is not None and qr > 65536:
            raise ValueError(f"merged level pairs: uint16 rows cannot index {qr} rest columns")
        if not rises(pptr, npair) or not rises(xptr, xcls.shape[0]):
            raise ValueError("merged level pairs: column pointers must rise from 0")
        if (rcol.shape[0] != qr + 1 or rptr.shape[0] != rcls.shape[0] + 1
                or not rises(rcol, rcls.shape[0]) or not rises(rptr, npair)
                or not runs_in_columns(rcol, rptr, pptr)):
            raise ValueError("merged level pairs: the class runs do not tile the columns")
        if not within(rcls, cls_a11.shape[0] + 1) or not within(xcls, cls_a11.shape[0]):
            raise ValueError("merged level pairs: a run's or an [X y] row's class is out "
                             "of range")
        wcls = np.empty(cls_a11.shape[0] + 1)
    if m_inv > nw or (m_inv > 0 and ld_inv < m_inv):
        raise ValueError(f"Sinv must be (ld >= m, m) with m <= {nw}")
    if use_dis:
        dstart, drptr, drrow, dwork, dg, du = dissected
        ncomp = <int>(dstart.shape[0] - 1)
        if not fast:
            raise ValueError("objective_blocked: a dissected order needs scalar terms")
        if not check_dissection(nw, dstart, drptr, drrow, dwork.shape[0], dg, du, qr):
            raise ValueError("objective_blocked: the dissection does not match this model")
        if dstart[ncomp] > qr or (m_inv > 0 and m_inv < dstart[ncomp]):
            raise ValueError("objective_blocked: the dissection's root must hold the "
                             "inverse's last rows and every [X y] row")
    cdef double *tmp = <double*>malloc(sizeof(double) * (kk + 1))
    if tmp == NULL:
        raise MemoryError()
    try:
        with nogil:
            if use_basis:
                _factor_levels_scalar(A11, AZX, ptr, val, lam1[0, 0], P, L, C, Csp, NULL,
                                      &logdet_z, False)
                assemble_basis(&T[0, 0], ld, qr, P, &Pb[0] if qr > 0 else NULL,
                               &Xb[0, 0, 0] if qr > 0 else NULL, rb, &wbasis[0],
                               &rscale[0] if qr > 0 else NULL, &gptr[0],
                               &grow[0] if gptr[qr] > 0 else NULL,
                               &gval[0] if gptr[qr] > 0 else NULL,
                               &AXr[0, 0] if qr > 0 else NULL, &XX[0, 0])
            elif use_merged:
                _eliminate_merged(A11, AZX, ptr, val, lam1[0, 0], rscale, qr, P, L, C,
                                  Csp, T, &stream, xptr, xcls, cls_a11, AXr,
                                  XX, rcol, rptr, rcls, &wcls[0], &logdet_z)
            elif fast:
                _eliminate_scalar(A11, AZX, ptr, idx, val, cptr, cent, lev, A22, lam1[0, 0],
                                  rscale, qr, P, L, C, Csp, T, &Ct[0, 0], &bs[0], &logdet_z)
            else:
                # T = A22 (lower triangle)
                for c in range(nw):
                    memcpy(&T[c, c], &A22[c, c], (nw - c) * sizeof(double))
            for l in range(0 if fast else nl):
                info = factor_level(k, P, &lam1[0, 0], &A11[l, 0, 0], &AZX[0, l, 0], nl * k,
                                    &L[l, 0, 0], &C[0, l, 0], tmp, &logdet_z)
                if info != 0:
                    break
                for a in range(ptr[l], ptr[l + 1]):
                    lam_t_vec(k, &lam1[0, 0], &val[a, 0], &Csp[a, 0])
                    solve_lower(k, &L[l, 0, 0], k, &Csp[a, 0])
                # NumPy: T[np.ix_(ix, ix)] -= Bz @ Bz.T (lower part), Bz = Csp[ptr[l]:ptr[l+1]]
                # idx is sorted within a level, so the inner loop walks down column idx[b]
                for b in range(ptr[l], ptr[l + 1]):
                    i2 = idx[b]
                    for a in range(b, ptr[l + 1]):
                        acc = 0.0
                        for c in range(k):
                            acc = acc + Csp[a, c] * Csp[b, c]
                        T[idx[a], i2] -= acc
                for a in range(ptr[l], ptr[l + 1]):
                    # NumPy: T[qr + j, idx[a]] -= C[j, l] @ Csp[a]
                    for j in range(P):
                        acc = 0.0
                        for c in range(k):
                            acc = acc + C[j, l, c] * Csp[a, c]
                        T[qr + j, idx[a]] -= acc
            if info == 0:
                # BLAS dsyrk, NumPy: T[qr:, qr:][lower] -= (Cm.T @ Cm)[lower], Cm = C.reshape(P, -1).T
                dsyrk(&uplo, &trans, &P, &nk, &alpha, &C[0, 0, 0], &nk, &one,
                      &T[qr, qr], &ld)
                if fast:
                    pass  # scaled while eliminating
                elif all_scalar:
                    # NumPy: T[:, :qr] *= np.outer(sc, sc[:qr]), sc = [rscale, 1...]
                    for c in range(qr):
                        for r in range(c, qr):
                            T[r, c] *= rscale[r] * rscale[c]
                        for r in range(qr, nw):
                            T[r, c] *= rscale[c]
                else:
                    _scale_rest_general(T, q_rest, rstart, rk, rlam_off, rlam)
                for c in range(qr):
                    T[c, c] += 1.0
                if m_inv > 0:
                    if use_dis:
                        info = chol_inv_dissected(nw, m_inv, &T[0, 0], ld, &Sinv[0, 0],
                                                  ld_inv, ncomp, &dstart[0], &drptr[0],
                                                  &drrow[0] if drrow.shape[0] else NULL,
                                                  &dwork[0], dg, du)
                    else:
                        info = chol_inv_lead(nw, m_inv, &T[0, 0], ld, &Sinv[0, 0], ld_inv)
                    if info == 0 and gram:
                        lauum_rec(m_inv, &Sinv[0, 0], ld_inv)
                elif use_dis:
                    info = chol_dissected(nw, &T[0, 0], ld, ncomp, &dstart[0], &drptr[0],
                                          &drrow[0] if drrow.shape[0] else NULL, &dwork[0],
                                          dg, du)
                else:
                    info = chol_rec(nw, &T[0, 0], ld)
        if info != 0:
            return np.inf
        for c in range(qr):
            logdet_z += 2.0 * log(T[c, c])
        for c in range(qr, qr + p):
            logdet_x += 2.0 * log(T[c, c])
        rr = T[nw - 1, nw - 1] * T[nw - 1, nw - 1]
        d = n - p if reml else n
        obj = logdet_z + d * (1.0 + log(2.0 * M_PI * rr / d))
        if reml:
            obj += logdet_x
        return obj
    finally:
        free(tmp)
