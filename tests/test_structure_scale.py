"""Scale benchmark pieces: the AUROC of edge marginals, one problem against its exact truth end to end,
one run at scale, and the agreement of independent runs."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from bayesguard.experiments.structure_scale import (  # noqa: E402
    _agreement,
    edge_auroc,
    large_task,
    score_cost,
    truth_task,
)
from bayesguard.experiments.structure_truth import make_problem, max_parents  # noqa: E402


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


def test_truth_task_measures_each_sampler_against_the_dp_of_its_target():
    rows, cost = truth_task((6, "ER-1", 200, "bge", 0, ("mcmc", "order-mcmc"), 3.0))
    assert [r["sampler"] for r in rows] == ["mcmc", "order-mcmc"]
    assert [r["target"] for r in rows] == ["structure-modular", "order-modular"]
    for r in rows:
        assert 0.0 <= r["edge_max_error"] <= 1.0 and r["edge_rmse"] <= r["edge_max_error"]
        assert r["truth_note"].startswith("exact")
    # both chains at d = 6 after 3 s are close to the exact marginals (loose: a smoke check of the wiring)
    assert max(r["edge_max_error"] for r in rows) < 0.3
    assert {c["prior"] for c in cost} == {"order-modular", "structure-modular"}
    assert all(c["normalisation_error"] < 1e-9 for c in cost)


def test_bdeu_problem_and_bound():
    p = make_problem(5, "ER-2", 100, "bdeu", 1)
    assert p.score.d == 5 and p.truth.shape == (5, 5)
    assert max_parents(15) is None and max_parents(20) == 3
    with pytest.raises(ValueError, match="graph"):
        make_problem(5, "ER-3", 100, "bge", 0)
    with pytest.raises(ValueError, match="kind"):
        make_problem(5, "ER-1", 100, "gauss", 0)


def test_large_task_and_run_agreement():
    a = large_task((8, 0, 0, "order-mcmc", 2.0))
    b = large_task((8, 0, 1, "order-mcmc", 2.0))
    assert np.isnan(a["edge_max_error"]) and "no exact" in a["truth_note"]
    assert a["empty_graph_shd"] == a["true_edges"]
    assert (
        a["true_parents_outside_candidates"] == 0 and a["true_nodes_over_bound"] == 0
    )  # d = 8: all, no bound
    rows = _agreement([a, b])
    gap = float(np.abs(a["marginals"] - b["marginals"]).max()) if "marginals" in a else None
    assert all("marginals" not in r for r in rows)
    assert rows[0]["run_disagreement"] == rows[1]["run_disagreement"]
    assert gap is None or rows[0]["run_disagreement"] == pytest.approx(gap)


def test_score_cost_reports_positive_times():
    c = score_cost(10, n_families=500)
    assert c["us_per_score"] > 0 and c["us_per_cached"] > 0
