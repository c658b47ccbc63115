"""A small basis for the blocked solver's per-class weights.

With scalar terms, the blocked solver weighs the level pairs of a first-factor
level l by a number that depends on theta only through t = lam^2 and on the
level only through a_l = A11_l (its row count for an intercept term):

    w(a) = t / (t a + 1)          in the Schur complement, and
    g(a) = t / (t a + 1)^2        in the gradient's quadratic forms.

Levels with equal a form a *class* (``_core._merge``). When the classes are
many, the vectors (w(a_k))_k and (g(a_k))_k over all t >= 0 still lie, to
rounding, in a space of small dimension r: 1 / (1 + t a) is analytic in a
away from a = -1/t < 0, so a few functions of a reproduce it on the classes'
range (20,000 x 2,000 crossed levels: r = 15 at 1M rows, 12 at 4M rows,
against 54 and 104 classes).

:func:`class_basis` finds an orthonormal basis U (K x r) of that space by a
greedy selection among sampled weight vectors, so that every sampled class
weight is reproduced to a relative ``BUILD_TOL`` (or gives up when rounding
alone prevents that: wide ranges of a, or a = 0 beside a > 0).
:func:`coefficients` gives alpha = U'w for the weights at one theta and
checks the reproduction, class by class, against a relative ``CHECK_TOL``:
the blocked solver then forms sum_k w_k M_k as sum_j alpha_j P_j
(``_core._basis``), or, when the check fails, takes the exact per-level path
for that evaluation.

What the check bounds is U alpha against w. The sum itself then differs
from sum_k w_k M_k by at most CHECK_TOL sum_k w_k |M_k| plus the rounding of
forming P_j and sum_j alpha_j P_j, which is the rounding of the direct sum
amplified by max_k sum_j |U_kj alpha_j| / w_k: 1.2 to 3.8 on every class set
accepted in the tests and benchmarks.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Every sampled class weight is reproduced to this relative accuracy (a few
#: units in the last place of the weights' own rounding).
BUILD_TOL = 1e-14
#: The accuracy required at an evaluation; looser than ``BUILD_TOL`` to allow
#: for t between the samples, still far below what a fit can notice.
CHECK_TOL = 1e-12
#: Samples per decade of t; t covers every a's transition from w = t to
#: w = 1 / a, with 17 decades to spare at each end, so that both limits are
#: sampled to within rounding.
PER_DECADE = 24
SPARE_DECADES = 17.0


def _samples(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """The sampled vectors 1 / (1 + t a) and their squares (one per row)."""
    pos = a[a > 0]
    if pos.size == 0:  # every class has a = 0: w = t on every class
        return np.ones((1, a.size))
    lo = np.log10(1.0 / pos.max()) - SPARE_DECADES
    hi = np.log10(1.0 / pos.min()) + SPARE_DECADES
    t = np.logspace(lo, hi, int(np.ceil((hi - lo) * PER_DECADE)) + 1)
    inv = 1.0 / (1.0 + t[:, None] * a[None, :])
    return np.vstack([np.ones((1, a.size)), inv, inv * inv])


def class_basis(a: NDArray[np.float64], max_rank: int) -> NDArray[np.float64] | None:
    """An orthonormal basis (K, r) reproducing every class weight, or None.

    Parameters
    ----------
    a : ndarray of shape (K,)
        The classes' A11 values (non-negative, distinct).
    max_rank : int
        Give up (return None) when more basis vectors than this are needed.

    Returns
    -------
    ndarray of shape (K, r) or None
        Orthonormal columns such that, for every sampled t, both
        ``1 / (1 + t a)`` and its square are reproduced by their orthogonal
        projection to a relative ``BUILD_TOL`` in every entry, as tracked by
        the greedy loop's running residual; a fresh projection of every
        sample is then checked against ``10 * BUILD_TOL`` (the running
        residual and the fresh one differ by rounding: measured within 2x).
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("class values must be a non-empty vector of finite numbers >= 0")
    F = _samples(a)
    F /= F.max(axis=1, keepdims=True)
    R = F.copy()
    basis: list[NDArray[np.float64]] = []
    while True:
        err = np.max(np.abs(R) / F, axis=1)
        i = int(np.argmax(err))
        if err[i] <= BUILD_TOL:
            break
        if len(basis) >= min(max_rank, a.size):
            return None
        v = R[i].copy()
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to rounding
            for u in basis:
                v -= (u @ v) * u
        norm = np.linalg.norm(v)
        if norm == 0.0:
            return None
        v /= norm
        basis.append(v)
        R -= np.outer(R @ v, v)
    if not basis:  # only possible for an all-zero sample set, excluded above
        return None
    U = np.ascontiguousarray(np.column_stack(basis))
    if np.max(np.abs(F - (F @ U) @ U.T) / F) > 10.0 * BUILD_TOL:
        return None
    return U


def coefficients(U: NDArray[np.float64], w: NDArray[np.float64]
                 ) -> NDArray[np.float64] | None:
    """alpha = U'w, or None when U alpha misses some w_k by more than
    ``CHECK_TOL * |w_k|``, or when a weight is not finite (theta overflowing).

    Parameters
    ----------
    U : ndarray of shape (K, r)
        From :func:`class_basis`.
    w : ndarray of shape (K,)
        Class weights of one sign (the blocked solver's are >= 0).
    """
    alpha = U.T @ w
    # written so that NaN or inf anywhere fails the check
    if not np.all(np.abs(w - U @ alpha) <= CHECK_TOL * np.abs(w)):
        return None
    return np.ascontiguousarray(alpha)
