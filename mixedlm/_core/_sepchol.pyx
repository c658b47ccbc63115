"""Cholesky factor (and inverse factor) of the blocked solver's Schur
complement in a dissected order: independent components, then a dense root.

With the rest columns ordered (``mixedlm/_dissection.py``) so that no entry
of the Schur complement T joins two leading components, and [X y] last,

    T = [ A_1             B_1' ]
        [      ...        ...  ]
        [           A_m   B_m' ]
        [ B_1  ...  B_m   C    ]

where B_i is zero outside the root rows R_i its component reaches. Then

    L_i = chol(A_i),   G_i = B_i[R_i] inv(L_i)',   C[R_i, R_i] -= G_i G_i',
    L_C = chol(C)

is T's Cholesky factor, with zeros where T's pattern has them. With the
inverse of the leading m x m block (the random effects, for the gradient):
X_i = inv(L_i), X_C = inv(L_C[:m-k, :m-k]) and the off-diagonal block
X_21[:, component i] = -X_C[:, R_i] (G_i X_i) on the rows R_i below m.
On InstEval (1,128 instructors, AMD order) the factorization takes 54% of
the flops of a dense one, 57% with the inverse factor.

Storage layout
--------------
* ``a`` (T): column-major, leading dimension ``lda``, the lower triangle in
  the dissected order (as ``_blocked`` stores it). Overwritten by L.
  Entries outside the pattern must be 0 on entry (the assembly writes them
  so); they are never read and stay 0.
* ``cstart`` (ncomp+1,) int64: component i is the columns
  cstart[i]:cstart[i+1]; the root starts at k = cstart[ncomp].
* ``rptr`` (ncomp+1,) int64 and ``rrow`` int32: component i's root rows
  rrow[rptr[i]:rptr[i+1]], ascending, in [k, nw), the [X y] rows included.
* ``x``: column-major, leading dimension ``ldx``, receives inv(L[:m, :m])
  (lower triangle; its zeros written too).
* ``work``: float64 scratch of at least :func:`work_size` entries.
"""
import numpy as np
cimport numpy as cnp
from libc.string cimport memcpy, memset
from libc.stdint cimport int32_t, int64_t
from scipy.linalg.cython_blas cimport dsyrk, dtrmm
from ._chol cimport _solve_right, chol_inv, chol_inv_lead, chol_rec
from ._checks cimport rises

cnp.import_array()


cdef struct Runs:
    # the rows of a component as maximal runs of consecutive rows: run t is
    # rows[at[t]:at[t] + length[t]] = rows[at[t]] + 0, 1, ...
    int n
    int* at
    int* length


cdef inline void _find_runs(const int32_t* rows, int nr, Runs* runs) noexcept nogil:
    """Splits ``rows`` (ascending) into runs of consecutive rows."""
    cdef int ii
    runs.n = 0
    for ii in range(nr):
        if ii == 0 or rows[ii] != rows[ii - 1] + 1:
            runs.at[runs.n] = ii
            runs.length[runs.n] = 0
            runs.n += 1
        runs.length[runs.n - 1] += 1


cdef inline void _gather_rows(const double* a, int lda, const int32_t* rows, const Runs* runs,
                              int nr, int col0, int nc, double* g) noexcept nogil:
    """NumPy: ``g[:nr, :nc] = a[rows, col0:col0 + nc]`` (g column-major, ld nr),
    a run of rows at a time."""
    cdef int jj, t
    cdef const double* col
    for jj in range(nc):
        col = a + <Py_ssize_t>(col0 + jj) * lda
        for t in range(runs.n):
            memcpy(g + runs.at[t] + <Py_ssize_t>jj * nr, col + rows[runs.at[t]],
                   runs.length[t] * sizeof(double))


cdef inline void _scatter_rows(double* a, int lda, const int32_t* rows, const Runs* runs,
                               int nr, int col0, int nc, const double* g) noexcept nogil:
    """NumPy: ``a[rows, col0:col0 + nc] = g[:nr, :nc]``, a run of rows at a time."""
    cdef int jj, t
    cdef double* col
    for jj in range(nc):
        col = a + <Py_ssize_t>(col0 + jj) * lda
        for t in range(runs.n):
            memcpy(col + rows[runs.at[t]], g + runs.at[t] + <Py_ssize_t>jj * nr,
                   runs.length[t] * sizeof(double))


cdef inline void _add_run(double* dst, const double* src, int n) noexcept nogil:
    """NumPy: ``dst[:n] += src[:n]``."""
    cdef int d
    for d in range(n):
        dst[d] += src[d]


cdef inline void _update_root(double* a, int lda, const int32_t* rows, const Runs* runs,
                              int nr, const double* g, int nc, double* u) noexcept nogil:
    """NumPy: ``a[np.ix_(rows, rows)] -= g @ g.T`` (lower; rows ascending),
    added a run of rows at a time."""
    cdef char lo = b'L', no = b'N'
    cdef double minus = -1.0, zero = 0.0
    cdef int jj, t = 0, s, e
    cdef double* col
    cdef const double* ucol
    # BLAS dsyrk, NumPy: u[lower] = -(g @ g.T)[lower]
    dsyrk(&lo, &no, &nr, &nc, &minus, <double*>g, &nr, &zero, u, &nr)
    for jj in range(nr):
        while runs.at[t] + runs.length[t] <= jj:
            t += 1
        col = a + <Py_ssize_t>rows[jj] * lda
        ucol = u + <Py_ssize_t>jj * nr
        # rows jj.. of the run holding jj, then the later runs whole
        e = runs.at[t] + runs.length[t]
        _add_run(col + rows[jj], ucol + jj, e - jj)
        for s in range(t + 1, runs.n):
            _add_run(col + rows[runs.at[s]], ucol + runs.at[s], runs.length[s])


cdef inline void _runs_in(Runs* runs, double* space, Py_ssize_t n) noexcept nogil:
    """Runs stored in ``space`` (at least n + 1 doubles: two ints per entry)."""
    runs.at = <int*>space
    runs.length = runs.at + n


cdef inline void _fold_component(double* a, int lda, const int32_t* rows, Runs* runs,
                                 int rho, int b, int c, const double* xi, int ldx,
                                 double* work, Py_ssize_t gsize) noexcept nogil:
    """The root rows of component i (columns b:b+c, already factored): G =
    a[rows, b:b+c] inv(L_i)', written back as L's rows, and the root update
    a[rows, rows] -= G G'. Solved by L_i itself, or, when ``xi`` is given,
    by multiplying with X_i = inv(L_i)."""
    cdef char lo = b'L', no = b'N', tr = b'T', right = b'R'
    cdef double one = 1.0
    _find_runs(rows, rho, runs)
    _gather_rows(a, lda, rows, runs, rho, b, c, work)
    if xi == NULL:
        # NumPy: G = G @ inv(L_i).T (recursive, mostly dgemm)
        _solve_right(c, rho, a + <Py_ssize_t>b * lda + b, lda, work, rho)
    else:
        # BLAS dtrmm, NumPy: G = G @ X_i.T (= G inv(L_i)')
        dtrmm(&right, &lo, &tr, &no, &rho, &c, &one, <double*>xi, &ldx, work, &rho)
    _scatter_rows(a, lda, rows, runs, rho, b, c, work)
    _update_root(a, lda, rows, runs, rho, work, c, work + gsize)


cdef int chol_dissected(int nw, double* a, int lda, int ncomp, const int64_t* cstart,
                        const int64_t* rptr, const int32_t* rrow, double* work,
                        Py_ssize_t gsize, Py_ssize_t usize) noexcept nogil:
    """In place: the lower Cholesky factor of the dissected ``a``; 0 on
    success, else LAPACK's info (the order of the first non-positive minor).
    ``work`` holds G (``gsize`` entries), the root update (``usize``) and
    the rows' runs (:func:`work_size`)."""
    return chol_inv_dissected(nw, 0, a, lda, NULL, 1, ncomp, cstart, rptr, rrow, work,
                              gsize, usize)


cdef int chol_inv_dissected(int nw, int m, double* a, int lda, double* x, int ldx,
                            int ncomp, const int64_t* cstart, const int64_t* rptr,
                            const int32_t* rrow, double* work, Py_ssize_t gsize,
                            Py_ssize_t usize) noexcept nogil:
    """As :func:`chol_dissected`, and, unless ``x`` is NULL, inv(L[:m, :m])
    (lower) into ``x``, for k <= m <= nw; 0 on success (LAPACK's info).
    ``work`` as there."""
    cdef int i, b, c, e, rho, rz, info, jj, nr
    cdef int k = <int>cstart[ncomp]
    cdef const int32_t* rows
    cdef char lo = b'L', no = b'N', right = b'R', left = b'L'
    cdef double one = 1.0, minus = -1.0
    cdef double* xi = NULL
    cdef Runs runs
    _runs_in(&runs, work + gsize + usize, nw - k)
    for i in range(ncomp):
        b = <int>cstart[i]
        c = <int>(cstart[i + 1] - b)
        rho = <int>(rptr[i + 1] - rptr[i])
        rows = rrow + rptr[i]
        if x == NULL:
            info = chol_rec(c, a + <Py_ssize_t>b * lda + b, lda)
        else:
            xi = x + <Py_ssize_t>b * ldx + b
            info = chol_inv(c, a + <Py_ssize_t>b * lda + b, lda, xi, ldx)
        if info != 0:
            return info + b
        if rho > 0:
            _fold_component(a, lda, rows, &runs, rho, b, c, xi, ldx, work, gsize)
    if x == NULL:
        info = chol_rec(nw - k, a + <Py_ssize_t>k * lda + k, lda)
        return 0 if info == 0 else info + k
    info = chol_inv_lead(nw - k, m - k, a + <Py_ssize_t>k * lda + k, lda,
                         x + <Py_ssize_t>k * ldx + k, ldx)
    if info != 0:
        return info + k
    for i in range(ncomp):
        b = <int>cstart[i]
        e = <int>cstart[i + 1]
        c = e - b
        rows = rrow + rptr[i]
        rho = <int>(rptr[i + 1] - rptr[i])
        rz = 0
        while rz < rho and rows[rz] < m:
            rz += 1
        # NumPy: X[e:m, b:e] = 0 (the other components' rows, and the root's
        # rows until the product below fills those of R_i)
        for jj in range(c):
            memset(x + <Py_ssize_t>(b + jj) * ldx + e, 0, (m - e) * sizeof(double))
        if rz == 0:
            continue
        _find_runs(rows, rz, &runs)
        _gather_rows(a, lda, rows, &runs, rz, b, c, work)
        xi = x + <Py_ssize_t>b * ldx + b
        # BLAS dtrmm, NumPy: W = G[:rz] @ X_i
        dtrmm(&right, &lo, &no, &no, &rz, &c, &one, xi, &ldx, work, &rz)
        # NumPy: X[rows[:rz], b:e] = W, then X[k:m, b:e] = -X_C @ X[k:m, b:e]
        _scatter_rows(x, ldx, rows, &runs, rz, b, c, work)
        nr = m - k
        # BLAS dtrmm (left, lower): half the multiply-adds of a dgemm on X_C's
        # gathered columns, which R_i nearly spans (InstEval: 268-463 of 504)
        dtrmm(&left, &lo, &no, &no, &nr, &c, &minus, x + <Py_ssize_t>k * ldx + k, &ldx,
              x + <Py_ssize_t>b * ldx + k, &ldx)
    return 0


def work_size(const int64_t[::1] cstart, const int64_t[::1] rptr, Py_ssize_t nw):
    """Scratch (float64 entries) of the kernels, in three parts: G (max rho_i
    c_i), the root update (max rho_i^2), and the rows' runs (two ints per
    root row: nw - k + 1)."""
    cdef Py_ssize_t i, g = 0, u = 0, rho, c
    cdef Py_ssize_t ncomp = cstart.shape[0] - 1
    if ncomp < 0 or rptr.shape[0] != ncomp + 1:
        raise ValueError("work_size: the dissection needs cstart and rptr of one length >= 1")
    for i in range(ncomp):
        rho = rptr[i + 1] - rptr[i]
        c = cstart[i + 1] - cstart[i]
        g = max(g, rho * c)
        u = max(u, rho * rho)
    return g, u, nw - cstart[ncomp] + 1


cdef bint check_dissection(Py_ssize_t nw, const int64_t[::1] cstart, const int64_t[::1] rptr,
                           const int32_t[::1] rrow, Py_ssize_t nwork, Py_ssize_t gsize,
                           Py_ssize_t usize, Py_ssize_t dense_from) noexcept nogil:
    """The components tile [0, k), each one's rows rise within [k, nw) and
    end with every row from ``dense_from`` (the [X y] rows, which every
    column reaches), and ``work`` (``nwork`` entries, split at ``gsize`` and
    ``gsize + usize``) holds the kernels' scratch (O(components + rows))."""
    cdef Py_ssize_t ncomp = cstart.shape[0] - 1, i, a, g = 0, u = 0, rho, k
    cdef Py_ssize_t nd = nw - dense_from
    if ncomp < 0 or rptr.shape[0] != ncomp + 1:
        return False
    if not rises(cstart, cstart[ncomp]) or not rises(rptr, rrow.shape[0]):
        return False
    k = cstart[ncomp]
    if k > nw:
        return False
    for i in range(ncomp):
        if cstart[i + 1] == cstart[i]:
            return False
        rho = rptr[i + 1] - rptr[i]
        for a in range(rptr[i], rptr[i + 1]):
            if rrow[a] < k or rrow[a] >= nw or (a > rptr[i] and rrow[a] <= rrow[a - 1]):
                return False
        if nd < 0 or rho < nd or (nd > 0 and rrow[rptr[i + 1] - nd] != dense_from):
            return False  # rising and ending below nw: the last nd rows are then dense_from..nw-1
        g = max(g, rho * (cstart[i + 1] - cstart[i]))
        u = max(u, rho * rho)
    return gsize >= g and usize >= u and nwork >= gsize + usize + nw - k + 1


def cholesky_dissected(double[::1, :] a, const int64_t[::1] cstart, const int64_t[::1] rptr,
                       const int32_t[::1] rrow, double[::1, :] out=None):
    """In place: the lower Cholesky factor of the square Fortran ``a`` in a
    dissected order, and, when ``out`` (m x m, m >= k) is given,
    inv(L[:m, :m]) (lower triangle) into it. Returns LAPACK's info.

    For tests and benchmarks; the blocked solver calls the C functions.
    """
    cdef int n = <int>a.shape[0], info, m
    cdef Py_ssize_t g, u, r
    if a.shape[1] != n:
        raise ValueError(f"cholesky_dissected needs a square a, got {a.shape[0]} x {a.shape[1]}")
    if cstart.shape[0] < 1 or not 0 <= cstart[cstart.shape[0] - 1] <= n:
        raise ValueError("cholesky_dissected: the dissection's root must start within the matrix")
    g, u, r = work_size(cstart, rptr, n)
    work = np.empty(g + u + r)
    cdef double[::1] w = work
    if not check_dissection(n, cstart, rptr, rrow, w.shape[0], g, u, n):
        raise ValueError("cholesky_dissected: the components and rows do not describe "
                         "a dissection of this matrix")
    if out is not None:
        m = <int>out.shape[0]
        if out.shape[1] != m or m > n or m < cstart[cstart.shape[0] - 1]:
            raise ValueError("cholesky_dissected: out must be m x m with k <= m <= n")
        with nogil:
            info = chol_inv_dissected(n, m, &a[0, 0], n, &out[0, 0] if m > 0 else NULL, max(m, 1),
                                      <int>(cstart.shape[0] - 1), &cstart[0], &rptr[0],
                                      &rrow[0] if rrow.shape[0] else NULL, &w[0], g, u)
        return info
    with nogil:
        info = chol_dissected(n, &a[0, 0], n, <int>(cstart.shape[0] - 1), &cstart[0],
                              &rptr[0], &rrow[0] if rrow.shape[0] else NULL, &w[0], g, u)
    return info
