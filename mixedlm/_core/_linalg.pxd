# cython: language_level=3
"""Small dense linear-algebra helpers shared by the kernels.

Storage: every small matrix is column-major (Fortran order): element (r, c)
of a k x k block starting at ``a`` lives at ``a[c * k + r]``. Lower-triangular
factors keep their strict upper triangle untouched (LAPACK convention).
These helpers are ``inline`` and ``nogil``; they assume valid sizes.
"""
from libc.math cimport log, sqrt
from scipy.linalg.cython_lapack cimport dpotrf


cdef inline int chol_lower(int k, double* a, int lda) noexcept nogil:
    """In-place lower Cholesky factor of the k x k block ``a``; 0 on success.

    NumPy: ``a[:k, :k] = np.linalg.cholesky(a[:k, :k])`` (lower part only).
    """
    cdef int info = 0
    cdef char uplo = b'L'
    if k == 1:
        if not (a[0] > 0.0):
            return 1
        a[0] = sqrt(a[0])
        return 0
    # LAPACK dpotrf, lower: A = L L'
    dpotrf(&uplo, &k, a, &lda, &info)
    return info


cdef inline void lam_t_a_lam_plus_i(int k, const double* lam, const double* a,
                                    double* out, double* tmp) noexcept nogil:
    """out = lam' a lam + I for k x k blocks; lam lower triangular, a symmetric.

    NumPy: ``out = lam.T @ a @ lam + np.eye(k)``; ``tmp`` is k*k scratch.
    """
    cdef int r, c, i
    cdef double s
    # tmp = a @ lam  (lam[i, c] is zero for i < c)
    for c in range(k):
        for r in range(k):
            s = 0.0
            for i in range(c, k):
                s = s + a[i * k + r] * lam[c * k + i]
            tmp[c * k + r] = s
    # out = lam.T @ tmp
    for c in range(k):
        for r in range(k):
            s = 0.0
            for i in range(r, k):
                s = s + lam[r * k + i] * tmp[c * k + i]
            out[c * k + r] = s
        out[c * k + c] = out[c * k + c] + 1.0


cdef inline void lam_t_vec(int k, const double* lam, const double* v,
                           double* out) noexcept nogil:
    """out = lam' v for a lower-triangular k x k lam.  NumPy: ``lam.T @ v``."""
    cdef int r, i
    cdef double s
    for r in range(k):
        s = 0.0
        for i in range(r, k):
            s = s + lam[r * k + i] * v[i]
        out[r] = s


cdef inline void lam_vec(int k, const double* lam, const double* v,
                         double* out) noexcept nogil:
    """out = lam v for a lower-triangular k x k lam.  NumPy: ``lam @ v``."""
    cdef int r, i
    cdef double s
    for r in range(k):
        s = 0.0
        for i in range(r + 1):
            s = s + lam[i * k + r] * v[i]
        out[r] = s


cdef inline void solve_lower(int k, const double* l, int ldl, double* x) noexcept nogil:
    """x <- L^{-1} x (forward substitution).  NumPy: ``solve_triangular(L, x, lower=True)``."""
    cdef int r, i
    cdef double s
    for r in range(k):
        s = x[r]
        for i in range(r):
            s = s - l[i * ldl + r] * x[i]
        x[r] = s / l[r * ldl + r]


cdef inline void solve_lower_t(int k, const double* l, int ldl, double* x) noexcept nogil:
    """x <- L^{-T} x (back substitution).  NumPy: ``solve_triangular(L, x, lower=True, trans='T')``."""
    cdef int r, i
    cdef double s
    for r in range(k - 1, -1, -1):
        s = x[r]
        for i in range(r + 1, k):
            s = s - l[r * ldl + i] * x[i]
        x[r] = s / l[r * ldl + r]


cdef inline int factor_level(int k, int P, const double* lam, const double* a11,
                             const double* azx, Py_ssize_t jstride, double* Ll,
                             double* c, double* tmp, double* logdet) noexcept nogil:
    """One level of the first factor: L_l and C[:, l]; 0 on success.

    L_l = chol(lam' A11_l lam + I) into ``Ll`` (k x k), and for j < P
    C[j, l] = L_l^{-1} lam' AZX[j, l]; ``azx`` and ``c`` point at element
    [0, l, 0] of (P, nl, k) arrays, ``jstride`` = nl * k. Adds log det(L_l L_l')
    to ``logdet``; ``tmp`` is k*k scratch.
    """
    cdef int info, i, j
    lam_t_a_lam_plus_i(k, lam, a11, Ll, tmp)
    info = chol_lower(k, Ll, k)
    if info != 0:
        return info
    for i in range(k):
        logdet[0] += 2.0 * log(Ll[i * k + i])
    for j in range(P):
        lam_t_vec(k, lam, azx + j * jstride, c + j * jstride)
        solve_lower(k, Ll, k, c + j * jstride)
    return 0
