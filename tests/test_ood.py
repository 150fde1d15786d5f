"""Out-of-distribution scores against brute-force formulas written here: BALD (and zero when theories
agree), disagreement, the variance ratio, the Laplace variance, Mahalanobis (against SciPy) with exact
leave-one-out refits, kNN; the calibrated threshold's false-alarm rate on fresh in-distribution samples
within standard errors of the nominal rate; AUROC against a pairwise count and its DeLong error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis

from bayesguard.marginal.ood import (
    KNNScore,
    MahalanobisScore,
    auroc,
    bald,
    conformal_threshold,
    disagreement,
    laplace_variance,
    variance_ratio,
)


def _entropy_bits(p):
    return -sum(q * math.log2(q) for q in p if q > 0)


@pytest.mark.parametrize("seed", range(3))
def test_bald_matches_the_brute_force_formula(seed):
    rng = np.random.default_rng(seed)
    n_t, n_c, k = 5, 4, 3
    probs = rng.dirichlet(np.ones(k) * 0.7, size=(n_t, n_c))
    w = rng.random(n_t)
    got = bald(probs, w)
    wn = w / w.sum()
    for c in range(n_c):
        mix = [sum(wn[t] * probs[t, c, y] for t in range(n_t)) for y in range(k)]
        want = _entropy_bits(mix) - sum(wn[t] * _entropy_bits(probs[t, c]) for t in range(n_t))
        assert got[c] == pytest.approx(want, abs=1e-12)
    binary = rng.random((n_t, n_c))  # a binary event: P(y = 1)
    stacked = np.stack([1 - binary, binary], axis=-1)
    np.testing.assert_allclose(bald(binary, w), bald(stacked, w), atol=1e-14)
    assert np.all(got <= _entropy_bits(wn) + 1e-12)  # I(Y; T) <= H(T)


def test_bald_is_zero_exactly_when_the_theories_agree():
    rng = np.random.default_rng(4)
    one = rng.dirichlet(np.ones(4), size=6)  # (n_contexts, n_classes)
    same = np.repeat(one[None], 7, axis=0)
    np.testing.assert_allclose(bald(same, rng.random(7)), 0.0, atol=1e-12)
    differ = same.copy()
    differ[0, 2] = np.roll(differ[0, 2], 1)
    out = bald(differ)
    assert out[2] > 1e-3 and np.allclose(np.delete(out, 2), 0.0, atol=1e-12)
    ignored = bald(differ, np.r_[0.0, np.ones(6)])  # a theory with no weight does not count
    np.testing.assert_allclose(ignored, 0.0, atol=1e-12)


def test_disagreement_and_variance_ratio_match_brute_force():
    rng = np.random.default_rng(5)
    means, var = rng.normal(size=(6, 5)), rng.uniform(0.5, 2.0, size=(6, 5))
    w = rng.random(6)
    wn = w / w.sum()
    for c in range(5):
        mu = sum(wn[t] * means[t, c] for t in range(6))
        epi = sum(wn[t] * (means[t, c] - mu) ** 2 for t in range(6))
        alea = sum(wn[t] * var[t, c] for t in range(6))
        assert disagreement(means, w)[c] == pytest.approx(epi)
        assert variance_ratio(means, var, w)[c] == pytest.approx(epi / alea)
    preds = rng.random((4, 3, 2))  # members' probability vectors: variance summed over the classes
    want = ((preds - preds.mean(axis=0)) ** 2).mean(axis=0).sum(axis=1)
    np.testing.assert_allclose(disagreement(preds), want)
    np.testing.assert_allclose(variance_ratio(np.ones((3, 4))), 0.0)


def test_laplace_variance_is_the_variance_of_the_linear_predictor():
    rng = np.random.default_rng(6)
    a = rng.normal(size=(4, 4))
    cov, phi = a @ a.T, rng.normal(size=(3, 4))
    got = laplace_variance(phi, cov)
    for c in range(3):
        want = sum(phi[c, i] * cov[i, j] * phi[c, j] for i in range(4) for j in range(4))
        assert got[c] == pytest.approx(want)
    draws = rng.multivariate_normal(np.zeros(4), cov, size=200_000) @ phi.T  # Monte Carlo: within 5 se
    se = got * math.sqrt(2 / 200_000)
    assert np.all(np.abs(draws.var(axis=0) - got) < 5 * se)
    with pytest.raises(ValueError, match="cov: expected shape"):
        laplace_variance(phi, cov[:3, :3])


@pytest.fixture(scope="module")
def gaussian():
    rng = np.random.default_rng(7)
    mix = np.array([[1.0, 0.4, 0.0], [0.0, 1.0, -0.5], [0.0, 0.0, 0.3]])
    return rng.normal(size=(150, 3)) @ mix + np.array([1.0, -2.0, 0.5]), mix


def test_mahalanobis_matches_scipy_with_and_without_shrinkage(gaussian):
    x, _ = gaussian
    q = np.random.default_rng(8).normal(size=(5, 3))
    s = np.cov(x, rowvar=False)
    for lam in (0.0, 0.3):
        shrunk = (1 - lam) * s + lam * np.trace(s) / 3 * np.eye(3)
        want = [mahalanobis(v, x.mean(axis=0), np.linalg.inv(shrunk)) for v in q]
        np.testing.assert_allclose(MahalanobisScore(lam).fit(x).score(q), want, rtol=1e-10)
    far = MahalanobisScore().fit(x).score(np.array([[-1e300, 0.0, 0.0]]))
    assert np.isfinite(far[0]) and far[0] > 1e299  # no overflow: the distance itself


def test_leave_one_out_scores_are_exact_refits(gaussian):
    x, _ = gaussian
    for lam in (0.0, 0.2):
        loo = MahalanobisScore(lam).fit(x).loo_scores(chunk=7)
        for i in (0, 17, 149):
            rest = np.delete(x, i, axis=0)
            assert loo[i] == pytest.approx(MahalanobisScore(lam).fit(rest).score(x[i])[0], rel=1e-9)
    knn = KNNScore(3).fit(x)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    dist = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    np.testing.assert_allclose(knn.loo_scores(), np.sort(dist, axis=1)[:, 2], rtol=1e-10)
    q = np.random.default_rng(9).normal(size=(4, 3))
    zq = (q - x.mean(axis=0)) / x.std(axis=0)
    want = np.sort(np.sqrt(((zq[:, None] - z[None]) ** 2).sum(-1)), axis=1)[:, 2]
    np.testing.assert_allclose(knn.score(q), want, rtol=1e-10)


def test_conformal_threshold_rank():
    s = np.arange(1.0, 21.0)  # 20 scores
    assert conformal_threshold(s, 0.1) == 19.0  # ceil(0.9 * 21) = 19th smallest
    assert conformal_threshold(s, 0.5) == 11.0
    assert conformal_threshold(s, 0.01) == math.inf  # 20 scores cannot promise 1%


@pytest.mark.parametrize("score", [MahalanobisScore(0.05), KNNScore(5)], ids=["mahalanobis", "knn"])
def test_calibrated_threshold_false_alarm_rate_is_the_nominal_rate(gaussian, score):
    """Over fresh training sets, the rate at which new in-distribution contexts exceed the threshold is
    ``fpr`` within 4 standard errors (plus the conformal quantile's 1/(n+1) granularity)."""
    _, mix = gaussian
    rng = np.random.default_rng(10)
    fpr, n, reps, m = 0.1, 200, 40, 1000
    rates = []
    for _ in range(reps):
        score.fit(rng.normal(size=(n, 3)) @ mix)
        score.calibrate(fpr)
        rates.append(score.is_out(rng.normal(size=(m, 3)) @ mix).mean())
    mean, se = float(np.mean(rates)), float(np.std(rates, ddof=1) / math.sqrt(reps))
    assert abs(mean - fpr) < 4 * se + 1 / (n + 1), (mean, se)
    if isinstance(score, KNNScore):  # the kNN rate is at most fpr (conservative by construction)
        assert mean < fpr + 4 * se


def test_auroc_matches_the_pairwise_count_and_delong_se():
    rng = np.random.default_rng(11)
    neg = np.round(rng.normal(size=40), 1)  # rounding makes ties
    pos = np.round(rng.normal(0.8, 1.0, size=25), 1)
    psi = (pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None])  # (n_pos, n_neg)
    got = auroc(neg, pos)
    assert got.value == pytest.approx(psi.mean(), abs=1e-12)
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    want_se = math.sqrt(v10.var(ddof=1) / 25 + v01.var(ddof=1) / 40)
    assert got.se == pytest.approx(want_se, rel=1e-10)
    assert auroc([0.0, 1.0], [2.0, 3.0]).value == 1.0 and auroc([2.0, 3.0], [0.0, 1.0]).value == 0.0
    assert auroc([1.0, 1.0], [1.0]).value == 0.5
    with pytest.raises(ValueError, match="at least one score"):
        auroc([], [1.0])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="probs: expected probability vectors"):
        bald(np.full((2, 3, 2), 0.7))
    with pytest.raises(ValueError, match="weights: expected shape"):
        bald(np.full((2, 3, 2), 0.5), np.ones(3))
    with pytest.raises(ValueError, match="train: expected at least 3 rows"):
        MahalanobisScore().fit(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="x: expected shape"):
        MahalanobisScore().fit(np.random.default_rng(0).normal(size=(10, 2))).score(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="train: expected more than k = 5 rows"):
        KNNScore(5).fit(np.zeros((5, 2)))


def test_bench_ood_writes_raw_summary_and_record(tmp_path):
    import csv
    import json

    from bayesguard.cli import main

    argv = ["bench", "ood", "--seeds", "2", "--shifts", "causal,gridworld", "--n-train", "120"]
    argv += ["--n-test", "60", "--workers", "1", "--no-plots", "--out", str(tmp_path)]
    assert main(argv) == 0
    raw = list(csv.DictReader((tmp_path / "ood_raw.csv").open()))
    summary = list(csv.DictReader((tmp_path / "ood_summary.csv").open()))
    assert {r["shift"] for r in raw} == {"causal", "gridworld"} and {r["seed"] for r in raw} == {"0", "1"}
    assert len(raw) == 2 * len(summary)  # one row per (shift, seed, score)
    assert all(0.0 <= float(r["auroc"]) <= 1.0 for r in raw)
    maha = {r["shift"]: float(r["auroc"]) for r in summary if r["score"] == "mahalanobis"}
    assert maha["causal"] > 0.7 and maha["gridworld"] > 0.9  # a 3-sd shift and an unvisited half
    record = json.loads((tmp_path / "ood_run.json").read_text())
    assert record["seeds"] == [0, 1] and record["config"]["n_train"] == 120
