"""Discrete causal networks as a TheoryFamily: packing, likelihood against a row-by-row loop, harm against
enumerating the joint, agreement with the exact per-graph harm, and the core guardrail on two Markov
equivalent theories that disagree about harm."""

from __future__ import annotations

import numpy as np
import pytest
from _discrete_reference import brute_force_harm

from bayesguard import Guardrail, Posterior
from bayesguard.datasets import sample_discrete_scm
from bayesguard.theories.causal.discrete import sample_cpts
from bayesguard.theories.causal.discrete_family import DiscreteCausalFamily, discrete_theories_from_graphs
from bayesguard.theories.causal.discrete_harm import DiscreteHarmModel
from bayesguard.theories.causal.family import CausalData
from bayesguard.theories.causal.scores import BDeuScore

NAMES = ("w", "x", "y", "z")
CATS = ((0, 1), ("lo", "mid", "hi"), ("no", "yes"), (0, 1, 2))


@pytest.fixture(scope="module")
def setup():
    scm = sample_discrete_scm(4, 400, expected_edges=4, arities=[2, 3, 2, 3], seed=7)
    score = BDeuScore(scm.data, scm.arities)
    family = DiscreteCausalFamily(NAMES, CATS, ({}, {"w": 1}, {"x": "hi"}), "y == 'yes'")
    other = scm.adj.T.copy()  # the reversed graph (still a DAG)
    graphs = np.concatenate([np.repeat(scm.adj[None], 3, 0), np.repeat(other[None], 2, 0)])
    theories = discrete_theories_from_graphs(family, score, graphs, rng=0)
    return scm, score, family, graphs, theories


def test_pack_unpack_round_trip(setup):
    scm, score, family, graphs, theories = setup
    assert theories.shape == (5, family.width)
    groups = family.unpack(theories)
    assert sorted(np.concatenate([idx for idx, _ in groups]).tolist()) == list(range(5))
    for idx, th in groups:
        assert np.array_equal(th.adj, graphs[idx[0]])
        np.testing.assert_array_equal(family.pack(th), theories[idx])
        assert all(np.allclose(c.sum(axis=2), 1.0) for c in th.cpts)
    with pytest.raises(ValueError, match="theories"):
        family.log_prior(theories[:, :-1])


def test_log_likelihood_equals_a_row_by_row_loop(setup):
    scm, _, family, _, theories = setup
    codes = scm.data[:60]
    iv = np.zeros(codes.shape, dtype=bool)
    iv[:20, 1] = True  # these cells of x were set by an experiment: not scored
    got = family.log_likelihood(theories, CausalData(codes.astype(float), iv))
    for t in range(theories.shape[0]):
        (_, th), *_ = family.unpack(theories[t])
        want = 0.0
        for r in range(codes.shape[0]):
            for j in range(4):
                if iv[r, j]:
                    continue
                parents = np.flatnonzero(th.adj[:, j])
                row = (
                    np.ravel_multi_index(tuple(codes[r, parents]), scm.arities[parents])
                    if parents.size
                    else 0
                )
                want += np.log(th.cpts[j][0, row, codes[r, j]])
        assert got[t] == pytest.approx(want, rel=1e-12)


def test_harm_prob_equals_enumerating_the_joint(setup):
    """Theories 3-4 (the reversed graph) have z as a root; in theories 0-2 (x -> w -> z) the context z,
    seen before acting, descends from both w and x, so those actions are refused there (not "do nothing")."""
    scm, _, family, _, theories = setup
    harm = family.harm_prob(theories[3:], {"z": 2})
    nothing = family.harm_prob(theories, {"z": 2}, action=0)
    for t in range(theories.shape[0]):
        (_, th), *_ = family.unpack(theories[t])
        cpts = [c[0] for c in th.cpts]
        assert nothing[t] == pytest.approx(brute_force_harm(cpts, th.adj, scm.arities, {}, 2, 1, [3], [2]))
        for k, do in enumerate(({}, {0: 1}, {1: 2})):
            if t >= 3:
                assert harm[t - 3, k] == pytest.approx(
                    brute_force_harm(cpts, th.adj, scm.arities, do, 2, 1, [3], [2])
                )
    with pytest.raises(
        ValueError, match=r"'z' is observed before acting but descends from 'w'.*actions\[1\]"
    ):
        family.harm_prob(theories, {"z": 2})
    assert family.harm_prob(theories[3:], {"z": 2}, action=2).shape == (2,)


def test_averaging_sampled_theories_gives_the_exact_graph_harm(setup):
    """The mean of P(H | do(a), x, theta) over Dirichlet draws approaches the exact per-graph harm when the
    context carries no information about the parameters (no context here)."""
    scm, score, family, _, _ = setup
    theories = family.pack(sample_cpts(score, scm.adj, 20_000, rng=3))
    per = family.harm_prob(theories)
    exact = DiscreteHarmModel(family.spec, score, scm.adj[None]).harm({})[0]
    se = per.std(axis=0) / np.sqrt(per.shape[0])
    assert np.all(np.abs(per.mean(axis=0) - exact) < 4 * se + 1e-12)


def test_core_guardrail_rejects_when_an_equivalent_theory_predicts_harm():
    rng = np.random.default_rng(5)
    a = (rng.random(1000) < 0.2).astype(int)
    h = (rng.random(1000) < np.where(a == 1, 0.6, 0.05)).astype(int)
    codes = np.c_[a, h]
    score = BDeuScore(codes, np.array([2, 2]))
    family = DiscreteCausalFamily(("A", "H"), ((0, 1), ("ok", "bad")), ({}, {"A": 1}), "H == 'bad'")
    graphs = np.zeros((2, 2, 2), dtype=bool)
    graphs[0, 0, 1] = True  # A -> H
    graphs[1, 1, 0] = True  # H -> A
    theories = discrete_theories_from_graphs(family, score, np.repeat(graphs, 50, axis=0), rng=0)
    loglik = family.log_likelihood(theories, codes)
    assert abs(np.median(loglik[:50]) - np.median(loglik[50:])) < 5  # both explain the data
    harm = family.harm_prob(theories)
    assert harm[:50, 1].min() > 0.4 and harm[50:, 1].max() < 0.4  # but disagree about do(A = 1)
    post = Posterior.from_samples(theories, family.name)
    guard = Guardrail(family, post, "cautious", threshold=0.35, alpha=0.001)
    v = guard.check(None, 1)
    assert v.decision == "REJECT" and "P(H | A)" in v.witness_theory
    assert guard.check(None, 0).decision == "ALLOW"


def test_family_errors_name_the_field(setup):
    _, score, family, _, theories = setup
    with pytest.raises(ValueError, match="max_parents"):
        DiscreteCausalFamily(NAMES, CATS, ({},), "y == 'yes'", max_parents=4)
    with pytest.raises(ValueError, match="harm"):
        DiscreteCausalFamily(NAMES, CATS, ({},), "y > 1")
    with pytest.raises(ValueError, match=r"actions\[0\]"):
        DiscreteCausalFamily(NAMES, CATS, ({"x": "huge"},), "y == 'yes'")
    with pytest.raises(ValueError, match="context"):
        family.harm_prob(theories, {"q": 1})
    with pytest.raises(ValueError, match="data.values"):
        family.log_likelihood(theories, np.full((5, 4), 7))
    small = DiscreteCausalFamily(NAMES, CATS, ({},), "y == 'yes'", max_parents=1)
    full = np.zeros((1, 4, 4), dtype=bool)
    full[0, 0, 2] = full[0, 1, 2] = True
    with pytest.raises(ValueError, match="max_parents"):
        discrete_theories_from_graphs(small, score, full)
