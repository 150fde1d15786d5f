"""Structure priors, the exact structure posterior, structure MCMC against it, and the comparison measures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.graphs.compare import compare_to_exact, jensen_shannon
from bayesguard.graphs.dag import enumerate_dags, reaches, transitive_closure
from bayesguard.inference.mcmc import split_r_hat, structure_mcmc
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore, exact_structure_posterior


def chain_data(n=100, seed=0):
    """x0 -> x1 -> x2, x0 -> x3 (linear Gaussian)."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=n)
    x1 = 0.9 * x0 + rng.normal(size=n)
    x2 = -0.7 * x1 + rng.normal(size=n)
    x3 = 0.5 * x0 + rng.normal(size=n)
    return np.stack([x0, x1, x2, x3], axis=1)


@pytest.fixture(scope="module")
def problem():
    score = StructureScore(BGeScore(chain_data()))
    return score, exact_structure_posterior(score)


# ---------------------------------------------------------------------------- priors
def test_local_prior_terms_sum_to_the_graph_prior():
    rng = np.random.default_rng(1)
    prior = StructurePrior.make(4, kind="edge-probs", edge_probs=rng.uniform(0.05, 0.95, (4, 4)))
    dags = enumerate_dags(4)
    bits = np.int64(1) << np.arange(4)
    masks = (dags.astype(np.int64) * bits[None, :, None]).sum(axis=1)  # (n, d)
    nodes = np.broadcast_to(np.arange(4), masks.shape)
    by_node = prior.local_many(nodes.ravel(), masks.ravel()).reshape(masks.shape).sum(axis=1)
    # independent: sum over present edges of log(p/(1-p))
    p = np.where(np.eye(4, dtype=bool), 0.5, prior.log_odds)
    expected = np.array([p[g].sum() for g in dags])
    np.testing.assert_allclose(by_node, expected, atol=1e-12)
    np.testing.assert_allclose(prior.log_prior(dags), expected, atol=1e-12)


def test_erdos_renyi_prior_is_edge_count_times_log_odds():
    prior = StructurePrior.make(5, kind="erdos-renyi", expected_edges=2.0)
    rho = 2.0 / 10
    dags = enumerate_dags(5)[:500]
    np.testing.assert_allclose(prior.log_prior(dags), dags.sum(axis=(1, 2)) * math.log(rho / (1 - rho)))


def test_required_and_forbidden_edges_hold_in_the_exact_posterior(problem):
    score, _ = problem
    prior = StructurePrior.make(["a", "b", "c", "d"], required=[("c", "b")], forbidden=[("a", "b"), (1, 0)])
    post = exact_structure_posterior(StructureScore(score.scorer, prior))
    support = post.theories[post.probs > 0]
    assert support[:, 2, 1].all() and not support[:, 0, 1].any() and not support[:, 1, 0].any()
    # a strong safety prior moves the edge marginal towards it
    strong = np.full((4, 4), 0.5)
    strong[3, 2] = 0.999
    weak = exact_structure_posterior(score)
    tilted = exact_structure_posterior(
        StructureScore(score.scorer, StructurePrior.make(4, kind="edge-probs", edge_probs=strong))
    )
    m_weak = weak.probs @ weak.theories[:, 3, 2]
    m_tilted = tilted.probs @ tilted.theories[:, 3, 2]
    assert m_tilted > m_weak + 0.2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"kind": "erdos-renyi"}, "expected_edges"),
        ({"kind": "erdos-renyi", "expected_edges": 7.0}, "expected_edges"),
        ({"kind": "edge-probs"}, "edge_probs"),
        ({"kind": "edge-probs", "edge_probs": np.ones((3, 3))}, "edge_probs"),
        ({"kind": "bogus"}, "kind"),
        ({"required": [("x0", "zz")]}, "required"),
        ({"forbidden": [(0, 0)]}, "forbidden"),
        ({"required": [(0, 1)], "forbidden": [(0, 1)]}, "required/forbidden"),
        ({"required": [(0, 1), (1, 0)]}, "required"),
    ],
)
def test_prior_errors_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        StructurePrior.make(3, **kwargs)


def test_prior_size_must_match_the_data():
    with pytest.raises(ValueError, match="prior"):
        StructureScore(BGeScore(chain_data()), StructurePrior.make(3))


# ---------------------------------------------------------------------------- exact posterior
def test_exact_posterior_is_normalised_and_matches_graph_scores(problem):
    score, post = problem
    assert post.n_theories == 543 and post.kind == "exact"
    assert math.isclose(post.probs.sum(), 1.0)
    # independent path: the cache's whole-graph scores (uniform prior adds a constant)
    raw = score.cache.graph_scores(post.theories)
    p = np.exp(raw - raw.max())
    np.testing.assert_allclose(post.probs, p / p.sum(), rtol=1e-10)
    # the data's skeleton dominates: x0-x1 and x1-x2 adjacent in nearly every probable graph
    adj = post.theories | post.theories.transpose(0, 2, 1)
    assert post.probs @ adj[:, 0, 1] > 0.95 and post.probs @ adj[:, 1, 2] > 0.95


# ---------------------------------------------------------------------------- MCMC
def test_reachability_matches_transitive_closure():
    rng = np.random.default_rng(3)
    dags = enumerate_dags(4)[rng.choice(543, 200)]
    src, dst = rng.integers(0, 4, 200), rng.integers(0, 4, 200)
    closure = transitive_closure(dags)
    expected = closure[np.arange(200), src, dst] | (src == dst)
    np.testing.assert_array_equal(reaches(dags, src, dst), expected)


def test_mcmc_reaches_the_exact_posterior(problem):
    """Stated target: JSD < 0.02 and edge RMSE < 0.03 after 40,000 steps x 4 chains (~3 s here)."""
    score, exact = problem
    run = structure_mcmc(score, n_chains=4, n_steps=40_000, thin=5, seed=0, progress=False)
    m = compare_to_exact(exact, run.posterior())
    assert m["jsd"] < 0.02 and m["edge_rmse"] < 0.03 and m["edge_pearson"] > 0.99
    assert run.max_r_hat < 1.1
    assert run.samples.shape == (4, 4000, 4, 4)
    # bulk ESS of every edge indicator that varies and of the score, from 16,000 kept draws
    ess = run.ess_edges[np.isfinite(run.ess_edges)]
    assert ess.size > 0 and ess.min() > 100 and run.ess_score > 100
    assert run.diagnostics()["min_ess"] == pytest.approx(min(ess.min(), run.ess_score))
    assert not np.any(transitive_closure(run.samples.reshape(-1, 4, 4))[:, np.arange(4), np.arange(4)])


def test_mcmc_respects_hard_constraints(problem):
    score, _ = problem
    prior = StructurePrior.make(4, required=[(3, 0)], forbidden=[(0, 1)])
    s = StructureScore(score.scorer, prior)
    init = np.zeros((4, 4), dtype=bool)
    init[3, 0] = True
    run = structure_mcmc(s, n_chains=2, n_steps=3000, thin=3, seed=1, init=init, progress=False)
    assert run.samples[..., 3, 0].all() and not run.samples[..., 0, 1].any()
    with pytest.raises(ValueError, match="init"):
        structure_mcmc(s, n_chains=2, n_steps=100, progress=False)  # empty graph lacks the required edge


def test_mcmc_time_budget_and_errors(problem):
    score, _ = problem
    run = structure_mcmc(score, n_chains=2, n_steps=10**7, thin=1, time_budget=0.3, progress=False)
    assert run.n_steps < 10**7 and run.seconds < 2.0
    cyclic = np.zeros((4, 4), dtype=bool)
    cyclic[0, 1] = cyclic[1, 0] = True
    with pytest.raises(ValueError, match="init"):
        structure_mcmc(score, init=cyclic, progress=False)
    with pytest.raises(ValueError, match="burn_in"):
        structure_mcmc(score, n_steps=100, burn_in=100, progress=False)


def test_split_r_hat_flags_disagreeing_chains():
    rng = np.random.default_rng(0)
    same = rng.normal(size=(4, 2000))
    apart = same + np.array([0, 0, 3, 3])[:, None]
    assert abs(split_r_hat(same) - 1) < 0.01
    assert split_r_hat(apart) > 1.5


def test_jensen_shannon_bounds():
    p = np.array([0.5, 0.5, 0, 0])
    assert jensen_shannon(p, p) == 0
    assert math.isclose(jensen_shannon(p, p[::-1]), math.log(2))


def test_mcmc_until_cuts_the_run_at_a_time(problem):
    score, exact = problem
    run = structure_mcmc(score, n_chains=2, n_steps=10**7, thin=2, time_budget=1.0, seed=3, progress=False)
    early = run.until(0.3)
    assert early.samples.shape[1] < run.samples.shape[1]
    kept = run.all_seconds[run.all_seconds <= 0.3]
    assert early.samples.shape[1] == kept.size - kept.size // 2
    np.testing.assert_array_equal(early.samples, run.all_samples[:, kept.size // 2 : kept.size])
    assert (
        compare_to_exact(exact, run.posterior())["jsd"]
        <= compare_to_exact(exact, early.posterior())["jsd"] + 0.01
    )
    assert early.ess_edges.shape == (4, 4) and np.isfinite(early.ess_score)
    fixed = structure_mcmc(score, n_chains=2, n_steps=200, burn_in=50, progress=False)
    with pytest.raises(ValueError, match="until"):
        fixed.until(0.1)


def test_from_table_validates_and_names_the_prior(tmp_path):
    import pandas as pd

    frame = pd.DataFrame(chain_data(), columns=["valve", "flow", "pressure", "temp"])
    score = StructureScore.from_table(frame, required=[("valve", "flow")])
    assert score.names == ("valve", "flow", "pressure", "temp")
    post = exact_structure_posterior(score)
    assert post.theories[post.probs > 0][:, 0, 1].all()
    path = tmp_path / "plant.csv"
    frame.assign(temp=1.0).to_csv(path, index=False)
    with pytest.raises(ValueError, match="temp"):
        StructureScore.from_table(path)
    codes = pd.DataFrame({"a": ["on", "off"] * 20, "b": ["hi", "lo", "lo", "hi"] * 10})
    assert StructureScore.from_table(codes, "discrete").d == 2


def test_from_table_counts_unused_categorical_levels_in_the_bdeu_arities():
    import pandas as pd

    from bayesguard.theories.causal.scores import BDeuScore

    a = ["on", "off", "off", "on"] * 10
    b = ["hi", "lo", "lo", "lo"] * 10
    declared = pd.DataFrame({"a": a, "b": pd.Categorical(b, categories=["lo", "mid", "hi"])})
    score = StructureScore.from_table(declared, "discrete")
    assert score.scorer.arities.tolist() == [2, 3]  # "mid" never occurs but is a state of b
    codes = np.c_[[{"off": 0, "on": 1}[x] for x in a], [{"lo": 0, "mid": 1, "hi": 2}[x] for x in b]]
    want = BDeuScore(codes, [2, 3])
    nodes, masks = np.array([0, 0, 1, 1]), np.array([0, 0b10, 0, 0b01])
    np.testing.assert_allclose(
        score.scorer.local_many(nodes, masks), want.local_many(nodes, masks), rtol=1e-13
    )
    # without the unused level (plain strings) b has 2 states and its scores change
    plain = StructureScore.from_table(declared.assign(b=b), "discrete")
    assert plain.scorer.arities.tolist() == [2, 2]
    assert abs(plain.scorer.local(1, 0) - score.scorer.local(1, 0)) > 0.1


def test_mcmc_posterior_measured_against_the_exact_one_is_an_estimate_not_a_bound():
    from bayesguard.graphs.compare import with_measured_error

    scm = sample_linear_gaussian_scm(3, 80, 2, seed=3)
    score = StructureScore(BGeScore(scm.data))
    exact = exact_structure_posterior(score)
    run = structure_mcmc(score, n_chains=4, n_steps=3000, seed=0, progress=False)
    measured = with_measured_error(run.posterior(), exact)
    err = measured.sampler_error
    assert err.known and not err.is_bound and "empirical" in err.how
    # the measured TV is the L1 gap of the pooled frequencies, computed here by counting
    keys = (exact.theories.reshape(exact.n_theories, -1) * (1 << np.arange(9))).sum(1)
    drawn = (run.posterior().theories.reshape(-1, 9) * (1 << np.arange(9))).sum(1)
    freq = np.array([(drawn == k).mean() for k in keys])
    assert err.tv == pytest.approx(0.5 * np.abs(freq - exact.probs).sum(), abs=1e-12)
