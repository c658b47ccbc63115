# cython: language_level=3
"""Structural checks of the index arrays the kernels walk unchecked.

C loops, so that a per-evaluation kernel can afford them on small models
(a NumPy call costs microseconds each). Entry ranges of the level-major
entries (``idx``: O(rows)) are checked once, where they are built
(``_remat.column_incidence``); per evaluation only pointers are checked.
"""
from libc.stdint cimport int32_t, int64_t


cdef inline bint rises(const int64_t[::1] ptr, int64_t total) noexcept nogil:
    """ptr starts at 0, never decreases and ends at ``total``."""
    cdef Py_ssize_t n = ptr.shape[0], i
    if n < 1 or ptr[0] != 0 or ptr[n - 1] != total:
        return False
    for i in range(1, n):
        if ptr[i] < ptr[i - 1]:
            return False
    return True


cdef inline bint within(const int32_t[::1] idx, Py_ssize_t n) noexcept nogil:
    """Every entry of ``idx`` is in [0, n)."""
    cdef Py_ssize_t i
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= n:
            return False
    return True


cdef inline bint runs_in_columns(const int64_t[::1] rcol, const int64_t[::1] rptr,
                                 const int64_t[::1] pptr) noexcept nogil:
    """Column c's runs ``rcol[c]:rcol[c+1]`` start where its entries do
    (``rptr[rcol[c]] == pptr[c]``), so no run crosses a column; with
    ``rises`` on both pointers, the runs tile the entries column by column.
    Sizes: rcol and pptr (q + 1,), rptr (nrun + 1,), rcol[q] == nrun."""
    cdef Py_ssize_t c
    if rcol.shape[0] != pptr.shape[0]:
        return False
    for c in range(rcol.shape[0]):
        if rcol[c] < 0 or rcol[c] >= rptr.shape[0] or rptr[rcol[c]] != pptr[c]:
            return False
    return True


cdef inline bint ascending_within(const int64_t[::1] ptr, const int32_t[::1] idx) noexcept nogil:
    """``idx`` ascends strictly within each level ``ptr[l]:ptr[l+1]`` (``ptr``
    checked by ``rises`` first)."""
    cdef Py_ssize_t l, a
    for l in range(ptr.shape[0] - 1):
        for a in range(ptr[l] + 1, ptr[l + 1]):
            if idx[a] <= idx[a - 1]:
                return False
    return True
