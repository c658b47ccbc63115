"""Dense single-grouping-factor solver: profiled (RE)ML objective and its gradient.

With one grouping factor, Z'Z is block diagonal: one K x K block per level.
The Cholesky factor of

    Omega = [Lambda'Z'Z Lambda + I   Lambda'Z'[X y]]
            [[X y]'Z Lambda          [X y]'[X y]   ]

is therefore [[L1, 0], [C', LT]] with L1 = blockdiag(L_l), C_l = L_l^{-1}
Lambda' Z_l'[X y] and LT = chol([X y]'[X y] - C'C). The last diagonal element of
LT is sqrt(pwrss); no pass over the observations is needed.

Storage layout
--------------
* ``A11`` (nl, K, K): per-level Z_l'Z_l (symmetric).
* ``AZX`` (P, nl, K): AZX[j, l] = Z_l' xy[:, j], P = p + 1 (last column y).
* ``AXX`` (P, P) Fortran: lower triangle of [X y]'[X y].
* ``lam`` (K, K) Fortran: lower-triangular relative covariance factor.
* Outputs, owned by the caller and overwritten per theta (no allocation of
  arrays per evaluation): ``L`` (nl, K, K), each block column-major (element
  (r, c) of level l at ``L[l, c, r]``); ``C`` (P, nl, K) in the layout of
  ``AZX``, so that C viewed as a column-major (nl*K) x P matrix feeds one
  ``dsyrk``; ``T`` (P, P) Fortran, the lower factor LT.
* ``tmpl`` (K, K) Fortran int64: index into theta of each lambda entry, -1
  for structural zeros. Gradient entries accumulate over it.
"""
import numpy as np
cimport numpy as cnp
from libc.math cimport log, M_PI
from libc.stdlib cimport malloc, free
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport dsyrk
from ._linalg cimport (chol_lower, factor_level, lam_t_vec, lam_vec, solve_lower,
                       solve_lower_t)

cnp.import_array()


def objective_single(const double[:, :, ::1] A11, const double[:, :, ::1] AZX,
                     const double[::1, :] AXX, const double[::1, :] lam,
                     double n, Py_ssize_t p, bint reml,
                     double[:, :, ::1] L, double[:, :, ::1] C, double[::1, :] T,
                     const int64_t[::1, :] tmpl, double[::1] grad):
    """Profiled deviance (ML) or REML criterion at lam; gradient if ``grad`` is non-empty.

    Parameters
    ----------
    A11, AZX, AXX, lam, tmpl
        See the module docstring.
    n : float
        Number of observations.
    p : int
        Number of fixed-effects columns (P = p + 1).
    reml : bool
    L, C, T : ndarray
        Workspaces, overwritten with the factor pieces.
    grad : ndarray of shape (ntheta,) or (0,)
        Overwritten with d objective / d theta when non-empty.

    Returns
    -------
    float
        The objective, ``inf`` if a factorization fails.
    """
    cdef int nl = <int>A11.shape[0], k = <int>A11.shape[1], P = <int>(p + 1)
    cdef int l, j, c, r, info, t, nk, kk = k * k
    cdef double logdet_z = 0.0, logdet_x = 0.0, rr, d, obj
    cdef double *tmp
    cdef double alpha = -1.0, beta = 1.0
    cdef char uplo = b'L', trans = b'T'

    tmp = <double*>malloc(sizeof(double) * (kk + 1))
    if tmp == NULL:
        raise MemoryError()
    try:
        with nogil:
            for l in range(nl):
                # L_l = chol(lam' A11_l lam + I); C[j, l] = L_l^{-1} lam' AZX[j, l]
                info = factor_level(k, P, &lam[0, 0], &A11[l, 0, 0], &AZX[0, l, 0], nl * k,
                                    &L[l, 0, 0], &C[0, l, 0], tmp, &logdet_z)
                if info != 0:
                    break
        if info != 0:
            return np.inf
        # T = AXX - C'C, C viewed as the column-major (nl*K) x P matrix
        for c in range(P):
            for r in range(c, P):
                T[r, c] = AXX[r, c]
        nk = nl * k
        with nogil:
            # BLAS dsyrk, NumPy: T[lower] -= (Cm.T @ Cm)[lower], Cm = C.reshape(P, -1).T
            dsyrk(&uplo, &trans, &P, &nk, &alpha, &C[0, 0, 0], &nk, &beta, &T[0, 0], &P)
            info = chol_lower(P, &T[0, 0], P)
        if info != 0:
            return np.inf
        for j in range(p):
            logdet_x += 2.0 * log(T[j, j])
        rr = T[p, p] * T[p, p]
        d = n - p if reml else n
        obj = logdet_z + d * (1.0 + log(2.0 * M_PI * rr / d))
        if reml:
            obj += logdet_x
        if grad.shape[0] > 0:
            _gradient_single(A11, AZX, lam, L, C, T, tmpl, p, reml, d, rr, grad)
        return obj
    finally:
        free(tmp)


cdef void _gradient_single(const double[:, :, ::1] A11, const double[:, :, ::1] AZX,
                           const double[::1, :] lam, double[:, :, ::1] L,
                           double[:, :, ::1] C, double[::1, :] T,
                           const int64_t[::1, :] tmpl, Py_ssize_t p, bint reml,
                           double d, double rr, double[::1] grad):
    """Analytic gradient of the profiled objective (see Notes in the Python docs).

    For theta_t at lambda position (r, c):
      d/d theta_t = 2 sum_l [M_l^{-1} lam' A11_l + REML term]_{c, r}
                    - (2 d / pwrss) sum_l (Z_l' r_hat)_r u_l[c]
    with M_l = lam' A11_l lam + I, u the spherical conditional modes and r_hat
    the residual; the REML term is V_l'(V_l H_l - E_l) with H_l = lam' A11_l,
    V_l = LX^{-1} W_l', W_l = M_l^{-1} lam' Z_l'X and E_l = LX^{-1} X'Z_l.
    """
    cdef int nl = <int>A11.shape[0], k = <int>A11.shape[1], pp = <int>p
    cdef int P = pp + 1, l, j, c, r, i, t
    cdef double s
    cdef double *beta = <double*>malloc(sizeof(double) * (pp + 1))
    cdef double *u = <double*>malloc(sizeof(double) * k)
    cdef double *lu = <double*>malloc(sizeof(double) * k)
    cdef double *zr = <double*>malloc(sizeof(double) * k)
    cdef double *H = <double*>malloc(sizeof(double) * k * k)
    cdef double *G = <double*>malloc(sizeof(double) * k * k)
    cdef double *V = <double*>malloc(sizeof(double) * (pp * k + 1))
    cdef double *E = <double*>malloc(sizeof(double) * (pp * k + 1))
    cdef double *VH = <double*>malloc(sizeof(double) * (pp * k + 1))
    for t in range(grad.shape[0]):
        grad[t] = 0.0
    with nogil:
        # beta_hat solves LX' beta = c, where c is the last row of T below LX
        for j in range(pp):
            beta[j] = T[pp, j]
        solve_lower_t(pp, &T[0, 0], P, beta)
        for l in range(nl):
            # u_l = L_l^{-T} (C[y, l] - C[X, l] beta)
            for c in range(k):
                s = C[pp, l, c]
                for j in range(pp):
                    s = s - C[j, l, c] * beta[j]
                u[c] = s
            solve_lower_t(k, &L[l, 0, 0], k, u)
            # Z_l' r_hat = Z_l'y - Z_l'X beta - A11_l lam u_l
            lam_vec(k, &lam[0, 0], u, lu)
            for r in range(k):
                s = AZX[pp, l, r]
                for j in range(pp):
                    s = s - AZX[j, l, r] * beta[j]
                for i in range(k):
                    s = s - A11[l, i, r] * lu[i]
                zr[r] = s
            # H = lam' A11_l ; G = M_l^{-1} H (two triangular solves per column)
            for c in range(k):
                lam_t_vec(k, &lam[0, 0], &A11[l, c, 0], &H[c * k])
                for r in range(k):
                    G[c * k + r] = H[c * k + r]
                solve_lower(k, &L[l, 0, 0], k, &G[c * k])
                solve_lower_t(k, &L[l, 0, 0], k, &G[c * k])
            if reml and pp > 0:
                # V[:, c] = LX^{-1} W[c, :]', W[:, j] = L_l^{-T} C[j, l]
                for j in range(pp):
                    for c in range(k):
                        lu[c] = C[j, l, c]
                    solve_lower_t(k, &L[l, 0, 0], k, lu)
                    for c in range(k):
                        V[c * pp + j] = lu[c]
                for c in range(k):
                    solve_lower(pp, &T[0, 0], P, &V[c * pp])
                    for j in range(pp):
                        E[c * pp + j] = AZX[j, l, c]
                    solve_lower(pp, &T[0, 0], P, &E[c * pp])
                # VH = V H - E  (p x K)
                for c in range(k):
                    for j in range(pp):
                        s = -E[c * pp + j]
                        for i in range(k):
                            s = s + V[i * pp + j] * H[c * k + i]
                        VH[c * pp + j] = s
                # G += V' VH
                for c in range(k):
                    for r in range(k):
                        s = 0.0
                        for j in range(pp):
                            s = s + V[r * pp + j] * VH[c * pp + j]
                        G[c * k + r] += s
            for c in range(k):
                for r in range(c, k):
                    t = <int>tmpl[r, c]
                    if t >= 0:
                        grad[t] += 2.0 * G[r * k + c] - 2.0 * d / rr * zr[r] * u[c]
    free(beta); free(u); free(lu); free(zr); free(H); free(G); free(V); free(E); free(VH)
