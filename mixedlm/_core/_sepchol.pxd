# cython: language_level=3
"""Cholesky kernels for a dissected Schur complement (see ``_sepchol.pyx``);
cimported by ``_blocked``."""
from libc.stdint cimport int32_t, int64_t

cdef int chol_dissected(int nw, double* a, int lda, int ncomp, const int64_t* cstart,
                        const int64_t* rptr, const int32_t* rrow, double* work,
                        Py_ssize_t gsize, Py_ssize_t usize) noexcept nogil
cdef int chol_inv_dissected(int nw, int m, double* a, int lda, double* x, int ldx,
                            int ncomp, const int64_t* cstart, const int64_t* rptr,
                            const int32_t* rrow, double* work, Py_ssize_t gsize,
                            Py_ssize_t usize) noexcept nogil
cdef bint check_dissection(Py_ssize_t nw, const int64_t[::1] cstart, const int64_t[::1] rptr,
                           const int32_t[::1] rrow, Py_ssize_t nwork, Py_ssize_t gsize,
                           Py_ssize_t usize, Py_ssize_t dense_from) noexcept nogil
