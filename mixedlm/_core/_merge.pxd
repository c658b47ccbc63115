# cython: language_level=3
"""The walk over one (rest column, class) run of level entries, shared by the
class-merged stream (``_merge``) and the class basis (``_basis``)."""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t

# The entries' rows and values as the class basis may narrow them for its
# pass over the level pairs (``_basis.basis_level_pairs``); the merge reads
# them as stored (int32 rows, float64 values).
ctypedef fused entry_row:
    int32_t
    uint16_t

ctypedef fused entry_value:
    double
    float
    uint8_t

# The class-merged stream's values as ``_pairs.narrow_merged`` stores them
# (float32 when exact); its rows are ``entry_row``.
ctypedef fused stream_value:
    double
    float


cdef extern from *:
    """
    /* hint the cache to load the line holding p (a no-op where unsupported) */
    #if defined(__GNUC__) || defined(__clang__)
    #define MIXEDLM_PREFETCH(p) __builtin_prefetch(p)
    #else
    #define MIXEDLM_PREFETCH(p) ((void)0)
    #endif
    """
    void MIXEDLM_PREFETCH(const void* addr) noexcept nogil


cdef inline Py_ssize_t accumulate_class_run(
        Py_ssize_t t0, Py_ssize_t tend, const int32_t[::1] cls,
        const int64_t[::1] cent, const int32_t[::1] clev, const int64_t[::1] ptr,
        const entry_row[::1] idx, const entry_value[:, ::1] val, const double[:, ::1] AZXt,
        int64_t g, int64_t* mark, double* acc, double* accx, int32_t* touched,
        Py_ssize_t* ntouch, bint track=True) noexcept nogil:
    """Sum one class's level products into column scratch; return the run's end.

    From ``t0`` (an entry of column c in ``column_class_entries`` order), for
    every entry of the same class up to ``tend``: its level l's entries from
    it to the level's end (rows >= c, ``idx`` ascending) add val[a] * val[b]
    into ``acc[row]``, and AZXt[l] * val[b] into ``accx`` (P values).
    ``AZXt`` (nl, P) is AZX by level, so that a level's P values share a line.

    With ``track``, each row first met in the run (``mark[row] != g``, g
    unique to the (column, class) run) is appended to ``touched``, which
    needs one spare slot: the branch-free append writes before it knows
    whether the row is new; ``ntouch`` counts the rows appended. Without it
    (runs that touch most rows: the caller treats every row as touched),
    ``mark``, ``touched`` and ``ntouch`` are not used.
    """
    cdef Py_ssize_t t1 = t0, a, b, l, j, row, P = AZXt.shape[1], bn, be
    cdef int32_t k = cls[clev[t0]]
    cdef double vb
    cdef Py_ssize_t step = 64 // (sizeof(entry_value) if sizeof(entry_value) > sizeof(entry_row)
                                  else sizeof(entry_row))
    while t1 < tend and cls[clev[t1]] == k:
        b = cent[t1]
        l = clev[t1]
        vb = val[b, 0]
        if t1 + 2 < tend:
            # the entries two levels on, every line of them: the walk jumps
            # between levels, and their tails (a few lines each) are too short
            # for the hardware prefetcher; ``step`` entries of the wider array
            # fill one 64-byte line. Measured on the 20,000 x 2,000 design at
            # 4M rows (the basis build, medians of 10, alternated in one
            # process): the first line only 1.39 s, every line 0.91 s.
            bn = cent[t1 + 2]
            be = ptr[clev[t1 + 2] + 1]
            while bn < be:
                MIXEDLM_PREFETCH(&idx[bn])
                MIXEDLM_PREFETCH(&val[bn, 0])
                bn += step
            # the last line, which the stride can step over (be > cent[t1 + 2]:
            # the entry is one of its level's)
            MIXEDLM_PREFETCH(&idx[be - 1])
            MIXEDLM_PREFETCH(&val[be - 1, 0])
            if P:
                MIXEDLM_PREFETCH(&AZXt[clev[t1 + 2], 0])
        if track:
            for a in range(b, ptr[l + 1]):
                row = idx[a]
                touched[ntouch[0]] = <int32_t>row  # kept only if the row is new
                ntouch[0] += mark[row] != g
                mark[row] = g
                acc[row] += val[a, 0] * vb
        else:
            for a in range(b, ptr[l + 1]):
                acc[idx[a]] += val[a, 0] * vb
        for j in range(P):
            accx[j] += AZXt[l, j] * vb
        t1 += 1
    return t1


cdef inline Py_ssize_t run_pair_count(Py_ssize_t t0, Py_ssize_t tend, const int32_t[::1] cls,
                                      const int64_t[::1] cent, const int32_t[::1] clev,
                                      const int64_t[::1] ptr) noexcept nogil:
    """The number of level products a class run (see ``accumulate_class_run``)
    adds: sum over its entries of the level's entries from there on."""
    cdef Py_ssize_t t1 = t0, n = 0
    cdef int32_t k = cls[clev[t0]]
    while t1 < tend and cls[clev[t1]] == k:
        n += ptr[clev[t1] + 1] - cent[t1]
        t1 += 1
    return n
