"""A context seen before acting is used by abduction: the noise is conditioned on it in the unmutilated
model, then the action replaces the intervened equations and the same noise is pushed through.

Linear-Gaussian theories are checked against simulating the SCM (brute-force binning of pre-action worlds,
and likelihood weighting), independent of the closed forms; where no context variable descends from an
intervened one the answer must equal the old "condition the mutilated model" query. Discrete networks
refuse the pairs (graph, action) whose context descends from the action, and only those.
"""

from __future__ import annotations

import numpy as np
import pytest
from _discrete_reference import brute_force_harm
from scipy.stats import norm

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.graphs.dag import random_dag_er, transitive_closure
from bayesguard.guard.causal_guard import CausalGuard
from bayesguard.guard.verdict import Decision
from bayesguard.posterior import Posterior
from bayesguard.theories.causal.discrete import posterior_mean_cpts
from bayesguard.theories.causal.discrete_harm import DiscreteHarmModel
from bayesguard.theories.causal.graph_family import CausalFamily
from bayesguard.theories.causal.harm import HarmSpec
from bayesguard.theories.causal.harm_model import GaussianHarmModel
from bayesguard.theories.causal.linear_gaussian import (
    LinearGaussianTheories,
    intervened_moments,
    interventional_gaussian,
    prob_above,
    sample_parameters,
)
from bayesguard.theories.causal.scores import BDeuScore, BGeScore


# ------------------------------------------------------------------------------------------ simulation
def topological(adj: np.ndarray) -> list[int]:
    d, order = adj.shape[0], []
    while len(order) < d:
        for j in range(d):
            if j not in order and all(i in order for i in np.flatnonzero(adj[:, j])):
                order.append(j)
    return order


def counterfactual_samples(
    th: LinearGaussianTheories, k: int, context: dict[int, float], do: dict[int, float], n: int, rng
) -> tuple[np.ndarray, np.ndarray]:
    """Likelihood weighting of theory ``k``: draw the noise of the free nodes, solve each context node's
    equation for its noise (so the pre-action world shows exactly the context) and weight by that noise's
    density; then replay the same noise with the intervened equations replaced.

    Returns the post-action worlds ``(n, d)`` and normalised weights ``(n,)``.
    """
    d = th.d
    sd = np.sqrt(th.noise_var[k])
    order = topological(th.adj[k])
    e = rng.standard_normal((n, d)) * sd
    x = np.zeros((n, d))
    logw = np.zeros(n)
    for j in order:  # the pre-action world, conditioned on the context
        mean = th.intercept[k, j] + x @ th.weights[k, :, j]
        if j in context:
            x[:, j] = context[j]
            e[:, j] = context[j] - mean
            logw += norm.logpdf(e[:, j], scale=sd[j])
        else:
            x[:, j] = mean + e[:, j]
    post = np.zeros((n, d))
    for j in order:  # the same noise after do()
        post[:, j] = do[j] if j in do else th.intercept[k, j] + post @ th.weights[k, :, j] + e[:, j]
    w = np.exp(logw - logw.max())
    return post, w / w.sum()


def chain_theory() -> LinearGaussianTheories:
    """a -> x -> h and a -> h; the context x is a child of the action variable a."""
    adj = np.zeros((1, 3, 3), dtype=bool)
    w = np.zeros((1, 3, 3))
    for (i, j), b in {(0, 1): 1.5, (1, 2): 1.0, (0, 2): -2.0}.items():
        adj[0, i, j], w[0, i, j] = True, b
    return LinearGaussianTheories(
        adj, w, np.array([[0.0, 0.5, 0.2]]), np.array([[1.0, 0.25, 0.49]]), ("a", "x", "h")
    )


def test_descendant_context_matches_binned_simulation_of_the_scm():
    """Keep simulated pre-action worlds whose x falls in a narrow bin, act with the same noise, count harm."""
    th = chain_theory()
    x0, t, width = 2.0, 1.0, 0.02
    spec = HarmSpec(th.names, f"h > {t}", ({}, {"a": 0.0}, {"a": 1.5}), ("x",))
    model = GaussianHarmModel(spec, th)
    got = model.harm({"x": x0})[0]
    # the harm is monotone in x (Gaussian with a fixed conditional variance), so the bin average lies
    # between its values at the bin's edges: that span bounds the bin's bias
    bias = np.abs(model.harm({"x": x0 + width})[0] - model.harm({"x": x0 - width})[0])

    rng = np.random.default_rng(0)
    n = 4_000_000
    e = rng.standard_normal((n, 3)) * np.sqrt(th.noise_var[0])
    c, b = th.intercept[0], th.weights[0]
    a = c[0] + e[:, 0]
    x = c[1] + b[0, 1] * a + e[:, 1]
    h = c[2] + b[1, 2] * x + b[0, 2] * a + e[:, 2]
    keep = np.abs(x - x0) < width
    assert keep.sum() > 20_000
    for k, act in enumerate(spec.actions):
        if act:
            a2 = act["a"]
            x2 = c[1] + b[0, 1] * a2 + e[keep, 1]
            h2 = c[2] + b[1, 2] * x2 + b[0, 2] * a2 + e[keep, 2]
        else:
            h2 = h[keep]
        p = (h2 > t).mean()
        se = np.sqrt(max(p * (1 - p), 1e-4) / keep.sum())
        assert abs(p - got[k]) < 4 * se + bias[k], (k, p, got[k], se, bias[k])
    # the old query (x as if observed after acting) is far off for do(a = 0): the test tells them apart
    post = GaussianHarmModel(spec, th, evidence_time="post").harm({"x": x0})[0]
    h2 = c[2] + b[1, 2] * (c[1] + e[keep, 1]) + e[keep, 2]
    assert abs((h2 > t).mean() - post[1]) > 0.3
    assert post[0] == pytest.approx(got[0], abs=1e-12)  # do nothing: the two readings agree


def test_two_contexts_match_likelihood_weighting_for_a_batch_of_theories():
    """z -> a, z -> x, a -> x, x -> h, a -> h, z -> h with context (z root, x a child of a)."""
    rng = np.random.default_rng(1)
    n_th = 3
    edges = [(0, 1), (0, 2), (1, 2), (2, 3), (1, 3), (0, 3)]
    adj = np.zeros((n_th, 4, 4), dtype=bool)
    w = np.zeros((n_th, 4, 4))
    for i, j in edges:
        adj[:, i, j] = True
        w[:, i, j] = rng.uniform(0.5, 1.5, n_th) * rng.choice([-1, 1], n_th)
    th = LinearGaussianTheories(
        adj, w, rng.normal(size=(n_th, 4)), rng.uniform(0.3, 1.2, (n_th, 4)), ("z", "a", "x", "h")
    )
    spec = HarmSpec(th.names, "h > 0.5", ({}, {"a": -1.0}, {"a": 2.0}), ("z", "x"))
    ctx = {"z": 0.4, "x": 1.1}
    got = GaussianHarmModel(spec, th).harm(ctx)  # (n, A)
    for k, act in enumerate(spec.actions):
        mean, var = interventional_gaussian(th, "h", do=act, evidence=ctx)
        np.testing.assert_allclose(got[:, k], prob_above(mean, var, 0.5), atol=1e-12)
    for i in range(n_th):
        for k, act in enumerate(spec.actions):
            post, wt = counterfactual_samples(
                th, i, {0: 0.4, 2: 1.1}, {1: act["a"]} if act else {}, 400_000, rng
            )
            f = (post[:, 3] > 0.5).astype(float)
            p = wt @ f
            se = np.sqrt(np.sum(wt**2 * (f - p) ** 2))
            assert abs(p - got[i, k]) < 4 * se + 1e-4, (i, k, p, got[i, k], se)
    # the cached lookups agree with one another
    xs = np.array([[0.4, 1.1], [-0.3, 0.2]])
    batch = GaussianHarmModel(spec, th).harm_batch(xs)
    np.testing.assert_allclose(batch[0], got, atol=1e-12)
    pairs = GaussianHarmModel(spec, th).harm_pairs(np.array([2, 0]), xs)
    np.testing.assert_allclose(pairs, batch[[0, 1], [2, 0]], atol=1e-12)


def test_non_descendant_context_equals_conditioning_the_mutilated_model():
    """Where no context variable descends from an intervened one, abduction gives the old answer to float
    precision; where one does, it differs."""
    rng = np.random.default_rng(2)
    names = ("x0", "x1", "x2", "x3", "x4")
    scm = sample_linear_gaussian_scm(5, 300, 5, seed=3)
    adj = np.stack([random_dag_er(5, 4, rng) for _ in range(80)])
    th = sample_parameters(BGeScore(scm.data), adj, rng, names)
    spec = HarmSpec(names, "x4 > 0.2", ({}, {"x0": 1.0}, {"x3": -0.5, "x0": 0.3}), ("x1", "x2"))
    ctx = {"x1": 0.3, "x2": -0.7}
    pre = GaussianHarmModel(spec, th).harm(ctx)
    post = GaussianHarmModel(spec, th, evidence_time="post").harm(ctx)
    closure = transitive_closure(adj)
    n_same = n_diff = 0
    for k, act in enumerate(spec.actions):
        do_idx = [names.index(v) for v in act]
        desc = np.zeros(len(adj), dtype=bool)
        for a in do_idx:
            desc |= closure[:, a, 1] | closure[:, a, 2]
        np.testing.assert_allclose(pre[~desc, k], post[~desc, k], rtol=0, atol=1e-10)
        m_pre, v_pre = interventional_gaussian(th, "x4", do=act, evidence=ctx)
        m_post, v_post = interventional_gaussian(th, "x4", do=act, evidence=ctx, evidence_time="post")
        np.testing.assert_allclose(m_pre[~desc], m_post[~desc], rtol=0, atol=1e-10)
        np.testing.assert_allclose(v_pre[~desc], v_post[~desc], rtol=0, atol=1e-10)
        n_same += int((~desc).sum())
        if desc.any():
            n_diff += int(desc.sum())
            assert np.abs(m_pre[desc] - m_post[desc]).max() > 1e-3
    assert n_same > 50 and n_diff > 20


def test_intervened_moments_equal_the_explicit_inverse():
    rng = np.random.default_rng(4)
    scm = sample_linear_gaussian_scm(4, 200, 4, seed=5)
    th = sample_parameters(BGeScore(scm.data), np.stack([random_dag_er(4, 3, rng) for _ in range(10)]), rng)
    mask = np.array([False, True, False, True])
    value = np.array([0.0, 2.0, 0.0, -1.0])
    b = th.weights * (~mask)[None, None, :]
    c = np.where(mask[None], value[None], th.intercept)
    var = th.noise_var * (~mask)[None]
    inv = np.linalg.inv(np.eye(4)[None] - np.swapaxes(b, 1, 2))
    mean, cov = intervened_moments(th, mask, value)
    np.testing.assert_allclose(mean, np.einsum("nij,nj->ni", inv, c), atol=1e-10)
    np.testing.assert_allclose(cov, np.einsum("nij,nj,nkj->nik", inv, var, inv), atol=1e-10)
    rows = np.array([2, 0])
    m2, c2 = intervened_moments(th, mask, value, rows)
    np.testing.assert_allclose(m2, mean[:, rows], atol=1e-12)
    np.testing.assert_allclose(c2, cov[:, rows[:, None], rows[None]], atol=1e-12)
    with pytest.raises(ValueError, match="evidence_time"):
        interventional_gaussian(th, 0, evidence={1: 0.0}, evidence_time="later")


# ------------------------------------------------------------------------------------------ discrete
NAMES = ("a", "m", "x", "h")
CATS = ((0, 1), (0, 1), ("lo", "hi"), ("ok", "bad"))
ACTIONS = ({}, {"a": 1}, {"m": 0})


def discrete_graphs() -> np.ndarray:
    g = np.zeros((2, 4, 4), dtype=bool)
    for i, j in [(0, 1), (1, 2), (2, 3), (0, 3)]:  # a -> m -> x: the context x descends from a and m
        g[0, i, j] = True
    for i, j in [(2, 0), (0, 3), (2, 3), (1, 3)]:  # x -> a: x is a root, m only reaches h
        g[1, i, j] = True
    return g


@pytest.fixture(scope="module")
def discrete():
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 2, (300, 4))
    score = BDeuScore(codes, np.array([2, 2, 2, 2]))
    spec = HarmSpec(NAMES, "h == 'bad'", ACTIONS, ("x",), categories=CATS)
    return codes, score, spec


def test_discrete_harm_refuses_only_the_pairs_whose_context_descends_from_the_action(discrete):
    _, score, spec = discrete
    graphs = discrete_graphs()[[0, 1, 0]]
    model = DiscreteHarmModel(spec, score, graphs)
    u0, u1 = model.inverse[0], model.inverse[1]
    assert model.refused[:, u0].tolist() == [False, True, True] and not model.refused[:, u1].any()
    assert np.isnan(model.table[1:, u0]).all() and np.isfinite(model.table[:, u1]).all()
    msg = (
        r"context: 'x' is observed before acting but descends from 'a', which actions\[1\] \(do\(a=1\)\) "
        r"sets \(path a -> m -> x\).*counterfactual.*response-function"
    )
    with pytest.raises(ValueError, match=msg):
        model.harm({"x": "hi"})
    with pytest.raises(ValueError, match=msg):
        model.harm_batch(np.array([[0.0], [1.0]]))
    with pytest.raises(
        ValueError, match=r"descends from 'm', which actions\[2\] \(do\(m=0\)\) sets \(path m -> x\)"
    ):
        model.harm_pairs([0], [[1.0]], actions=[2])
    # "do nothing" still works for every graph, and every action for the graph without a path to x
    nothing = model.harm({"x": "hi"}, actions=[0])[:, 0]
    np.testing.assert_allclose(model.harm_batch(np.array([[1.0]]), actions=[0])[0, :, 0], nothing)
    free = model.harm_pairs([1, 1], [[0.0], [1.0]])
    for g in range(3):
        cpts = posterior_mean_cpts(score, graphs[g])
        assert nothing[g] == pytest.approx(
            brute_force_harm(cpts, graphs[g], score.arities, {}, 3, 1, [2], [1])
        )
    cpts = posterior_mean_cpts(score, graphs[1])
    for k, act in enumerate(spec.actions):
        do = {spec.index(v): int(c) for v, c in act.items()}
        for b, xc in enumerate((0, 1)):
            want = brute_force_harm(cpts, graphs[1], score.arities, do, 3, 1, [2], [xc])
            assert free[b, k] == pytest.approx(want, abs=1e-12)
    # without a context nothing is refused
    bare = DiscreteHarmModel(HarmSpec(NAMES, "h == 'bad'", ACTIONS, categories=CATS), score, graphs)
    assert np.isfinite(bare.harm({})).all()


def test_discrete_family_refuses_with_the_reason_and_keeps_do_nothing(discrete):
    codes, _, spec = discrete
    family = CausalFamily(spec, codes.astype(float))
    theories = family.as_theories(np.repeat(discrete_graphs(), 3, axis=0))
    bare = CausalFamily(HarmSpec(NAMES, "h == 'bad'", ACTIONS, categories=CATS), codes.astype(float))
    with pytest.raises(
        ValueError, match=r"'x' is observed before acting but descends from 'a'.*path a -> m -> x"
    ):
        family.harm_prob(theories, {"x": "hi"})
    with pytest.raises(ValueError, match=r"descends from 'm', which actions\[2\]"):
        family.harm_prob(theories, {"x": "hi"}, action=2)
    assert np.isfinite(family.harm_prob(theories, {"x": "hi"}, action=0)).all()
    assert family.harm_prob(theories[3:], {"x": "hi"}).shape == (3, 3)  # x is a root there
    assert np.isfinite(bare.harm_prob(theories)).all()  # no context: nothing to refuse


def test_discrete_guard_fails_closed_with_the_reason(discrete):
    codes, _, spec = discrete
    posterior = Posterior.from_samples(np.repeat(discrete_graphs(), 5, axis=0))
    guard = CausalGuard(spec, codes.astype(float), posterior, n_theories=10)
    v = guard.check({"x": "hi"}, 1)
    assert v.decision is Decision.REJECT
    assert "failing closed" in v.reason and "'x' is observed before acting but descends from 'a'" in v.reason
