"""The exact dynamic programs against full enumeration (d = 3, 4, 5; both priors; BGe and BDeu), and
the DP's exact samples against its own marginals."""

from __future__ import annotations

import numpy as np
import pytest
from _dag_reference import count_orders

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.graphs.dag import enumerate_dags
from bayesguard.inference.dp_order import order_dp
from bayesguard.inference.dp_structure import disjoint_pairs, structure_dp
from bayesguard.inference.parent_sets import ParentSetTable
from bayesguard.inference.subsets import log_subset_sum, log_superset_sum, signed_superset_sum
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.scores import BDeuScore, BGeScore
from bayesguard.theories.causal.structure import StructureScore


def make_score(kind: str, d: int, seed: int) -> StructureScore:
    rng = np.random.default_rng(seed)
    if kind == "bge":
        data = sample_linear_gaussian_scm(d, 60, d / 2, seed=seed).data
        scorer = BGeScore(data)
    else:
        x = rng.integers(0, 2, size=(80, d))
        x[:, 1] = np.where(rng.random(80) < 0.8, x[:, 0], 1 - x[:, 0])
        x[:, -1] = np.where(rng.random(80) < 0.7, x[:, 1], x[:, -1])
        scorer = BDeuScore(x, np.full(d, 2))
    required = [(0, 1)] if d > 3 else []
    prior = StructurePrior.make(d, kind="erdos-renyi", expected_edges=d / 2, required=required)
    return StructureScore(scorer, prior)


def enumeration(score: StructureScore, k: int, order_modular: bool) -> tuple[np.ndarray, float]:
    dags = enumerate_dags(score.d)
    dags = dags[dags.sum(axis=1).max(axis=1) <= k]
    lw = score.log_posterior(dags)
    if order_modular:
        lw = lw + np.log(count_orders(dags))
    top = lw[np.isfinite(lw)].max()
    w = np.exp(lw - top)
    return np.einsum("n,nij->ij", w / w.sum(), dags), float(np.log(w.sum()) + top)


CASES = [(kind, d, k) for kind in ("bge", "bdeu") for d in (3, 4, 5) for k in sorted({d - 1, 1, 2})]


@pytest.mark.parametrize(("kind", "d", "k"), CASES)
def test_order_dp_matches_enumeration_weighted_by_linear_extensions(kind, d, k):
    score = make_score(kind, d, seed=d)
    truth, log_z = enumeration(score, k, order_modular=True)
    result = order_dp(score, k)
    assert np.abs(result.edge_marginals - truth).max() < 1e-9
    assert result.log_z == pytest.approx(log_z, abs=1e-9)
    assert result.normalisation_error < 1e-9


@pytest.mark.parametrize(("kind", "d", "k"), CASES)
def test_structure_dp_matches_enumeration(kind, d, k):
    score = make_score(kind, d, seed=d)
    truth, log_z = enumeration(score, k, order_modular=False)
    result = structure_dp(score, k)
    assert np.abs(result.edge_marginals - truth).max() < 1e-9
    assert result.log_z == pytest.approx(log_z, abs=1e-9)
    assert result.normalisation_error < 1e-9


def test_parent_set_posteriors_match_enumeration():
    score = make_score("bge", 4, seed=3)
    dags = enumerate_dags(4)
    lw = score.log_posterior(dags)
    w = np.exp(lw - lw.max())
    w /= w.sum()
    result = structure_dp(score, None)
    bits = np.int64(1) << np.arange(4)
    pa = (dags.astype(np.int64) * bits[None, :, None]).sum(axis=1)  # (n, d) parent masks
    for j in range(4):
        n = int(result.table.counts[j])
        for p in range(n):
            exact = w[pa[:, j] == result.table.masks[j, p]].sum()
            assert np.exp(result.parent_log_probs[j, p]) == pytest.approx(exact, abs=1e-10)


def test_candidates_restrict_both_programmes_to_the_allowed_parents():
    score = make_score("bge", 4, seed=1)
    cand = ~np.eye(4, dtype=bool)
    cand[2, 3] = cand[3, 0] = False
    dags = enumerate_dags(4)
    ok = ~np.any(dags & ~cand, axis=(1, 2))
    lw = score.log_posterior(dags[ok])
    w = np.exp(lw - lw.max())
    truth = np.einsum("n,nij->ij", w / w.sum(), dags[ok])
    result = structure_dp(score, None, cand)
    assert np.abs(result.edge_marginals - truth).max() < 1e-9
    assert result.edge_marginals[2, 3] == 0.0 and result.edge_marginals[3, 0] == 0.0


def test_exact_samples_match_the_dp_marginals_within_four_standard_errors():
    score = make_score("bge", 6, seed=5)
    result = order_dp(score, 2)
    n = 20_000
    draws = result.sample(n, seed=0)
    assert draws.shape == (n, 6, 6)
    assert np.all(draws.sum(axis=1) <= 2)
    p = result.edge_marginals
    se = np.sqrt(np.maximum(p * (1 - p), 1e-12) / n)
    z = np.abs(draws.mean(axis=0) - p) / se
    assert np.all(z[~np.eye(6, dtype=bool)] < 4.5)  # 30 edges; P(any |z| > 4.5) < 2e-4
    # the draws are DAGs with the required edge
    from bayesguard.graphs.dag import is_acyclic

    assert np.all(is_acyclic(draws)) and np.all(draws[:, 0, 1])


def test_structure_dp_rejects_samples_and_sizes():
    score = make_score("bge", 4, seed=0)
    with pytest.raises(ValueError, match="order-modular"):
        structure_dp(score).sample(3)
    with pytest.raises(ValueError, match="max_parents"):
        order_dp(score, -1)
    with pytest.raises(ValueError, match="candidates"):
        order_dp(score, 2, np.ones((3, 3), bool))
    big = StructureScore(BGeScore(np.random.default_rng(0).normal(size=(30, 25))))
    with pytest.raises(ValueError, match="exceeds"):
        order_dp(big, 1)
    with pytest.raises(ValueError, match="exceeds"):
        structure_dp(big, 1)


def test_marginal_error_reports_max_and_rmse():
    score = make_score("bge", 4, seed=2)
    result = order_dp(score, 3)
    est = result.edge_marginals.copy()
    est[0, 2] += 0.1
    err = result.marginal_error(est)
    assert err["edge_max_error"] == pytest.approx(0.1)
    assert err["edge_rmse"] == pytest.approx(np.sqrt(0.01 / 12))
    with pytest.raises(ValueError, match="marginals"):
        result.marginal_error(np.zeros((3, 3)))


def test_subset_transforms_against_direct_sums():
    rng = np.random.default_rng(0)
    d = 5
    a = rng.normal(size=1 << d)
    sub = log_subset_sum(a)
    sup = log_superset_sum(a)
    sa = rng.choice([-1.0, 1.0], size=1 << d)
    sl, ss = signed_superset_sum(a, sa)
    for s in range(1 << d):
        inside = [t for t in range(1 << d) if t & ~s == 0]
        over = [t for t in range(1 << d) if s & ~t == 0]
        assert sub[s] == pytest.approx(np.log(np.exp(a[inside]).sum()))
        assert sup[s] == pytest.approx(np.log(np.exp(a[over]).sum()))
        assert ss[s] * np.exp(sl[s]) == pytest.approx((sa[over] * np.exp(a[over])).sum())


def test_disjoint_pairs_are_all_pairs_once():
    u, t = disjoint_pairs(4)
    assert u.size == 3**4 - 2**4
    assert np.all(u & t == 0) and np.all(t != 0)
    assert len(set(zip(u.tolist(), t.tolist(), strict=True))) == u.size


def test_parent_set_table_counts_and_bound():
    score = make_score("bge", 5, seed=0)
    table = ParentSetTable.build(score, 2)
    assert table.counts.tolist() == [1 + 4 + 6] * 5
    bits = (table.masks[:, :, None] >> np.arange(5)) & 1
    assert bits.sum(axis=2).max() <= 2
    # the required edge 0 -> 1: sets of node 1 without 0 score -inf
    real = table.masks[1] >= 0
    lacks = real & ((table.masks[1] & 1) == 0)
    assert np.all(np.isneginf(table.scores[1][lacks]))
    assert np.all(np.isfinite(table.scores[1][real & ~lacks]))
