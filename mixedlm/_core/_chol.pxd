# cython: language_level=3
"""Recursive dense Cholesky kernels (see ``_chol.pyx``); cimported by ``_blocked`` and ``_sepchol``."""

cdef int chol_rec(int n, double* a, int lda) noexcept nogil
cdef int chol_inv(int n, double* a, int lda, double* x, int ldx) noexcept nogil
cdef void lauum_rec(int n, double* x, int ldx) noexcept nogil
cdef int chol_inv_lead(int n, int m, double* a, int lda, double* x, int ldx) noexcept nogil
cdef void _solve_right(int k, int m, const double* l, int ldl, double* b, int ldb) noexcept nogil
