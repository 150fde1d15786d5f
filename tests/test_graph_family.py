"""CausalFamily: causal theories as graphs (parameters integrated out) or people's full SCMs, checked
against independent computations: the joint Gaussian density, sampling the intervened SCM, summing a
discrete network's joint by brute force, and the Bayesian update of the marginal likelihood."""

from __future__ import annotations

import numpy as np
import pytest
from _discrete_reference import brute_force_harm
from scipy.stats import multivariate_normal

from bayesguard.datasets import sample_discrete_scm, sample_linear_gaussian_scm
from bayesguard.theories.causal.discrete import posterior_mean_cpts
from bayesguard.theories.causal.graph_family import CausalFamily
from bayesguard.theories.causal.harm import HarmSpec
from bayesguard.theories.causal.human import HumanTheory
from bayesguard.theories.causal.linear_gaussian import log_likelihood
from bayesguard.theories.causal.observations import CausalData
from bayesguard.theories.causal.structure import StructureScore

NAMES = ("a", "b", "c", "h")


@pytest.fixture(scope="module")
def lg():
    scm = sample_linear_gaussian_scm(4, 300, 4, seed=11, names=list(NAMES))
    spec = HarmSpec(NAMES, "h > 1.5", ({}, {"a": 2.0}, {"b": -2.0}))
    return scm, CausalFamily(spec, scm.data, n_param_draws=8)


def test_theories_encode_graphs_and_points(lg):
    scm, fam = lg
    th = fam.as_theories(np.broadcast_to(scm.adj, (3, 4, 4)))
    assert th.shape == (3, 17) and th.dtype == np.int8 and (fam.point_ids(th) == -1).all()
    np.testing.assert_array_equal(fam.adjacency(th)[0], scm.adj)
    assert len(set(fam.keys(th).tolist())) == 1
    with pytest.raises(ValueError, match="theories"):
        fam.as_theories(np.ones((1, 4, 4)))  # self-loops: a cycle
    with pytest.raises(ValueError, match="theories"):
        fam.as_theories(np.zeros((1, 5)))


def test_log_score_is_the_structure_posterior_and_likelihood_its_update(lg):
    scm, fam = lg
    graphs = np.stack([scm.adj, scm.adj.T, np.zeros((4, 4), bool)])
    np.testing.assert_allclose(fam.log_score(graphs), fam.score.log_posterior(graphs))
    # p(D2 | G, D1) = p(D1, D2 | G) / p(D1 | G): the change of the score when D2 joins
    first = CausalFamily(fam.spec, scm.data[:200])
    both = StructureScore(type(fam.local)(scm.data), fam.prior).log_posterior(graphs)
    np.testing.assert_allclose(first.log_score(graphs) + first.log_likelihood(graphs, scm.data[200:]), both)


def test_a_persons_full_scm_is_scored_by_its_own_gaussian_density(lg):
    scm, fam = lg
    person = HumanTheory(["a -> h"], "p", coefficients={("a", "h"): 0.5}, intercept={"h": 0.1})
    fam2 = CausalFamily(fam.spec, scm.data)
    th = fam2.human(person)
    assert fam2.point_ids(th)[0] == 0 and "p" not in fam2.describe(th[0]) and "0.50*a" in fam2.describe(th[0])
    pt = fam2.points[0]
    inv = np.linalg.inv(np.eye(4) - pt.weights[0].T)
    cov = inv @ np.diag(pt.noise_var[0]) @ inv.T
    density = multivariate_normal(inv @ pt.intercept[0], cov).logpdf(scm.data).sum()
    assert fam2.log_score(th)[0] == pytest.approx(fam2.prior.log_prior(pt.adj)[0] + density, rel=1e-10)


def test_point_harm_matches_sampling_the_intervened_scm(lg):
    scm, fam = lg
    fam2 = CausalFamily(fam.spec, scm.data)
    person = HumanTheory(["a -> b", "b -> h"], "p", coefficients={("a", "b"): 0.9, ("b", "h"): 0.8})
    th = fam2.human(person)
    harm = fam2.harm_prob(th)[0]
    rng = np.random.default_rng(0)
    n = 200_000
    for k, act in enumerate(fam.spec.actions):
        a = np.full(n, act["a"]) if "a" in act else rng.standard_normal(n)
        b = np.full(n, act["b"]) if "b" in act else 0.9 * a + rng.standard_normal(n)
        h = 0.8 * b + rng.standard_normal(n)
        p = (h > 1.5).mean()
        assert abs(p - harm[k]) < 5 * np.sqrt(max(harm[k] * (1 - harm[k]), 1e-6) / n)


def test_intervened_cells_do_not_score_their_own_mechanism(lg):
    scm, fam = lg
    x = scm.data.copy()
    iv = np.zeros_like(x, dtype=bool)
    iv[:50, 0] = True
    moved = x.copy()
    moved[:50, 0] = 100.0  # set from outside: a's own mechanism must not see it
    f1 = CausalFamily(fam.spec, CausalData(x, iv))
    f2 = CausalFamily(fam.spec, CausalData(moved, iv))
    assert f1.local.local(0, 0) == pytest.approx(f2.local.local(0, 0), rel=1e-12)
    assert f1.local.local(3, 0b0001) != pytest.approx(f2.local.local(3, 0b0001))  # a child does


def test_graph_harm_is_the_average_over_its_parameter_draws(lg):
    from bayesguard.theories.causal.graph_harm import parameter_draws
    from bayesguard.theories.causal.linear_gaussian import interventional_gaussian, prob_above

    scm, fam = lg
    th = fam.as_theories(scm.adj[None])
    draws = parameter_draws(fam, th)
    want = [prob_above(*interventional_gaussian(draws, "h", do=act), 1.5).mean() for act in fam.spec.actions]
    np.testing.assert_allclose(fam.harm_prob(th)[0], want, rtol=1e-10)
    assert np.isfinite(log_likelihood(draws, scm.data)).all()


def test_discrete_graph_harm_equals_enumerating_the_joint():
    scm = sample_discrete_scm(4, 400, 3, arities=[2, 3, 2, 2], seed=5, names=["x", "w", "h", "z"])
    cats = tuple(tuple(range(r)) for r in scm.arities)
    spec = HarmSpec(("x", "w", "h", "z"), "h == 1", ({}, {"x": 1}, {"w": 2}), context=("z",), categories=cats)
    fam = CausalFamily(spec, scm.data)
    rng = np.random.default_rng(0)
    graphs = np.zeros((3, 4, 4), dtype=bool)
    graphs[0, 0, 2] = graphs[0, 1, 2] = True  # x -> h <- w, z a root
    graphs[1, 3, 2] = graphs[1, 0, 1] = True  # z -> h, x -> w
    graphs[2, 1, 0] = True  # w -> x, h alone
    harm = fam.harm_prob(graphs, {"z": 1})
    for g in range(3):
        cpts = posterior_mean_cpts(fam.local, graphs[g])
        for k, do in enumerate(({}, {0: 1}, {1: 2})):
            want = brute_force_harm(cpts, graphs[g], scm.arities, do, 2, 1, [3], [1])
            assert harm[g, k] == pytest.approx(want, rel=1e-10)
    assert rng is not None
    with pytest.raises(ValueError, match="drop the coefficients"):
        fam.human(HumanTheory(["x -> h"], coefficients={("x", "h"): 1.0}))


def test_data_errors_name_the_field(lg):
    scm, fam = lg
    with pytest.raises(ValueError, match="data: expected shape"):
        CausalFamily(fam.spec, scm.data[:, :3])
    with pytest.raises(TypeError, match="spec"):
        CausalFamily("h > 1", scm.data)
    with pytest.raises(ValueError, match="n_param_draws"):
        CausalFamily(fam.spec, scm.data, n_param_draws=0)
