"""Recursive dense Cholesky, triangular inverse and inverse Gram (LAPACK's
dpotrf, dtrtri and dlauum, restructured).

The blocked solver's per-theta cost is one Cholesky of the dense Schur
complement (1157 x 1157 on InstEval), plus, when the gradient is wanted, the
diagonal blocks of its inverse. Splitting each matrix in halves and recursing
(Gustavson's recursive Cholesky, as in ReLAPACK) leaves almost all the work in
a few large ``dsyrk`` / ``dtrmm`` calls, which OpenBLAS runs near its ``dgemm``
rate; its own blocked ``dpotrf`` and ``dtrtri`` at these sizes spend much of
their time in narrow panels and in ``dtrsm``, which is slower here than
``dtrmm``. Measured on the 2-core Xeon of the benchmarks (1 thread, n = 1128):
dpotrf 18 ms against 13 ms here; dpotrf + dpotri 51 ms against 27 ms for
:func:`chol_inv` + :func:`lauum_rec`.

Storage layout
--------------
Every matrix is column-major (Fortran) with a leading dimension ``lda`` >=
its order: element (r, c) at ``a[c * lda + r]``. Only the lower triangle is
read or written; the strict upper triangle is left untouched (LAPACK's
convention), so a matrix may sit in the leading block of a larger array.
Splits fall on multiples of 8 rows, keeping sub-blocks 64-byte aligned when
``lda`` is a multiple of 8 (as ``_solvers.padded_square`` makes it).
"""
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, dsyrk, dtrmm, dtrsm, dtrsv
from scipy.linalg.cython_lapack cimport dlauum, dpotrf, dtrtri

# Orders at or below LEAF go to LAPACK directly (measured: 32-128 within 5%).
cdef enum:
    LEAF = 64


cdef inline int _split(int n) noexcept nogil:
    """First half of n, rounded up to a multiple of 8."""
    return (n // 2 + 7) // 8 * 8


cdef int chol_rec(int n, double* a, int lda) noexcept nogil:
    """In place: lower Cholesky factor of the n x n block ``a``; 0 on success,
    else the order of the first non-positive leading minor (LAPACK's info).

    NumPy: ``a[:n, :n] = np.linalg.cholesky(a[:n, :n])`` (lower triangle only).
    """
    cdef int info = 0, n1, n2
    cdef char lo = b'L', no = b'N', tr = b'T', right = b'R'
    cdef double one = 1.0, minus = -1.0
    if n <= LEAF:
        # LAPACK dpotrf, lower
        dpotrf(&lo, &n, a, &lda, &info)
        return info
    n1 = _split(n)
    n2 = n - n1
    info = chol_rec(n1, a, lda)
    if info != 0:
        return info
    # NumPy: L21 = A21 @ inv(L11).T (recursive, so mostly dgemm)
    _solve_right(n1, n2, a, lda, a + n1, lda)
    # BLAS dsyrk, NumPy: A22[lower] -= L21 @ L21.T
    dsyrk(&lo, &no, &n2, &n1, &minus, a + n1, &lda, &one, a + n1 * lda + n1, &lda)
    info = chol_rec(n2, a + n1 * lda + n1, lda)
    return 0 if info == 0 else info + n1


cdef void _solve_right(int k, int m, const double* l, int ldl, double* b, int ldb) noexcept nogil:
    """b <- b @ inv(L).T for the k x k lower triangle L and the m x k block b.

    Recursive on L: with L = [[L11, 0], [L21, L22]] and b = [b1 b2],
    b1 <- b1 inv(L11)', then b2 <- (b2 - b1 L21') inv(L22)'.
    NumPy: ``b = scipy.linalg.solve_triangular(L, b.T, lower=True).T``.
    """
    cdef int k1, k2
    cdef char lo = b'L', no = b'N', tr = b'T', right = b'R'
    cdef double one = 1.0, minus = -1.0
    cdef int info = 0
    if k <= LEAF:
        _solve_right_leaf(k, m, l, ldl, b, ldb)
        return
    k1 = _split(k)
    k2 = k - k1
    _solve_right(k1, m, l, ldl, b, ldb)
    # BLAS dgemm, NumPy: b2 -= b1 @ L21.T
    _gemm_nt(m, k2, k1, b, ldb, l + k1, ldl, b + k1 * ldb, ldb)
    _solve_right(k2, m, l + k1 * ldl + k1, ldl, b + k1 * ldb, ldb)


cdef inline void _gemm_nt(int m, int n, int k, const double* a, int lda,
                          const double* b, int ldb, double* c, int ldc) noexcept nogil:
    """c -= a @ b.T for m x k ``a`` and n x k ``b``.  BLAS dgemm."""
    cdef char no = b'N', tr = b'T'
    cdef double one = 1.0, minus = -1.0
    dgemm(&no, &tr, &m, &n, &k, &minus, <double*>a, &lda, <double*>b, &ldb, &one, c, &ldc)


cdef inline void _solve_right_leaf(int k, int m, const double* l, int ldl,
                                   double* b, int ldb) noexcept nogil:
    """b <- b @ inv(L).T for a small L.  BLAS dtrsm (right, lower, transposed)."""
    cdef char lo = b'L', no = b'N', tr = b'T', right = b'R'
    cdef double one = 1.0
    dtrsm(&right, &lo, &tr, &no, &m, &k, &one, <double*>l, &ldl, b, &ldb)


cdef int chol_inv(int n, double* a, int lda, double* x, int ldx) noexcept nogil:
    """In place: lower Cholesky factor L of ``a``, and X = inv(L) (lower) into
    ``x``, which must not overlap ``a``; 0 on success (LAPACK's info).

    With L = [[L11, 0], [L21, L22]]: L21 = A21 X11' (a ``dtrmm``),
    A22 - L21 L21' is factored recursively, and X21 = -X22 L21 X11.
    NumPy: ``L = np.linalg.cholesky(A); X = np.linalg.inv(L)``.
    """
    cdef int info = 0, n1, n2, j
    cdef char lo = b'L', no = b'N', tr = b'T', right = b'R', left = b'L'
    cdef double one = 1.0, minus = -1.0
    if n <= LEAF:
        # LAPACK dpotrf then dtrtri on a copy
        dpotrf(&lo, &n, a, &lda, &info)
        if info != 0:
            return info
        for j in range(n):
            memcpy(x + j * ldx + j, a + j * lda + j, (n - j) * sizeof(double))
        dtrtri(&lo, &no, &n, x, &ldx, &info)
        return info
    n1 = _split(n)
    n2 = n - n1
    info = chol_inv(n1, a, lda, x, ldx)
    if info != 0:
        return info
    # BLAS dtrmm, NumPy: L21 = A21 @ X11.T
    dtrmm(&right, &lo, &tr, &no, &n2, &n1, &one, x, &ldx, a + n1, &lda)
    # BLAS dsyrk, NumPy: A22[lower] -= L21 @ L21.T
    dsyrk(&lo, &no, &n2, &n1, &minus, a + n1, &lda, &one, a + n1 * lda + n1, &lda)
    info = chol_inv(n2, a + n1 * lda + n1, lda, x + n1 * ldx + n1, ldx)
    if info != 0:
        return info + n1
    for j in range(n1):
        memcpy(x + j * ldx + n1, a + j * lda + n1, n2 * sizeof(double))
    # BLAS dtrmm twice, NumPy: X21 = -X22 @ (L21 @ X11)
    dtrmm(&right, &lo, &no, &no, &n2, &n1, &one, x, &ldx, x + n1, &ldx)
    dtrmm(&left, &lo, &no, &no, &n2, &n1, &minus, x + n1 * ldx + n1, &ldx, x + n1, &ldx)
    return 0


cdef void lauum_rec(int n, double* x, int ldx) noexcept nogil:
    """In place: X'X (lower triangle) for the lower-triangular X in ``x``.

    With X = inv(L) this is inv(L L'), the inverse of the factored matrix.
    NumPy: ``x[:n, :n] = np.tril(X.T @ X)``.
    """
    cdef int info = 0, n1, n2
    cdef char lo = b'L', no = b'N', tr = b'T', left = b'L'
    cdef double one = 1.0
    if n <= LEAF:
        # LAPACK dlauum, lower
        dlauum(&lo, &n, x, &ldx, &info)
        return
    n1 = _split(n)
    n2 = n - n1
    # (1,1) = X11'X11 + X21'X21
    lauum_rec(n1, x, ldx)
    # BLAS dsyrk, NumPy: R11[lower] += X21.T @ X21
    dsyrk(&lo, &tr, &n1, &n2, &one, x + n1, &ldx, &one, x, &ldx)
    # BLAS dtrmm, NumPy: R21 = X22.T @ X21
    dtrmm(&left, &lo, &tr, &no, &n2, &n1, &one, x + n1 * ldx + n1, &ldx, x + n1, &ldx)
    lauum_rec(n2, x + n1 * ldx + n1, ldx)


cdef int chol_inv_lead(int n, int m, double* a, int lda, double* x, int ldx) noexcept nogil:
    """In place: lower Cholesky factor of the n x n ``a``, and inv(A[:m, :m])
    (lower triangle) into ``x``; 0 on success (LAPACK's info).

    The leading m x m block is factored with :func:`chol_inv`, and the
    trailing rows are finished as in :func:`chol_inv`'s split. ``x`` then holds
    X11 = inv(L11), from which the blocked solver's gradient reads what it
    needs of inv(A11) = X11' X11 (m is the random-effects part of the Schur
    complement); :func:`lauum_rec` forms the whole of it.
    """
    cdef int info, n2 = n - m
    cdef char lo = b'L', no = b'N', tr = b'T', right = b'R'
    cdef double one = 1.0, minus = -1.0
    if m == 0:
        return chol_rec(n, a, lda)
    info = chol_inv(m, a, lda, x, ldx)
    if info != 0:
        return info
    if n2 > 0:
        # BLAS dtrmm, NumPy: L21 = A21 @ X11.T
        dtrmm(&right, &lo, &tr, &no, &n2, &m, &one, x, &ldx, a + m, &lda)
        # BLAS dsyrk, NumPy: A22[lower] -= L21 @ L21.T
        dsyrk(&lo, &no, &n2, &m, &minus, a + m, &lda, &one, a + m * lda + m, &lda)
        info = chol_rec(n2, a + m * lda + m, lda)
        if info != 0:
            return info + m
    return 0


def solve_lower_transposed(const double[::1, :] a, Py_ssize_t n, double[::1] b):
    """In place: b <- inv(L).T b for the lower triangle L = a[:n, :n].

    ``a`` may have more rows than n (a padded leading dimension).
    BLAS dtrsv; NumPy: ``b = scipy.linalg.solve_triangular(L, b, lower=True, trans='T')``.
    """
    cdef int nn = <int>n, lda = <int>a.shape[0], inc = 1
    cdef char lo = b'L', tr = b'T', no = b'N'
    if n > a.shape[0] or n > a.shape[1] or b.shape[0] != n:
        raise ValueError("solve_lower_transposed: sizes do not match")
    if n > 0:
        with nogil:
            dtrsv(&lo, &tr, &no, &nn, &a[0, 0], &lda, &b[0], &inc)


def cholesky(double[::1, :] a):
    """In place: the lower Cholesky factor of the square Fortran array ``a``.

    Returns LAPACK's info (0 on success). The strict upper triangle is left
    as it was. For tests and benchmarks; the solvers call the C function.
    """
    cdef int info
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"cholesky needs a square array, got {a.shape[0]} x {a.shape[1]}")
    if a.shape[0] == 0:
        return 0
    with nogil:
        info = chol_rec(<int>a.shape[0], &a[0, 0], <int>a.shape[0])
    return info


def cholesky_inverse(double[::1, :] a, double[::1, :] out, bint gram=True):
    """In place: L = chol(a) into ``a`` (n x n) and inv(a[:m, :m]) (lower
    triangle) into the m x m ``out``, m <= n; with ``gram`` false, the
    inverse factor inv(L[:m, :m]) instead (what the merged path's gradient
    reads).

    Returns LAPACK's info (0 on success); the strict upper triangles are left
    as they were. For tests and benchmarks (the solver calls the C function).
    """
    cdef int info, n = <int>a.shape[0], m = <int>out.shape[0]
    if a.shape[1] != n or out.shape[1] != m or m > n:
        raise ValueError(f"cholesky_inverse needs a square a and a square out no larger "
                         f"than a; got {a.shape[0]} x {a.shape[1]} and "
                         f"{out.shape[0]} x {out.shape[1]}")
    if n == 0:
        return 0
    with nogil:
        info = chol_inv_lead(n, m, &a[0, 0], n, &out[0, 0] if m > 0 else NULL, m if m > 0 else 1)
        if info == 0 and m > 0 and gram:
            lauum_rec(m, &out[0, 0], m)
    return info
