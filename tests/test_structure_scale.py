"""Scale benchmark pieces: the AUROC of edge marginals, and one task end to end on a small problem."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from bayesguard.experiments.structure_scale import _task, edge_auroc, score_cost  # noqa: E402


def test_edge_auroc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    for _ in range(20):
        d = 6
        truth = rng.random((d, d)) < 0.3
        np.fill_diagonal(truth, False)
        marg = np.round(rng.random((d, d)), 1)  # ties on purpose
        off = ~np.eye(d, dtype=bool)
        pos, neg = marg[off][truth[off]], marg[off][~truth[off]]
        if pos.size == 0 or neg.size == 0:
            continue
        brute = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
        assert edge_auroc(marg, truth) == pytest.approx(brute)
    assert edge_auroc(truth.astype(float), truth) == 1.0


@pytest.mark.parametrize("sampler", ["mcmc", "gflownet"])
def test_scale_task_runs_and_reports(sampler):
    row = _task(("synthetic", 0, 8, sampler, 1.0, 100))
    assert row["d"] == 8 and row["n_graphs"] > 0
    assert 0.0 <= row["edge_auroc"] <= 1.0 and row["expected_shd"] >= 0
    assert row["seconds"] < 30


def test_score_cost_reports_positive_times():
    c = score_cost(10, n_families=500)
    assert c["us_per_score"] > 0 and c["us_per_cached"] > 0
