"""Symbolic analysis of the blocked solver's Schur complement, once per model:
its pattern, and the split of a fill-reducing order into independent
components and a dense root (``_sepchol``, ``mixedlm/_dissection.py``).

Storage layout
--------------
* ``ptr`` (nl+1,) int64, ``idx`` (nnz,) int32: the rest columns each level
  of the first factor touches (``_remat.level_cross_sparse``); ``gptr``
  (q+1,) int64 and ``grow`` int32: the lower triangle of Z_rest'Z_rest by
  column (CSC). Pointers and indices are checked here (O(entries)).
* The pattern: a dense (q, q) uint8 matrix, C order, 1 where the Schur
  complement can be nonzero (both triangles and the diagonal).
* Column structures of the Cholesky factor in the order ``perm``: a (q, W)
  uint64 bitset, W = ceil(q / 64); bit i of row j is set when L[i, j] can be
  nonzero, i > j (the symbolic factorization: the structure of column j is
  its pattern below the diagonal merged with its children's).
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from ._checks cimport rises, within

cnp.import_array()

cdef extern from *:
    """
    static inline int mixedlm_popcount64(unsigned long long x) { return __builtin_popcountll(x); }
    static inline int mixedlm_ctz64(unsigned long long x) { return __builtin_ctzll(x); }
    """
    int mixedlm_popcount64(unsigned long long x) noexcept nogil
    int mixedlm_ctz64(unsigned long long x) noexcept nogil


def schur_pattern(const int64_t[::1] ptr, const int32_t[::1] idx, const int64_t[::1] gptr,
                  const int32_t[::1] grow, Py_ssize_t q):
    """The (q, q) uint8 pattern of sum_l v_l v_l' + Z_rest'Z_rest + I.

    NumPy: ``P[np.ix_(idx_l, idx_l)] = 1`` for each level l, the Gram's
    entries and their transposes, and the diagonal.
    """
    cdef Py_ssize_t nl = ptr.shape[0] - 1, l, a, b, c, e, i, j
    if (not rises(ptr, idx.shape[0]) or not within(idx, q) or gptr.shape[0] != q + 1
            or not rises(gptr, grow.shape[0]) or not within(grow, q)):
        raise ValueError("schur_pattern: pointers or rows out of range for "
                         f"{q} rest columns")
    P_arr = np.zeros((q, q), dtype=np.uint8)
    cdef uint8_t[:, ::1] P = P_arr
    with nogil:
        for l in range(nl):
            for a in range(ptr[l], ptr[l + 1]):
                i = idx[a]
                for b in range(a, ptr[l + 1]):
                    j = idx[b]
                    P[i, j] = 1
                    P[j, i] = 1
        for c in range(q):
            P[c, c] = 1
            for e in range(gptr[c], gptr[c + 1]):
                P[grow[e], c] = 1
                P[c, grow[e]] = 1
    return P_arr


def lower_csc(const uint8_t[:, ::1] P):
    """The lower triangle of the symmetric pattern as CSC (indptr int64,
    indices int32): the input of a fill-reducing ordering.

    NumPy: ``scipy.sparse.csc_array(np.tril(P))`` (structure only).
    """
    cdef Py_ssize_t q = P.shape[0], i, j, n = 0
    indptr_arr = np.zeros(q + 1, dtype=np.int64)
    cdef int64_t[::1] indptr = indptr_arr
    with nogil:
        for j in range(q):
            for i in range(j, q):
                n += P[j, i]  # symmetric: row j read in place of column j
            indptr[j + 1] = n
    indices_arr = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] indices = indices_arr
    n = 0
    with nogil:
        for j in range(q):
            for i in range(j, q):
                if P[j, i]:
                    indices[n] = <int32_t>i
                    n += 1
    return indptr_arr, indices_arr


def factor_structure(const uint8_t[:, ::1] P, const int64_t[::1] perm):
    """Symbolic Cholesky of the pattern ``P`` permuted by ``perm`` (new j =
    old perm[j]): the elimination tree, column counts and the structure of
    each column.

    Returns
    -------
    parent : (q,) int64
        The elimination tree (-1 at a root).
    count : (q,) int64
        Nonzeros of each column of L, diagonal included.
    struct : (q, W) uint64
        Bit i of row j set when L[i, j] can be nonzero (i > j).
    """
    cdef Py_ssize_t q = P.shape[0], W = (q + 63) // 64, i, j, w, par, pj
    if perm.shape[0] != q or P.shape[1] != q:
        raise ValueError(f"factor_structure: perm has {perm.shape[0]} entries for "
                         f"{P.shape[0]} x {P.shape[1]} columns")
    seen = np.zeros(q, dtype=np.uint8)
    cdef uint8_t[::1] sn = seen
    for j in range(q):
        if perm[j] < 0 or perm[j] >= q or sn[perm[j]]:
            raise ValueError("factor_structure: perm is not a permutation of the columns")
        sn[perm[j]] = 1
    struct_arr = np.zeros((q, max(W, 1)), dtype=np.uint64)
    parent_arr = np.empty(q, dtype=np.int64)
    count_arr = np.empty(q, dtype=np.int64)
    cdef uint64_t[:, ::1] S = struct_arr
    cdef int64_t[::1] parent = parent_arr, count = count_arr
    cdef uint64_t one = 1
    cdef int64_t c
    cdef const uint8_t* row
    with nogil:
        for j in range(q):
            # column j's own pattern below the diagonal (its children were
            # merged in when they were finished)
            row = &P[perm[j], 0]
            for i in range(j + 1, q):
                if row[perm[i]]:
                    S[j, i >> 6] |= one << (i & 63)
            par = -1
            c = 0
            for w in range(W):
                if S[j, w]:
                    c += mixedlm_popcount64(S[j, w])
                    if par < 0:
                        par = w * 64 + mixedlm_ctz64(S[j, w])
            parent[j] = par
            count[j] = c + 1
            if par >= 0:
                # NumPy: struct[par] |= struct[j]; clear bit par (its diagonal)
                for w in range(par >> 6, W):
                    S[par, w] |= S[j, w]
                S[par, par >> 6] &= ~(one << (par & 63))
    return parent_arr, count_arr, struct_arr


def struct_rows(const uint64_t[:, ::1] S, Py_ssize_t j):
    """The row indices set in column j's structure, ascending (int32).

    NumPy: ``np.flatnonzero(np.unpackbits(S[j].view(np.uint8), bitorder='little'))``.
    """
    cdef Py_ssize_t W = S.shape[1], w, n = 0
    cdef uint64_t x
    if not 0 <= j < S.shape[0]:
        raise ValueError(f"struct_rows: column {j} out of range for {S.shape[0]} columns")
    for w in range(W):
        n += mixedlm_popcount64(S[j, w])
    out_arr = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] out = out_arr
    n = 0
    for w in range(W):
        x = S[j, w]
        while x:
            out[n] = <int32_t>(w * 64 + mixedlm_ctz64(x))
            n += 1
            x &= x - 1
    return out_arr
