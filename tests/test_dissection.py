"""The dissected order of the blocked solver (``mixedlm/_dissection.py``).

On a simulated crossed design whose second factor falls into groups (an
InstEval-like "instructors within departments", with a few instructors
shared by all), the dissection must be a permutation, its components must
not be joined by any entry of the Schur complement, and every fit quantity
(objective, gradient, theta, fixef, ranef on both scales) must agree with the
dense order's. The InstEval fits themselves take this path and are held to
lme4's numbers in ``test_fit.py``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mixedlm
from mixedlm import _dissection, _pairs
from mixedlm._core._dissect import schur_pattern

FORMULAS = ["y ~ 1 + x + (1|s) + (1|d)", "y ~ 1 + x + (1|s) + (1|d) + (1|g)"]


def grouped(seed: int = 5, groups: int = 6, per_group: int = 60, shared: int = 8,
            students: int = 900, n: int = 9000, balanced: bool = False) -> pd.DataFrame:
    """Students taking courses from instructors of one group, or shared ones
    (``balanced``: n / students rows each, so that their weights form a few
    classes, as the class basis needs)."""
    rng = np.random.default_rng(seed)
    s = (np.repeat(np.arange(students), n // students) if balanced
         else rng.integers(0, students, n))
    home = rng.integers(0, groups, students)[s]
    local = home * per_group + rng.integers(0, per_group, n)
    d = np.where(rng.random(n) < 0.05, groups * per_group + rng.integers(0, shared, n), local)
    g = d // 3  # nested in the groups: its columns are spread over the components
    u_s, u_d = rng.normal(0, 0.5, students), rng.normal(0, 0.8, groups * per_group + shared)
    u_g = rng.normal(0, 0.4, g.max() + 1)
    x = rng.normal(size=n)
    y = 1.0 + 0.3 * x + u_s[s] + u_d[d] + u_g[g] + rng.normal(0, 1.0, n)
    return pd.DataFrame({"y": y, "x": x, "s": pd.Categorical(s), "d": pd.Categorical(d),
                         "g": pd.Categorical(g)})


@pytest.fixture(scope="module")
def data():
    return grouped()


def _model(formula, data, dissect: bool, monkeypatch):
    monkeypatch.setattr(_dissection, "DISSECT_MIN_COLUMNS", 64 if dissect else 10 ** 9)
    m = mixedlm.lmm(formula, data)
    assert (m.solver._dissection is not None) == dissect
    return m


@pytest.mark.parametrize("formula", FORMULAS)
def test_the_dissection_is_a_permutation_into_unjoined_components(formula, data, monkeypatch):
    m = _model(formula, data, True, monkeypatch)
    s, D = m.solver, m.solver._dissection
    q, P = s.q_rest, s.p + 1
    np.testing.assert_array_equal(np.sort(D.perm), np.arange(q))
    np.testing.assert_array_equal(D.perm[D.iperm], np.arange(q))
    assert len(D.cstart) >= 3  # at least two components, as the groups make
    pat = schur_pattern(s.ptr, s.idx, *s._gram[:2], q).astype(bool)  # stored order
    k = D.cstart[-1]
    for i in range(len(D.cstart) - 1):
        b, e = D.cstart[i], D.cstart[i + 1]
        others = np.r_[0:b, e:k]
        assert not pat[b:e][:, others].any()  # no entry joins two components
        rows = D.rrow[D.rptr[i]:D.rptr[i + 1]]
        reach = np.flatnonzero(pat[k:, b:e].any(axis=1)) + k
        assert set(reach) <= set(rows[rows < q])  # the factor's rows cover the pattern's
        np.testing.assert_array_equal(rows[-P:], np.arange(q, q + P))
    assert D.flops < _dissection.DISSECT_MAX_FLOPS


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("reml", [False, True])
def test_objective_and_gradient_match_the_dense_order(formula, reml, data, monkeypatch):
    dense = _model(formula, data, False, monkeypatch)
    dis = _model(formula, data, True, monkeypatch)
    rng = np.random.default_rng(3)
    for theta in [rng.uniform(0.05, 2.0, len(dis.lower)) for _ in range(4)]:
        f0, f1 = dense.objective(theta, reml), dis.objective(theta, reml)
        assert f1 == pytest.approx(f0, rel=1e-12)
        np.testing.assert_allclose(dis.gradient(theta, reml), dense.gradient(theta, reml),
                                   rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("formula", FORMULAS)
def test_fits_match_the_dense_order(formula, data, monkeypatch):
    a = _model(formula, data, False, monkeypatch).fit()
    b = _model(formula, data, True, monkeypatch).fit()
    assert b.objective == pytest.approx(a.objective, rel=1e-12)
    np.testing.assert_allclose(b.theta, a.theta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(b.fixef, a.fixef, rtol=1e-7, atol=1e-9)
    for uscale in (False, True):
        ra, rb = a.ranef(uscale=uscale), b.ranef(uscale=uscale)
        assert list(ra) == list(rb)
        for name in ra:
            pd.testing.assert_index_equal(rb[name].index, ra[name].index)
            np.testing.assert_allclose(rb[name].to_numpy(), ra[name].to_numpy(),
                                       rtol=1e-6, atol=1e-8)


def test_small_or_unstructured_designs_keep_the_dense_order(data):
    m = mixedlm.lmm(FORMULAS[0], data)  # 368 instructors: dissected by default
    assert m.solver._dissection is not None
    small = data[data["d"].cat.codes < 200].copy()
    small["d"] = small["d"].cat.remove_unused_categories()
    assert mixedlm.lmm(FORMULAS[0], small).solver._dissection is None  # < 256 columns
    rng = np.random.default_rng(0)  # uniformly crossed: a dense pattern
    n = 6000
    flat = pd.DataFrame({"y": rng.normal(size=n), "x": rng.normal(size=n),
                         "s": pd.Categorical(rng.integers(0, 300, n)),
                         "d": pd.Categorical(rng.integers(0, 300, n))})
    assert mixedlm.lmm(FORMULAS[0], flat).solver._dissection is None


def test_a_dissection_that_does_not_match_is_refused(data):
    """objective_blocked refuses a dissection whose rows miss the [X y] rows, or
    whose scratch offsets do not fit (the kernels write at those offsets)."""
    m = mixedlm.lmm(FORMULAS[0], data)
    s, D = m.solver, m.solver._dissection
    theta = np.array([0.5, 0.7])
    good = m.objective(theta)
    keep = np.ones(len(D.rrow), bool)
    keep[D.rptr[1] - 1] = False  # component 0 without its last [X y] row
    missing = D._replace(rrow=D.rrow[keep], rptr=np.concatenate(
        [[0], D.rptr[1:] - 1]).astype(np.int64))
    small = D._replace(gsize=D.gsize - 1)
    short = D._replace(work=D.work[:-1])
    for bad in (missing, small, short):
        s._dissection = bad
        with pytest.raises(ValueError, match="dissection does not match"):
            m.objective(theta)
    s._dissection = D._replace(usize=D.usize + len(D.work))
    with pytest.raises(ValueError, match="dissection does not match"):
        m.objective(theta)
    s._dissection = D
    assert m.objective(theta) == good


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("path", ["levels", "basis", "gram"])
def test_every_assembly_path_matches_the_dense_order(formula, path, data, monkeypatch):
    """The per-level and class-basis assemblies (forced as in test_core_basis),
    and the merged path's gradient through inv(S) rather than the inverse
    factor's norms, give the dense order's objective and gradient."""
    if path == "basis":
        data = grouped(balanced=True)
    if path != "gram":
        monkeypatch.setattr(_pairs, "MERGE_MAX_LEVEL_PAIRS", -1)
        monkeypatch.setattr(_pairs, "BASIS_PAIR_COST", 1e9 if path == "basis" else 0.0)
    models = [_model(formula, data, on, monkeypatch) for on in (False, True)]
    if path == "gram":
        for m in models:
            m.solver._normsq = False
    rng = np.random.default_rng(11)
    for theta in [rng.uniform(0.05, 2.0, len(models[0].lower)) for _ in range(3)]:
        for reml in (False, True):
            f0, f1 = (m.objective(theta, reml) for m in models)
            assert f1 == pytest.approx(f0, rel=1e-12)
            g0, g1 = (m.gradient(theta, reml) for m in models)
            np.testing.assert_allclose(g1, g0, rtol=1e-8, atol=1e-8)
            want = "merged" if path == "gram" else path
            assert models[1].solver._path == want
            assert models[1].solver._gram_formed == (path != "gram" or reml
                                                     or not models[1].solver._normsq)


@pytest.mark.parametrize("formula", ["y ~ 1 + x + (1|s) + (1 + x|d)",
                                     "y ~ 1 + x + (1 + x|s) + (1|d)"])
def test_vector_terms_keep_the_dense_order(formula, data, monkeypatch):
    """The dissected kernels take scalar terms only: a random slope on either
    factor keeps the dense order, with the same objective as before."""
    monkeypatch.setattr(_dissection, "DISSECT_MIN_COLUMNS", 1)
    m = mixedlm.lmm(formula, data)
    assert m.solver.name == "blocked" and m.solver._dissection is None
    theta = np.full(len(m.lower), 0.5)
    assert np.isfinite(m.objective(theta))


def test_a_failed_ordering_keeps_the_dense_order(data, monkeypatch):
    from sksparse import cholmod

    def fail(*args, **kwargs):
        raise cholmod.CholmodError("no ordering")

    monkeypatch.setattr(_dissection.cholmod, "analyze", fail)
    m = mixedlm.lmm(FORMULAS[0], data)
    assert m.solver._dissection is None
    monkeypatch.undo()
    d = mixedlm.lmm(FORMULAS[0], data)
    assert d.solver._dissection is not None
    theta = np.array([0.4, 0.9])
    assert m.objective(theta) == pytest.approx(d.objective(theta), rel=1e-12)
