"""Sparse path: the values of M = Lambda' Z'Z Lambda + I on a fixed CSC pattern.

Storage layout
--------------
Z'Z over all random-effects columns is stored once as a CSC matrix holding the
*block-lower* triangle: entry (i, j) is kept when the level block of row i
starts at or after the level block of column j. Every observation touches all
K columns of a level block, so the columns of one level block share one row
pattern, and the rows of a level block sit contiguously in every column (the
indices are sorted). Lambda is block diagonal with a lower-triangular K x K
block per level, so Lambda' A Lambda keeps exactly this pattern: the numeric
update never changes the structure that CHOLMOD analysed once (CHOLMOD reads
the lower triangle and ignores the strict upper part of diagonal blocks).

Per column i: ``bstart[i]`` the first column of its level block, ``bk[i]`` the
block width, ``lam_off[i]`` the offset of that block's column-major lambda in
``lam``. ``diag_pos[i]`` is the position of entry (i, i) in ``data``.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t

cnp.import_array()


def scale_csc(const int64_t[::1] indptr, const int32_t[::1] indices,
              const double[::1] data, const int64_t[::1] bstart,
              const int64_t[::1] bk, const int64_t[::1] lam_off,
              const double[::1] lam, const int64_t[::1] diag_pos,
              double[::1] work, double[::1] out):
    """out = values of Lambda' A Lambda + I on A's pattern (``work`` is scratch).

    NumPy: ``out = (Lam.T @ A @ Lam + I)[pattern]`` for the block-diagonal Lam.
    """
    cdef Py_ssize_t q = indptr.shape[0] - 1, j, s, k, c, r, t, nz, t0, i
    cdef double acc
    with nogil:
        # pass 1, B = A Lambda: column s+c = sum_{r >= c} lam[r, c] * column s+r
        for j in range(q):
            s = bstart[j]; k = bk[j]; c = j - s
            nz = indptr[j + 1] - indptr[j]
            for t in range(nz):
                acc = 0.0
                for r in range(c, k):
                    acc = acc + lam[lam_off[j] + c * k + r] * data[indptr[s + r] + t]
                work[indptr[j] + t] = acc
        # pass 2, M = Lambda' B: row s+c = sum_{r >= c} lam[r, c] * row s+r
        for j in range(q):
            t = indptr[j]
            while t < indptr[j + 1]:
                i = indices[t]
                s = bstart[i]; k = bk[i]
                t0 = t  # rows s .. s+k-1 sit at t0 .. t0+k-1
                for c in range(k):
                    acc = 0.0
                    for r in range(c, k):
                        acc = acc + lam[lam_off[i] + c * k + r] * work[t0 + r]
                    out[t0 + c] = acc
                t = t0 + k
        for j in range(q):
            out[diag_pos[j]] += 1.0
