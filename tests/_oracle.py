"""A plain dense NumPy reference for the profiled (RE)ML objective.

For small problems only: every matrix here is dense (n x q Z, q x q Lambda),
and the penalized least-squares problem is solved with one dense solve of the
full augmented system. Nothing is shared with the package's kernels except
the model's raw pieces (``m.X``, ``m.y``, and the random-effects rows and
codes).

Two ways of building Z and Lambda are offered:

* ``source="blocks"`` (default): from ``m.blocks``, the layout the solvers
  use. Column ``offset + code * K + c`` of Z holds ``z[i, c]``; Lambda is
  blockdiag over blocks of ``kron(I_nlevels, lam)`` with ``lam =
  block.lam(theta)``.
* ``source="terms"``: from ``m.terms`` alone, filling each term's
  lower-triangular factor column by column from its slice of theta (lme4's
  convention; terms in lme4's order). This does not use the blocks' theta
  templates, so agreement of the two sources checks them.

The objective (Bates et al. 2015, lme4's ``deviance``/``REMLcrit``):

    M      = Lambda' Z' Z Lambda + I
    (u, beta) minimise ||y - X beta - Z Lambda u||^2 + ||u||^2  (= pwrss)
    ML:    logdet(M) + n (1 + log(2 pi pwrss / n))
    REML:  logdet(M) + logdet(X'X - X'Z Lambda M^{-1} Lambda' Z'X)
                     + (n - p) (1 + log(2 pi pwrss / (n - p)))
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OracleSolution", "dense_lambda", "dense_z", "fd_gradient", "objective",
           "random_theta", "solve"]


@dataclass
class OracleSolution:
    """Everything the oracle computes at one theta."""

    objective: float
    beta: np.ndarray
    u: np.ndarray              # spherical random effects, stacked (q,)
    b: np.ndarray              # Lambda u, stacked (q,)
    u_blocks: list             # per block (or term): (nlevels, K) arrays
    b_blocks: list
    pwrss: float
    sigma: float
    logdet_m: float
    logdet_rx: float           # log det of the Schur complement (REML term)


# ---------------------------------------------------------------------------
# Dense Z and Lambda
# ---------------------------------------------------------------------------


def _pieces(m, source: str) -> list[tuple[np.ndarray, int, np.ndarray]]:
    """(codes, nlevels, z) per block or per term."""
    if source == "blocks":
        return [(np.asarray(b.codes), b.nlevels, np.asarray(b.z)) for b in m.blocks]
    if source == "terms":
        return [(np.asarray(t.codes), t.nlevels, np.asarray(t.z)) for t in m.terms]
    raise ValueError(source)


def dense_z(m, source: str = "blocks") -> np.ndarray:
    """The n x q random-effects model matrix, level-major within each block/term."""
    pieces = _pieces(m, source)
    n = len(m.y)
    q = sum(nl * z.shape[1] for _, nl, z in pieces)
    Z = np.zeros((n, q))
    rows = np.arange(n)
    off = 0
    for codes, nl, z in pieces:
        k = z.shape[1]
        for c in range(k):
            Z[rows, off + codes.astype(np.int64) * k + c] = z[:, c]
        off += nl * k
    return Z


def term_lambdas(m, theta) -> list[np.ndarray]:
    """Each term's k x k lower-triangular factor, filled column-wise from theta."""
    theta = np.asarray(theta, dtype=float)
    out, t = [], 0
    for term in m.terms:
        k = term.z.shape[1]
        lam = np.zeros((k, k))
        for c in range(k):
            for r in range(c, k):
                lam[r, c] = theta[t]
                t += 1
        out.append(lam)
    assert t == len(theta), "theta length does not match the terms"
    return out


def dense_lambda(m, theta, source: str = "blocks") -> np.ndarray:
    """The q x q block-diagonal relative covariance factor."""
    theta = np.asarray(theta, dtype=float)
    if source == "blocks":
        parts = [(b.nlevels, np.asarray(b.lam(theta))) for b in m.blocks]
    elif source == "terms":
        parts = [(t.nlevels, lam) for t, lam in zip(m.terms, term_lambdas(m, theta))]
    else:
        raise ValueError(source)
    q = sum(nl * lam.shape[0] for nl, lam in parts)
    Lam = np.zeros((q, q))
    off = 0
    for nl, lam in parts:
        k = lam.shape[0]
        Lam[off:off + nl * k, off:off + nl * k] = np.kron(np.eye(nl), lam)
        off += nl * k
    return Lam


# ---------------------------------------------------------------------------
# The penalized least-squares solution and the objective
# ---------------------------------------------------------------------------


def solve(m, theta, reml: bool = False, source: str = "blocks",
          Z: np.ndarray | None = None) -> OracleSolution:
    """Solve the penalized least-squares problem densely and evaluate the objective.

    Diagonal entries of theta may be negative here (the oracle has no bounds),
    which lets central differences straddle the boundary.
    """
    theta = np.asarray(theta, dtype=float)
    X = np.asarray(m.X, dtype=float)
    y = np.asarray(m.y, dtype=float)
    n, p = X.shape
    if Z is None:
        Z = dense_z(m, source)
    Lam = dense_lambda(m, theta, source)
    ZL = Z @ Lam
    q = ZL.shape[1]
    M = ZL.T @ ZL + np.eye(q)
    # Full augmented system for (u, beta)
    A = np.block([[M, ZL.T @ X], [X.T @ ZL, X.T @ X]])
    rhs = np.concatenate([ZL.T @ y, X.T @ y])
    sol = np.linalg.solve(A, rhs)
    u, beta = sol[:q], sol[q:]
    resid = y - X @ beta - ZL @ u
    pwrss = float(resid @ resid + u @ u)
    sign, logdet_m = np.linalg.slogdet(M)
    assert sign > 0
    if p:
        S = X.T @ X - X.T @ ZL @ np.linalg.solve(M, ZL.T @ X)
        sign_x, logdet_rx = np.linalg.slogdet(S)
        assert sign_x > 0
    else:
        logdet_rx = 0.0
    d = n - p if reml else n
    obj = logdet_m + d * (1.0 + np.log(2.0 * np.pi * pwrss / d))
    if reml:
        obj += logdet_rx
    b = Lam @ u
    u_blocks, b_blocks, off = [], [], 0
    for _, nl, z in _pieces(m, source):
        k = z.shape[1]
        u_blocks.append(u[off:off + nl * k].reshape(nl, k))
        b_blocks.append(b[off:off + nl * k].reshape(nl, k))
        off += nl * k
    return OracleSolution(float(obj), beta, u, b, u_blocks, b_blocks, pwrss,
                          float(np.sqrt(pwrss / d)), float(logdet_m), float(logdet_rx))


def objective(m, theta, reml: bool = False, source: str = "blocks",
              Z: np.ndarray | None = None) -> float:
    """The oracle's profiled deviance (ML) or REML criterion."""
    return solve(m, theta, reml, source, Z).objective


def fd_gradient(m, theta, reml: bool = False, h: float = 1e-5) -> np.ndarray:
    """Central finite differences of the oracle objective (step h * max(1, |theta_i|))."""
    theta = np.asarray(theta, dtype=float)
    Z = dense_z(m)
    g = np.empty_like(theta)
    for i in range(len(theta)):
        step = h * max(1.0, abs(theta[i]))
        tp, tm = theta.copy(), theta.copy()
        tp[i] += step
        tm[i] -= step
        g[i] = (objective(m, tp, reml, Z=Z) - objective(m, tm, reml, Z=Z)) / (2 * step)
    return g


# ---------------------------------------------------------------------------
# Random theta
# ---------------------------------------------------------------------------


def random_theta(m, rng: np.random.Generator, zero_diag: int = 0) -> np.ndarray:
    """A feasible theta: diagonals in [0.1, 2.5], off-diagonals N(0, 0.8) (some negative).

    ``zero_diag`` diagonal entries are set exactly to 0 (the boundary).
    """
    lower = np.asarray(m.lower)
    diag = np.flatnonzero(lower == 0.0)
    off = np.flatnonzero(lower != 0.0)
    th = np.empty(len(lower))
    th[diag] = rng.uniform(0.1, 2.5, size=len(diag))
    th[off] = rng.normal(0.0, 0.8, size=len(off))
    if len(off):
        th[off[0]] = -abs(th[off[0]]) - 0.05  # at least one negative off-diagonal
    if zero_diag:
        th[rng.choice(diag, size=min(zero_diag, len(diag)), replace=False)] = 0.0
    return th


# ---------------------------------------------------------------------------
# Designs on the simulated data (conftest.simulate) shared by the core tests
# ---------------------------------------------------------------------------

#: id -> (formula, leading block's group, [(group, K) of the other blocks])
#: The expected block order documents which structure each case exercises
#: (e.g. a vector term in a non-leading block).
MULTI_FACTOR = {
    "nested": ("y ~ 1 + x + (1|a/b)", "a:b", [("a", 1)]),
    "nested_vector": ("y ~ 1 + x + (1 + x|a/b)", "a:b", [("a", 2)]),
    "crossed_scalar": ("y ~ 1 + x + (1|g) + (1|h)", "g", [("h", 1)]),
    "crossed_small": ("y ~ 1 + (1|a) + (1|b)", "a", [("b", 1)]),
    "crossed_vector_leading": ("y ~ 1 + x + (1 + x|g) + (1|h)", "g", [("h", 1)]),
    "crossed_vector_rest": ("y ~ 1 + x + (1|g) + (1 + x|h)", "g", [("h", 2)]),
    "crossed_both_vector": ("y ~ 1 + x + (1 + x|g) + (1 + x|h)", "g", [("h", 2)]),
    "three_factors": ("y ~ 1 + x + (1|g) + (1|h) + (1|k)", "g", [("k", 1), ("h", 1)]),
    # rest blocks: k with a correlated 2-vector, h with two uncorrelated terms
    # (a structural zero in its lambda)
    "three_mixed": ("y ~ 1 + x + x2 + (1|g) + (x||h) + (1 + x2|k)", "g",
                    [("k", 2), ("h", 2)]),
    "interaction_crossed": ("y ~ 1 + x2 + (1|a:b) + (1|g) + (1|h)", "g",
                            [("a:b", 1), ("h", 1)]),
    "no_fixed": ("y ~ 0 + (1|g) + (1|h)", "g", [("h", 1)]),
}

#: Single-factor designs that the multi-factor solvers must also handle.
SINGLE_FACTOR = {
    "scalar": "y ~ 1 + x + (1|g)",
    "vector": "y ~ 1 + x + (1 + x|g)",
    "two_terms": "y ~ 1 + x + (1|g) + (0 + x|g)",
    "double_bar": "y ~ 1 + x + (x||g)",
    "interaction": "y ~ 1 + x + (1|a:b)",
}


def theta_set(m, seed: int) -> list[np.ndarray]:
    """lme4's start, three random thetas, one with a zero diagonal, and all zeros."""
    rng = np.random.default_rng(seed)
    out = [m.theta0()]
    out += [random_theta(m, rng) for _ in range(3)]
    out.append(random_theta(m, rng, zero_diag=1))
    out.append(np.zeros(m.ntheta))
    return out


def random_levels(rng: np.random.Generator, nl: int, m: int, per_level: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Level-major sparse entries as the blocked kernels take them: ``ptr``
    (int64), ``idx`` (int32, columns ascending within each level, up to
    ``per_level`` of the m columns per level, some levels empty) and ``val``
    ((nnz, 1) normal values)."""
    ptr, idx = [0], []
    for _ in range(nl):
        k = int(rng.integers(0, per_level + 1))
        idx.extend(np.sort(rng.choice(m, size=min(k, m), replace=False)))
        ptr.append(len(idx))
    val = rng.normal(size=(len(idx), 1))
    return np.array(ptr, np.int64), np.array(idx, np.int32), np.ascontiguousarray(val)
