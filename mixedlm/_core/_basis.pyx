"""Level pairs of the first factor folded onto a basis of class weights.

With scalar terms, the blocked solver's Schur complement needs, per theta,

    sum_k w_k M_k,    M_k = sum over the levels l of class k of v_l v_l'

(``_merge`` explains the classes; v_l are level l's cross products with the
rest columns). On large crossed designs the classes are many and each M_k is
nearly dense (20,000 x 2,000 levels, 4M rows: 104 classes, 360M level pairs),
so streaming them costs per theta as much as the level pairs do, and that
count grows with the rows. But the weights (w_k) for every theta lie, to
rounding, in an r-dimensional space with an orthonormal basis U (K x r)
(``mixedlm._classbasis``, r = 12 there, and 15 at 1M rows). With alpha = U'w,

    sum_k w_k M_k = sum_j alpha_j P_j,    P_j = sum_k U[k, j] M_k,

and the P_j are formed here once. Per theta the Schur complement then costs
r multiply-adds per entry of its lower triangle, read in order, whatever the
number of rows; the gradient's quadratic forms use the same P_j.

Storage layout
--------------
* ``P`` (r * q (q + 1) / 2,) float64, by rest column c: the block at
  ``basis_offset(c, q, r)`` = r (c q - c (c - 1) / 2) is (r, q - c) in C
  order, row j holding P_j[c:, c]. Reading column c for every j is one
  contiguous run.
* ``X`` (q, r, Pxy) float64, C order: X[c, j, :] = sum_k U[k, j] sum over
  the levels l of class k touching c of v_l[c] AZX[:, l].
Inputs are those of ``_merge.merge_level_pairs`` plus U (K, r), C order.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t
from libc.string cimport memcpy, memset
from scipy.linalg.cython_blas cimport dgemm

from ._merge cimport accumulate_class_run, entry_row, entry_value, run_pair_count
from ._remat import column_class_entries

cnp.import_array()


cdef inline Py_ssize_t basis_offset(Py_ssize_t c, Py_ssize_t q, Py_ssize_t r) noexcept nogil:
    """Start of column c's (r, q - c) block in ``P``."""
    return r * (c * q - (c * (c - 1)) // 2)


def basis_level_pairs(const int64_t[::1] ptr, const int32_t[::1] idx,
                      const double[:, ::1] val, const int32_t[::1] cls,
                      const double[:, ::1] U, const double[:, :, ::1] AZX,
                      Py_ssize_t q_rest):
    """Form P and X (see the module docstring) in one pass over the level pairs.

    Each column's entries are walked class by class; the n_c classes met in
    column c accumulate their products in the rows of a dense (n_c, q)
    scratch, and one ``dgemm`` folds them into the r basis columns:
    P_j[c:, c] += sum over those classes of U[k, j] acc_k[c:].

    The walk is bound by reading the level entries (each column reads its
    levels' tails from all over them), so it reads them narrowed when that
    loses nothing (``_narrow_entries``): rows as uint16 when q <= 65536,
    values as uint8 when every one is an integer in [0, 255] (counts, for
    intercept terms), else as float32 when every one is exactly a float32;
    the products are still formed and summed in float64, so P is the same to
    the bit. Measured on the 20,000 x 2,000 design at 4M rows (366M level
    pairs; medians of 10, alternated in one process): 1.43 s with uint16 rows,
    float32 values and the first line of each level prefetched; 0.75 s with
    uint8 values, every line prefetched and AZX read by level (1M rows:
    0.37 and 0.29 s, where faulting in the 240 MB of P is most of it).

    Returns
    -------
    P : ndarray of shape (r * q (q + 1) / 2,)
    X : ndarray of shape (q, r, Pxy)
    """
    cdef Py_ssize_t nl = ptr.shape[0] - 1, nnz = idx.shape[0], nclass = U.shape[0]
    cdef Py_ssize_t r = U.shape[1], Pxy = AZX.shape[0], q = q_rest
    if val.shape[0] != nnz or val.shape[1] != 1 or AZX.shape[1] != nl or AZX.shape[2] != 1:
        raise ValueError("basis_level_pairs: inconsistent sizes (scalar first factor)")
    if cls.shape[0] != nl or r < 1:
        raise ValueError("basis_level_pairs: one class per level and a basis of rank >= 1")
    cptr_arr, cent_arr, clev_arr = column_class_entries(ptr, idx, cls, nclass, q)
    P_arr = np.zeros(r * q * (q + 1) // 2, dtype=np.float64)
    X_arr = np.zeros((q, r, Pxy), dtype=np.float64)
    if q == 0:
        return P_arr, X_arr
    cdef const int64_t[::1] cptr = cptr_arr, cent = cent_arr
    cdef const int32_t[::1] clev = clev_arr
    cdef double[::1] Pv = P_arr
    cdef double[:, :, ::1] X = X_arr
    # AZX by level: the walk reads one level's Pxy values together
    cdef const double[:, ::1] AZXt = np.ascontiguousarray(np.asarray(AZX)[:, :, 0].T)
    idx16, narrowed = _narrow_entries(idx, val, q)
    cdef const uint16_t[::1] i16
    cdef const uint8_t[:, ::1] v8
    cdef const float[:, ::1] v32
    if idx16 is None:
        _fold_columns(ptr, idx, val, cls, U, AZXt, cptr, cent, clev, Pv, X)
    elif narrowed.dtype == np.uint8:
        i16, v8 = idx16, narrowed
        _fold_columns(ptr, i16, v8, cls, U, AZXt, cptr, cent, clev, Pv, X)
    else:
        i16, v32 = idx16, narrowed
        _fold_columns(ptr, i16, v32, cls, U, AZXt, cptr, cent, clev, Pv, X)
    return P_arr, X_arr


cdef int _fold_columns(const int64_t[::1] ptr, const entry_row[::1] idx,
                        const entry_value[:, ::1] val, const int32_t[::1] cls,
                        const double[:, ::1] U, const double[:, ::1] AZXt,
                        const int64_t[::1] cptr, const int64_t[::1] cent,
                        const int32_t[::1] clev, double[::1] Pv,
                        double[:, :, ::1] X) except -1:
    """The column loop of ``basis_level_pairs`` on entries of one storage type;
    the caller has checked the sizes. Allocates its scratch, then runs nogil."""
    cdef Py_ssize_t q = cptr.shape[0] - 1, nclass = U.shape[0], r = U.shape[1]
    cdef Py_ssize_t Pxy = AZXt.shape[1], c, t, t0, t1, j, k, g, m, nk, kk, ntouch, jj
    cdef double s
    cdef int fm, fr = <int>r, fk, ldq = <int>q
    cdef double one = 1.0
    cdef char tn = b'N', tt = b'T'
    cdef double* pc
    cdef double* acc
    cdef const double* uk
    cdef int64_t[::1] mark = np.full(q, -1, dtype=np.int64)
    cdef double[:, ::1] Acc = np.zeros((nclass, q), dtype=np.float64)
    cdef double[:, ::1] Uc = np.empty((nclass, r), dtype=np.float64)
    cdef double[::1] accx = np.zeros(max(Pxy, 1), dtype=np.float64)
    # per class met in the column, its rows (one spare slot: the branch-free
    # append writes before it knows the row is new) and their number
    cdef int32_t[:, ::1] touched = np.empty((nclass, q + 1), dtype=np.int32)
    cdef int64_t[::1] ntouched = np.empty(nclass, dtype=np.int64)
    with nogil:
        for c in range(q):
            pc = &Pv[basis_offset(c, q, r)]
            m = q - c
            nk = 0
            t0 = cptr[c]
            while t0 < cptr[c + 1]:
                k = cls[clev[t0]]
                g = c * (nclass + 1) + k  # a group id unique to (column, class)
                acc = &Acc[nk, 0]
                if run_pair_count(t0, cptr[c + 1], cls, cent, clev, ptr) >= m:
                    # a dense run: skip the touched-row bookkeeping, clear it whole
                    t1 = accumulate_class_run(t0, cptr[c + 1], cls, cent, clev, ptr, idx,
                                              val, AZXt, g, NULL, acc, &accx[0], NULL,
                                              NULL, False)
                    ntouch = m
                else:
                    ntouch = 0
                    t1 = accumulate_class_run(t0, cptr[c + 1], cls, cent, clev, ptr, idx,
                                              val, AZXt, g, &mark[0], acc, &accx[0],
                                              &touched[nk, 0], &ntouch)
                ntouched[nk] = ntouch
                uk = &U[k, 0]
                for j in range(r):
                    Uc[nk, j] = uk[j]
                # NumPy: X[c] += np.outer(U[k], accx); accx = 0
                for jj in range(Pxy):
                    s = accx[jj]
                    accx[jj] = 0.0
                    for j in range(r):
                        X[c, j, jj] += uk[j] * s
                nk += 1
                t0 = t1
            if nk == 0:
                continue
            # BLAS dgemm, NumPy: P[:, c:, c] += Uc[:nk].T @ Acc[:nk, c:]
            fm = <int>m
            fk = <int>nk
            dgemm(&tn, &tt, &fm, &fr, &fk, &one, &Acc[0, c], &ldq, &Uc[0, 0], &fr,
                  &one, pc, &fm)
            for kk in range(nk):
                acc = &Acc[kk, 0]
                if 4 * ntouched[kk] >= m:
                    memset(acc + c, 0, m * sizeof(double))
                else:
                    for t in range(ntouched[kk]):
                        acc[touched[kk, t]] = 0.0
    return 0


def _narrow_entries(const int32_t[::1] idx, const double[:, ::1] val, Py_ssize_t q):
    """The entries as the narrowest types that hold them exactly, or (None, None).

    Rows as uint16 (q <= 65536); values as uint8 when every one is an integer
    in [0, 255], else as float32 when every one is a float32 number. Returns
    (None, None) when the rows or the values need their stored types.
    """
    if q > 65536:
        return None, None
    values = np.asarray(val)
    if np.all((values >= 0) & (values <= 255) & (values == np.floor(values))):  # NaN: no
        return np.asarray(idx).astype(np.uint16), values.astype(np.uint8)
    with np.errstate(over="ignore"):  # beyond float32's range: inf, caught next
        val32 = values.astype(np.float32)
    if not np.array_equal(val32, values):  # a value float32 would round (or NaN)
        return None, None
    return np.asarray(idx).astype(np.uint16), val32


cdef void assemble_basis(double* Tp, Py_ssize_t ld, Py_ssize_t qr, Py_ssize_t P,
                         const double* Pb, const double* Xb, Py_ssize_t r,
                         const double* alpha, const double* rs,
                         const int64_t* gptr, const int32_t* grow, const double* gval,
                         const double* AXr, const double* XX) noexcept nogil:
    """T = S (A_WW - sum_k w_k M_k) S below the diagonal, S = diag(rscale, 1).

    Column c of T (leading dimension ``ld``): rows c..qr-1 get
    -rs[c] rs[row] sum_j alpha_j P_j[row, c], then the Z_rest'Z_rest entries
    of column c (CSC lower triangle ``gptr``/``grow``/``gval``); the [X y]
    rows get rs[c] (AXr[c] - sum_j alpha_j X[c, j]). The [X y] corner is
    copied from ``XX`` ((P, P), Fortran). ``AXr`` is (qr, P), C order.
    """
    cdef Py_ssize_t c, i, j, m, e
    cdef double sc, aj, s
    cdef double* col
    cdef const double* pc
    cdef const double* xc
    for c in range(qr):
        col = Tp + c * ld
        sc = rs[c]
        m = qr - c
        pc = Pb + basis_offset(c, qr, r)
        # NumPy: T[c:qr, c] = P[:, c:, c].T @ alpha  (r contiguous axpys)
        aj = alpha[0]
        for i in range(m):
            col[c + i] = aj * pc[i]
        for j in range(1, r):
            aj = alpha[j]
            for i in range(m):
                col[c + i] += aj * pc[j * m + i]
        # NumPy: T[c:qr, c] *= -sc * rs[c:qr]
        for i in range(m):
            col[c + i] *= -sc * rs[c + i]
        # NumPy: T[grow, c] += sc * rs[grow] * gval  (Z_rest'Z_rest, column c)
        for e in range(gptr[c], gptr[c + 1]):
            col[grow[e]] += sc * rs[grow[e]] * gval[e]
        # NumPy: T[qr:, c] = sc * (AXr[c] - alpha @ X[c])
        xc = Xb + c * r * P
        for i in range(P):
            s = AXr[c * P + i]
            for j in range(r):
                s -= alpha[j] * xc[j * P + i]
            col[qr + i] = sc * s
    # NumPy: T[qr:, qr:] = XX (lower triangle)
    for c in range(P):
        memcpy(Tp + (qr + c) * ld + qr + c, XX + c * P + c, (P - c) * sizeof(double))


def basis_quadform(const double[::1] Pb, const double[:, :, ::1] X, const double[::1] beta,
                   const double[::1] rscale, const double[::1, :] Sinv, Py_ssize_t p):
    """sum_k g_k (v' R S_zz R v + 2 v' R S_zx AZX[:p]) summed over class k's levels,
    with the class weights g = U beta folded in (R = diag(rscale)).

    ``Sinv`` holds inv(Omega) in its lower triangle over the q rest columns
    and, when ``p`` > 0 (REML), the p fixed-effects columns after them. This
    is the gradient's sum over first-factor levels of g_l b_l' Sinv b_l
    without the per-level AZX' S_xx AZX term, which the caller adds.

    NumPy: ``sum_j beta_j (sum over c, row >= c of (2 - [row == c]) P_j[row, c]
    rs[row] rs[c] S[row, c] + 2 sum_c rs[c] X[c, j, :p] @ S[q:q+p, c])``.
    """
    cdef Py_ssize_t q = rscale.shape[0], r = beta.shape[0], c, i, j, m, jj
    cdef double acc = 0.0, s0, s1, s2, s3, xs, bj
    cdef const double* pc
    cdef const double* sc
    if r < 1 or Pb.shape[0] != r * q * (q + 1) // 2 or X.shape[0] != q or X.shape[1] != r:
        raise ValueError("basis_quadform: P and X do not match beta (rank >= 1) and rscale")
    if Sinv.shape[1] < q + p or Sinv.shape[0] < q + p or X.shape[2] < p:
        raise ValueError("basis_quadform: Sinv does not cover the rest and fixed columns")
    y_arr = np.empty(max(q, 1), dtype=np.float64)
    cdef double[::1] y = y_arr
    with nogil:
        for c in range(q):
            m = q - c
            pc = &Pb[basis_offset(c, q, r)]
            sc = &Sinv[0, c]
            # NumPy: y = P[:, c:, c].T @ beta  (r contiguous axpys)
            bj = beta[0]
            for i in range(m):
                y[i] = bj * pc[i]
            for j in range(1, r):
                bj = beta[j]
                for i in range(m):
                    y[i] += bj * pc[j * m + i]
            # NumPy: y @ (rs[c:] * S[c:, c]) counting the off-diagonal twice;
            # four partial sums: the loop is bound by the latency of one add chain
            y[0] *= 0.5
            s0 = s1 = s2 = s3 = 0.0
            i = 0
            while i + 4 <= m:
                s0 = s0 + y[i] * rscale[c + i] * sc[c + i]
                s1 = s1 + y[i + 1] * rscale[c + i + 1] * sc[c + i + 1]
                s2 = s2 + y[i + 2] * rscale[c + i + 2] * sc[c + i + 2]
                s3 = s3 + y[i + 3] * rscale[c + i + 3] * sc[c + i + 3]
                i += 4
            while i < m:
                s0 = s0 + y[i] * rscale[c + i] * sc[c + i]
                i += 1
            # NumPy: beta @ X[c, :, :p] @ S[q:q+p, c]
            xs = 0.0
            for jj in range(p):
                bj = 0.0
                for j in range(r):
                    bj = bj + beta[j] * X[c, j, jj]
                xs = xs + bj * sc[q + jj]
            acc = acc + rscale[c] * (2.0 * ((s0 + s1) + (s2 + s3)) + 2.0 * xs)
    return acc
