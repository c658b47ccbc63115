# cython: language_level=3
"""Class-basis kernels (see ``_basis.pyx``); cimported by ``_blocked``."""
from libc.stdint cimport int32_t, int64_t

cdef void assemble_basis(double* Tp, Py_ssize_t ld, Py_ssize_t qr, Py_ssize_t P,
                         const double* Pb, const double* Xb, Py_ssize_t r,
                         const double* alpha, const double* rs,
                         const int64_t* gptr, const int32_t* grow, const double* gval,
                         const double* AXr, const double* XX) noexcept nogil
