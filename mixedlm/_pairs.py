"""How the blocked solver holds its first factor's level pairs (scalar terms).

With a scalar first factor and scalar rest terms, every evaluation of the
blocked solver needs sum_l f_l^2 v_l v_l' over the first factor's levels l
(``_core._blocked``). Three representations of that sum, chosen once per
model from the structure:

* **per level** (``_blocked._eliminate_scalar``): every evaluation walks the
  level pairs; the cost is their number, sum_l nnz_l (nnz_l + 1) / 2.
* **merged by class** (``_core._merge``): levels with equal A11 share their
  weight, so their pairs are summed once; per evaluation one multiply-add
  per merged entry. Chosen when it pays and its scratch stays small
  (InstEval: 1.29M level pairs become 832k entries).
* **class basis** (``_core._basis``, ``_classbasis``): the class weights
  for every theta lie, to rounding, in a space of small dimension r, so the
  sum is formed from r dense matrices built once; per evaluation r ordered
  multiply-adds per entry of the Schur complement, whatever the number of
  rows. Chosen on large crossed designs where the level pairs are many
  (20,000 x 2,000 levels, 4M rows: 360M level pairs against 12 x 2.0M).
  When the check of an evaluation's weights fails (:func:`_classbasis.
  coefficients`), that evaluation takes the per-level path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from ._classbasis import class_basis, coefficients
from ._core._basis import basis_level_pairs
from ._core._gradient import NORMSQ_WORK_ROWS
from ._core._merge import merge_level_pairs

#: Class-merged level pairs are built when there are at most this fraction as
#: many classes as levels, and at most this many level pairs: building them
#: costs a few passes over the pairs and up to 16 bytes per pair, which on very
#: large crossed designs (20,000 x 2,000 levels, 4M rows: 360M pairs)
#: outweighs what the evaluations gain (measured: 13 s construction against
#: 3 s); InstEval has 1.3M.
MERGE_MAX_LEVEL_PAIRS = 8_000_000
MERGE_CLASS_FRACTION = 0.5

#: The class basis is tried with at most this many classes (its search costs
#: O(samples x classes x rank)) and kept only up to this rank.
BASIS_MAX_CLASSES = 4096
BASIS_MAX_RANK = 32
#: Largest basis storage (r q (q + 1) / 2 doubles) plus the build's scratch
#: (12 bytes per class and rest column). The 20,000 x 2,000 design at 1M rows
#: needs 240 MB (r = 15, q = 2,000).
BASIS_MAX_BYTES = 1 << 30
#: Costs in units of one in-order basis multiply-add of an evaluation (about
#: 1 ns), measured on the 20,000 x 2,000 design: a scattered level-pair update
#: of the per-level path costs about 4 (the build's pass over the pairs, the
#: same, and about 2 since it reads narrowed entries with every line prefetched;
#: counted as 4, which errs towards the per-level path), a multiply-add of the
#: build's dgemm fold about 0.1.
BASIS_PAIR_COST = 4.0
BASIS_FOLD_COST = 0.1
#: The build must pay for itself within this many evaluations (a fit with the
#: gradient takes 8 to 20).
BASIS_PAYBACK_EVALS = 10


#: ``_gradient.level_normsq`` against ``_chol.lauum_rec`` + ``merged_quadform``,
#: per multiply-add: measured on InstEval at 1 thread (AMD EPYC), the kernel's
#: 46.6M (see :func:`normsq_work`) in 4.5 ms against lauum's m^3 / 6 = 239M in
#: 11.7 ms, about 2 times slower (its loads are gathered columns); counted as
#: 2.5, which errs towards forming inv(S).
NORMSQ_COST = 2.5


def normsq_work(idx: NDArray[np.int32], q: int) -> float:
    """Multiply-adds ``_gradient.level_normsq`` does for these level entries:
    each entry adds one column of every 64-row block from its own block to the
    last, 64 rows each (the blocks are padded), so q_pad - 64 floor(idx / 64)
    with q_pad = 64 ceil(q / 64)."""
    rows = NORMSQ_WORK_ROWS  # _normsq.h's MIXEDLM_NORMSQ_ROWS
    q_pad = rows * -(-q // rows)
    return float(np.sum(q_pad - rows * (idx.astype(np.int64) // rows)))


def normsq_pays(idx: NDArray[np.int32], q: int) -> bool:
    """Whether the merged path's ML gradient should read b_l' inv(S) b_l off
    the inverse factor X (``_gradient.level_normsq``, :func:`normsq_work`
    multiply-adds) rather than form inv(S) = X'X (q^3 / 6). On InstEval it
    saves about 9 ms of an evaluation's 36-45 at one thread (measured
    alternately in one process)."""
    return NORMSQ_COST * normsq_work(idx, q) < q ** 3 / 6.0


def level_pair_count(ptr: NDArray[np.int64]) -> int:
    """sum_l nnz_l (nnz_l + 1) / 2: the per-level path's updates per evaluation."""
    per_level = np.diff(ptr)
    return int(np.sum(per_level * (per_level + 1) // 2))


def weight_classes(A11: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int32]]:
    """The distinct A11 values of a scalar first factor, and each level's class."""
    a11, cls = np.unique(A11[:, 0, 0], return_inverse=True)
    return np.ascontiguousarray(a11), cls.astype(np.int32)


class MergedPairs(NamedTuple):
    """Level pairs merged by weight class: the ``merged`` argument of
    ``_blocked.objective_blocked`` (which unpacks it in this order).

    By rest column c: the merged entries ``pptr[c]:pptr[c+1]`` (rows >= c
    and values, in the storage :func:`narrow_merged` chose) as class runs
    ``rcol[c]:rcol[c+1]`` (:func:`class_runs`), and the [X y] class sums
    ``xptr[c]:xptr[c+1]`` (class ``xcls``, P values each). The rows come
    from the level entries, which ``_remat.column_incidence`` checked, and
    are not checked again per evaluation.
    """

    pptr: NDArray[np.int64]
    prow: NDArray[np.uint16] | NDArray[np.int32]
    pval: NDArray[np.float32] | NDArray[np.float64]
    xptr: NDArray[np.int64]
    xcls: NDArray[np.int32]
    xval: NDArray[np.float32] | NDArray[np.float64]
    a11: NDArray[np.float64]   # the A11 value of each class
    AXr: NDArray[np.float64]   # (q_rest, P) A_WW's [X y] rows by rest column, C order
    XX: NDArray[np.float64]    # (P, P) its [X y] corner, Fortran
    rcol: NDArray[np.int64]
    rptr: NDArray[np.int64]
    rcls: NDArray[np.int32]


def merged_pairs(solver, force: bool = False) -> MergedPairs | None:
    """Level pairs merged by weight class, or None when the classes would not
    pay (about as many classes as levels) or the merge scratch would be too
    large; ``force`` skips both checks.
    """
    a11, cls = weight_classes(solver.A11)
    if not force and (level_pair_count(solver.ptr) > MERGE_MAX_LEVEL_PAIRS
                      or len(a11) > MERGE_CLASS_FRACTION * len(cls)):
        return None
    pptr, prow, pcls, pval, xptr, xcls, xval = merge_level_pairs(
        solver.ptr, solver.idx, solver.val, cls, len(a11), solver.AZX, solver.q_rest,
        *solver._gram)
    runs = class_runs(pptr, pcls)
    del pcls  # the runs carry the classes (its buffer, sized to a bound, goes too)
    prow, pval, xval = narrow_merged(prow, pval, xval, solver.q_rest)
    return MergedPairs(pptr, prow, pval, xptr, xcls, xval, a11, solver._AXr,
                       solver._XyXy, *runs)


def _exact_float32(a: NDArray[np.float64]) -> NDArray[np.float32] | NDArray[np.float64]:
    """``a`` as float32 when every value survives the cast, else ``a`` itself."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # then not exact
        a32 = a.astype(np.float32)
        exact = bool(np.array_equal(a32, a))
    return a32 if exact else a


def narrow_merged(prow: NDArray[np.int32], pval: NDArray[np.float64],
                  xval: NDArray[np.float64], q_rest: int) -> tuple:
    """The merged stream in the narrowest storage that holds it exactly.

    Rows as uint16 when ``q_rest`` <= 65536; the values, and separately the
    [X y] rows, as float32 when every one converts exactly (sums of products
    of counts, as for intercept terms and integer responses). An evaluation
    reads each entry once, and that read is its cost (InstEval: 17 MB at
    full width, 8 MB narrowed); the kernels widen to float64 as they read,
    so the result is the same to the last bit as from the full-width stream.

    Returns
    -------
    prow, pval, xval : ndarray
        uint16 or int32; float32 or float64; float32 or float64 (C order).
    """
    if q_rest <= 1 << 16:
        prow = prow.astype(np.uint16)
    return prow, _exact_float32(pval), np.ascontiguousarray(_exact_float32(xval))


def class_runs(pptr: NDArray[np.int64], pcls: NDArray[np.int32]
               ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]:
    """The merged entries as runs of one class within one column.

    The kernels then read one weight per run rather than a class per entry
    (InstEval: 832k entries in 29k runs).

    Parameters
    ----------
    pptr : ndarray of shape (q + 1,), int64
        Column pointers of the merged entries.
    pcls : ndarray of shape (npair,), int32
        Class of each entry.

    Returns
    -------
    rcol : ndarray of shape (q + 1,), int64
        Column c's runs are ``rcol[c]:rcol[c+1]``.
    rptr : ndarray of shape (nrun + 1,), int64
        Run r's entries are ``rptr[r]:rptr[r+1]``; the runs tile the entries.
    rcls : ndarray of shape (nrun,), int32
        Class of each run.
    """
    n = len(pcls)
    start = np.zeros(n, dtype=bool)
    start[1:] = pcls[1:] != pcls[:-1]
    start[pptr[:-1][pptr[:-1] < n]] = True  # every column starts a run
    rptr = np.append(np.flatnonzero(start), n).astype(np.int64)
    rcls = np.ascontiguousarray(pcls[rptr[:-1]], dtype=np.int32)
    rcol = np.searchsorted(rptr, pptr).astype(np.int64)  # pptr[c] is a run start or n
    return rcol, rptr, rcls


@dataclass
class ClassBasis:
    """Level pairs folded onto a basis of class weights (``_core._basis``)."""

    a11: NDArray[np.float64]  # (K,) class values
    U: NDArray[np.float64]    # (K, r) orthonormal basis of the weights
    Pb: NDArray[np.float64]   # sum_k U[k, j] M_k, by column (see _core._basis)
    Xb: NDArray[np.float64]   # (q, r, P) the [X y] rows likewise

    @property
    def rank(self) -> int:
        """r, the number of basis matrices."""
        return self.U.shape[1]

    def weights(self, lam: float) -> NDArray[np.float64] | None:
        """alpha for the Schur complement's class weights lam^2 / (lam^2 a + 1),
        or None when the basis does not reproduce them (use the exact path)."""
        with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN: check fails
            t = lam * lam
            w = t / (t * self.a11 + 1.0)
        return coefficients(self.U, w)

    def gradient_weights(self, lam: float) -> NDArray[np.float64] | None:
        """beta for the gradient's class weights lam^2 / (lam^2 a + 1)^2, or None."""
        with np.errstate(over="ignore", invalid="ignore"):  # inf/NaN: check fails
            t = lam * lam
            m = t * self.a11 + 1.0
            g = t / (m * m)
        return coefficients(self.U, g)


def basis_pairs(solver, force: bool = False) -> ClassBasis | None:
    """The class basis of the solver's first factor, or None when it would not pay,
    or its storage or rank would be too large; ``force`` skips the cost
    comparison (not the rank and storage limits).

    It pays when building it and ``BASIS_PAYBACK_EVALS`` evaluations cost less
    than as many evaluations on the level pairs: with N level pairs, K
    classes and q rest columns, a basis of rank r costs per evaluation
    r q^2 / 2 multiply-adds against ``BASIS_PAIR_COST`` N, and to build one
    pass over the pairs plus at most r K q^2 / 2 multiply-adds of the fold,
    which bounds r.
    """
    a11, cls = weight_classes(solver.A11)
    q, K = solver.q_rest, len(a11)
    if K > BASIS_MAX_CLASSES or q == 0:
        return None
    per_rank = q * (q + 1) // 2
    scratch = 12 * K * (q + 1)
    max_rank = min(BASIS_MAX_RANK, (BASIS_MAX_BYTES - scratch) // (8 * per_rank))
    if not force:
        evals, pairs = BASIS_PAYBACK_EVALS, BASIS_PAIR_COST * level_pair_count(solver.ptr)
        # r (evals + fold_cost K) q^2 / 2 + pairs < evals * pairs
        saving = (evals - 1) * pairs
        max_rank = min(max_rank, int(saving / (per_rank * (evals + BASIS_FOLD_COST * K))))
    if max_rank < 1:
        return None
    U = class_basis(a11, max_rank)
    if U is None:
        return None
    Pb, Xb = basis_level_pairs(solver.ptr, solver.idx, solver.val, cls, U, solver.AZX, q)
    return ClassBasis(a11, U, Pb, Xb)
