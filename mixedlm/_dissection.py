"""A dissected order of the blocked solver's rest columns (scalar terms).

The Schur complement S over the rest random effects (InstEval: 1,128
instructors) is dense as stored but sparse in value: 20% of its entries can
be nonzero on InstEval. In a fill-reducing order (AMD, from CHOLMOD) its
Cholesky factor ends in a dense block, the *root*, and the columns before it
fall into components that no entry of S joins. :func:`dissect` finds that
split once per model; the kernels (``_core._sepchol``) then factor each
component on its own, fold it into the root rows it reaches, and factor the
root densely, in the same dense storage.

Measured on InstEval (AMD order): a 504-column root (plus [X y]) and 3
components of 70-325 columns reaching 268-463 of its rows; 54% of the flops
of a dense factorization, 57% with the inverse factor (CHOLMOD's nested
dissection gives 47% and 53%, but its ordering takes 18-21 ms against AMD's 4-5).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sksparse import cholmod

from ._core._dissect import factor_structure, lower_csc, schur_pattern, struct_rows
from ._core._sepchol import work_size
from ._pairs import level_pair_count

#: Dissect only when the rest block has at least this many columns (below it a
#: dense factorization costs microseconds) and the first factor's level pairs,
#: which the pattern visits once, are at most this many (the 20,000 x 2,000
#: crossed design at 1M rows has 25M, and a dense pattern).
DISSECT_MIN_COLUMNS = 256
DISSECT_MAX_LEVEL_PAIRS = 8_000_000
#: ... and only when the dissected factorization needs at most this fraction
#: of a dense one's flops, and with the inverse factor (a gradient
#: evaluation) at most DISSECT_MAX_FLOPS_INVERSE (InstEval: 0.54 and 0.57).
DISSECT_MAX_FLOPS = 0.7
DISSECT_MAX_FLOPS_INVERSE = 0.8


class Dissection(NamedTuple):
    """The rest columns' order and its components (see ``_core._sepchol``).

    ``perm[j]`` is the rest column stored at position j (``iperm`` its
    inverse). ``cstart``, ``rptr``, ``rrow`` describe the components in
    the stored order, with the [X y] rows of T in every component's rows.
    ``work`` is the kernels' scratch, ``gsize`` and ``usize`` its first two
    parts (:func:`_core._sepchol.work_size`). ``flops`` is the factorization's
    share of a dense one's.
    """

    perm: NDArray[np.int64]
    iperm: NDArray[np.int64]
    cstart: NDArray[np.int64]
    rptr: NDArray[np.int64]
    rrow: NDArray[np.int32]
    work: NDArray[np.float64]
    gsize: int
    usize: int
    flops: float


def _flops(sizes: NDArray[np.int64], rho: NDArray[np.int64], root: int, nw: int,
           P: int) -> tuple[float, float]:
    """Flops of the dissected factorization and of its inverse factor (over
    the random effects, as the ML gradient needs it), each as a share of the
    dense ones' (the same count: n^3 / 3 for either dense kernel)."""
    c, r = sizes.astype(float), rho.astype(float)
    fact = float(np.sum(c ** 3 / 3 + r * c * c + r * r * c) + root ** 3 / 3)
    rz, m_root = np.maximum(r - P, 0.0), max(root - P, 0)
    inv = float(np.sum(c ** 3 / 3 + rz * c * c + m_root ** 2 * c) + m_root ** 3 / 3)
    m = nw - P
    return fact / (nw ** 3 / 3), inv / max(m ** 3 / 3, 1.0)


def dissect(ptr: NDArray[np.int64], idx: NDArray[np.int32],
            gram: tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.float64]],
            q: int, P: int, force: bool = False) -> Dissection | None:
    """The dissected order of the q rest columns, or None when it does not pay.

    Parameters
    ----------
    ptr, idx : numpy.ndarray
        The rest columns each level of the first factor touches
        (``_remat.level_cross_sparse``).
    gram : tuple
        The lower triangle of Z_rest'Z_rest (CSC), ``_layout.rest_gram_lower``.
    q, P : int
        The rest columns and the [X y] columns of the Schur complement.
    force : bool
        Skip the size and flop checks (tests).
    """
    if not force and (q < DISSECT_MIN_COLUMNS
                      or level_pair_count(ptr) > DISSECT_MAX_LEVEL_PAIRS):
        return None
    gptr, grow, _ = gram
    pattern = schur_pattern(ptr, idx, gptr, grow, q)
    indptr, indices = lower_csc(pattern)
    A = sp.csc_matrix((np.ones(len(indices)), indices, indptr), shape=(q, q))
    try:
        order = np.asarray(cholmod.analyze(A, mode="simplicial", ordering_method="amd").P(),
                           dtype=np.int64)
    except cholmod.CholmodError:  # no ordering: the dense order works for any pattern
        return None
    parent, count, struct = factor_structure(pattern, order)
    dense_tail = count == q - np.arange(q)
    k = q - int(np.argmin(dense_tail[::-1])) if not dense_tail.all() else 0
    # the leading columns' trees in the elimination forest: one component each
    comp = np.empty(k, dtype=np.int64)
    tops: list[int] = []
    for j in range(k - 1, -1, -1):
        up = parent[j]
        if up < 0 or up >= k:
            comp[j] = len(tops)
            tops.append(j)
        else:
            comp[j] = comp[up]
    lead = np.argsort(comp, kind="stable")  # grouped by component, order kept within
    sizes = np.bincount(comp, minlength=len(tops)).astype(np.int64)
    # a component's root rows are its top's structure (the structure of a
    # column below its parent is in its parent's), all in the root
    reach = [struct_rows(struct, t) for t in tops]
    # the root is dense, so its order is free: root columns reached by the
    # same components go together, which makes each component's rows a few
    # contiguous runs (the kernels copy and add runs)
    signature = np.zeros((len(tops), q - k), dtype=bool)
    for i, r in enumerate(reach):
        signature[i, r - k] = True
    root = np.lexsort(signature[::-1]) if len(tops) else np.arange(q - k)
    at = np.empty(q - k, dtype=np.int64)
    at[root] = np.arange(q - k)
    perm = np.concatenate([order[:k][lead], order[k:][root]])
    xy_rows = np.arange(q, q + P, dtype=np.int32)
    rows = [np.concatenate([np.sort(at[r - k] + k).astype(np.int32), xy_rows]) for r in reach]
    rho = np.array([len(r) for r in rows], dtype=np.int64)
    fact, inv = _flops(sizes, rho, q - k + P, q + P, P)
    dense_fact, dense_inv = (q + P) ** 3 / 3, q ** 3 / 3
    both = (fact * dense_fact + inv * dense_inv) / (dense_fact + dense_inv)
    if not force and (fact > DISSECT_MAX_FLOPS or both > DISSECT_MAX_FLOPS_INVERSE):
        return None
    cstart = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    rptr = np.concatenate([[0], np.cumsum(rho)]).astype(np.int64)
    rrow = np.concatenate(rows).astype(np.int32) if rows else np.empty(0, np.int32)
    g, u, r = work_size(cstart, rptr, q + P)
    iperm = np.empty(q, dtype=np.int64)
    iperm[perm] = np.arange(q)
    return Dissection(perm, iperm, cstart, rptr, rrow, np.empty(g + u + r),
                      int(g), int(u), fact)
