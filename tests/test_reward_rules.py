"""Reward rules: each stated guarantee on random batches, against brute-force reference formulas."""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.guard.reward_rules import (
    RewardRule,
    RewardRuleConfig,
    apply_reward_rule,
    broil_rule,
    cvar,
    cvar_rule,
    lcb_rule,
    mean_rule,
    quantilize,
    quantilizer_distribution,
    quantilizer_rule,
    regret_harm,
    sample_options,
    worst_case_rule,
)
from bayesguard.guard.rules import cautious_rule

SEEDS = range(20)


def random_instance(seed, batch=64, n_theories=6, n_options=5, ties=False, zeros=True):
    """A batch of posteriors (some atoms with zero mass) and rewards (integers when ``ties``)."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(n_theories, 0.7), size=batch)
    if zeros:
        probs[rng.random(probs.shape) < 0.2] = 0.0
        probs[:, 0] += 1e-3  # keep at least one atom
        probs /= probs.sum(axis=1, keepdims=True)
    rewards = rng.normal(size=(batch, n_theories, n_options))
    if ties:
        rewards = np.round(2 * rewards)
    return rewards, probs


def brute_members(probs, alpha):
    """M_alpha by its definition (theories tied at the cut all included, as ties='worst')."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    members, mass = [], 0.0
    for j in order:
        mass += probs[j]
        if probs[j] >= alpha * mass * (1 - 1e-12):
            members.append(j)
    cut = min(probs[j] for j in members) if members else probs[order[0]]
    return [t for t in range(len(probs)) if probs[t] >= cut]


def brute_cvar(r, p, q):
    """Rockafellar-Uryasev: CVaR_q (lower tail of a reward) = max_v v - E[(v - r)_+] / q, at an atom."""
    return max(v - np.sum(p * np.maximum(v - r, 0.0)) / q for v in r)


def test_parse_and_config_errors():
    assert RewardRule.parse("worst-case") is RewardRule.WORST_CASE
    assert RewardRuleConfig("cvar").rule is RewardRule.CVAR
    with pytest.raises(ValueError, match="rule: unknown reward rule 'best'"):
        RewardRule.parse("best")
    with pytest.raises(ValueError, match="kappa"):
        RewardRuleConfig("lcb", kappa=-1.0)
    with pytest.raises(ValueError, match="q"):
        RewardRuleConfig("cvar", q=0.0)
    with pytest.raises(ValueError, match="ties"):
        RewardRuleConfig("worst-case", ties="best")


def test_input_validation():
    r, p = random_instance(0, batch=2)
    with pytest.raises(ValueError, match="rewards: expected shape"):
        apply_reward_rule("mean", r[:, :-1], p)
    with pytest.raises(ValueError, match="probs: posterior probabilities must sum to 1"):
        apply_reward_rule("mean", r, 0.5 * p)
    with pytest.raises(ValueError, match="base: the quantilizer needs"):
        apply_reward_rule("quantilizer", r, p)
    with pytest.raises(ValueError, match=r"base: expected shape \(\.\.\., 5\)"):
        apply_reward_rule("quantilizer", r, p, base=np.ones(4) / 4)
    with pytest.raises(ValueError, match="tie_rank"):
        apply_reward_rule(RewardRuleConfig("worst-case", ties="random"), r, p)


def test_mean_and_lcb_against_loops():
    r, p = random_instance(1, batch=8)
    for b in range(len(p)):
        mean = [sum(p[b, t] * r[b, t, a] for t in range(r.shape[1])) for a in range(r.shape[2])]
        sd = [
            np.sqrt(sum(p[b, t] * (r[b, t, a] - mean[a]) ** 2 for t in range(r.shape[1])))
            for a in range(r.shape[2])
        ]
        np.testing.assert_allclose(mean_rule(r[b], p[b]).value, mean, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            lcb_rule(r[b], p[b], 1.5).value, np.array(mean) - 1.5 * np.array(sd), rtol=1e-12, atol=1e-12
        )


@pytest.mark.parametrize("kappa", [0.0, 0.5, 1.0, 2.0, 3.0])
def test_lcb_guarantees(kappa):
    for seed in SEEDS:
        r, p = random_instance(seed)
        mean = mean_rule(r, p).value
        lcb = lcb_rule(r, p, kappa).value
        assert np.all(lcb <= mean + 1e-12)
        # Cantelli: posterior mass strictly below the LCB is at most 1 / (1 + kappa^2)
        below = (p[:, :, None] * (r < lcb[:, None, :] - 1e-12)).sum(axis=1)
        assert np.all(below <= 1.0 / (1.0 + kappa**2) + 1e-12)


@pytest.mark.parametrize("alpha", [1e-4, 0.05, 0.2, 0.5, 1.0])
def test_worst_case_is_brute_force_min_over_members(alpha):
    for seed in SEEDS:
        r, p = random_instance(seed, batch=16, ties=True)
        p = np.round(p, 2)  # create ties in probability
        p[:, 0] += 1.0 - p.sum(axis=1)
        p = np.clip(p, 0, None)
        p /= p.sum(axis=1, keepdims=True)
        res = worst_case_rule(r, p, alpha)
        for b in range(len(p)):
            members = brute_members(p[b], alpha)
            np.testing.assert_array_equal(res.value[b], r[b, members].min(axis=0))
            assert set(res.witness[b]) <= set(members)
            np.testing.assert_array_equal(r[b, res.witness[b], np.arange(r.shape[2])], res.value[b])
            # the value lower-bounds every member's reward, hence their posterior-weighted mean
            assert np.all(res.value[b] <= r[b, members] + 0.0)
            pm = p[b, members] / p[b, members].sum()
            assert np.all(res.value[b] <= pm @ r[b, members] + 1e-12)


def test_worst_case_with_every_theory_is_below_the_mean():
    for seed in SEEDS:
        r, p = random_instance(seed, zeros=False)
        alpha = 0.5 * p.min()  # every atom is in M_alpha
        assert np.all(worst_case_rule(r, p, alpha).value <= mean_rule(r, p).value + 1e-12)


def test_ville_guarantee_of_the_worst_case_rule():
    """Coins with 5 candidate biases, uniform prior: the true theory leaves M_alpha at some step with
    frequency at most alpha / p(t*) = 0.25 (Ville), and while it is in, the value bounds its reward."""
    rng = np.random.default_rng(0)
    bias = np.array([0.2, 0.35, 0.5, 0.65, 0.8])
    true, alpha, runs, steps = 2, 0.05, 2000, 100
    flips = rng.random((runs, steps)) < bias[true]
    loglik = np.where(flips[..., None], np.log(bias), np.log1p(-bias))  # (runs, steps, theories)
    logpost = np.cumsum(loglik, axis=1)
    post = np.exp(logpost - logpost.max(axis=-1, keepdims=True))
    post /= post.sum(axis=-1, keepdims=True)
    rewards = np.broadcast_to(rng.normal(size=(5, 3)), (runs, steps, 5, 3))
    res = worst_case_rule(rewards, post, alpha)
    from bayesguard.guard.rules import cautious_members

    inside = cautious_members(post, alpha, ties="worst")[..., true]
    left = (~inside).any(axis=1).mean()
    bound = alpha / (1 / 5)
    assert left <= bound + 5 * np.sqrt(bound * (1 - bound) / runs)
    assert np.all(res.value[inside] <= rewards[inside][:, true, :])


@pytest.mark.parametrize("q", [0.03, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_cvar_against_rockafellar_uryasev(q):
    r, p = random_instance(3, batch=20, ties=True)
    value, var_theory = cvar(r, p, q)
    for b in range(len(p)):
        for a in range(r.shape[2]):
            assert value[b, a] == pytest.approx(brute_cvar(r[b, :, a], p[b], q), abs=1e-10)
            v = r[b, var_theory[b, a], a]  # the value at risk: mass below < q <= mass at or below
            assert p[b][r[b, :, a] < v].sum() < q + 1e-12
            assert p[b][r[b, :, a] <= v].sum() >= q - 1e-12
            assert p[b, var_theory[b, a]] > 0


def test_cvar_guarantees():
    for seed in SEEDS:
        r, p = random_instance(seed, ties=seed % 2 == 0)
        mean = mean_rule(r, p).value
        np.testing.assert_allclose(cvar(r, p, 1.0)[0], mean, atol=1e-12)
        previous = np.full(mean.shape, -np.inf)
        for q in (1e-3, 0.05, 0.2, 0.5, 0.8, 1.0):
            value = cvar_rule(r, p, q).value
            assert np.all(value <= mean + 1e-12)
            assert np.all(value >= previous - 1e-12)  # non-decreasing in q
            previous = value
        # q below the smallest positive atom: the minimum over theories with positive mass
        q_small = 0.999 * np.where(p > 0, p, np.inf).min(axis=1)
        support_min = np.where(p[:, :, None] > 0, r, np.inf).min(axis=1)
        small = np.stack([cvar(r[b], p[b], q_small[b])[0] for b in range(len(p))])
        np.testing.assert_allclose(small, support_min, atol=1e-9)


@pytest.mark.parametrize("q", [0.1, 0.3, 0.7])
def test_cvar_is_the_worst_reweighting_with_density_at_most_one_over_q(q):
    rng = np.random.default_rng(4)
    r, p = random_instance(4, batch=200)
    value = cvar(r, p, q)[0]
    v = rng.random((50, *p.shape)) ** rng.uniform(0.02, 2.0, size=(50, 1, 1))
    ok = (p * v).sum(axis=-1) >= q  # Q = p v / E_p[v] then satisfies Q <= p / q
    Q = p * v / (p * v).sum(axis=-1, keepdims=True)
    assert np.all(Q[ok] <= p[None].repeat(50, 0)[ok] / q + 1e-12)
    expected = np.einsum("sbt,bta->sba", Q, r)
    assert ok.sum() > 1000
    assert np.all(expected[ok] >= np.broadcast_to(value, expected.shape)[ok] - 1e-12)


def test_broil_blend_between_cvar_and_mean():
    for seed in SEEDS:
        r, p = random_instance(seed)
        mean, tail = mean_rule(r, p).value, cvar(r, p, 0.2)[0]
        np.testing.assert_allclose(broil_rule(r, p, 0.2, 1.0).value, mean, atol=1e-12)
        np.testing.assert_allclose(broil_rule(r, p, 0.2, 0.0).value, tail, atol=1e-12)
        mid = broil_rule(r, p, 0.2, 0.3).value
        assert np.all((tail - 1e-12 <= mid) & (mid <= mean + 1e-12))


def brute_quantilizer(value, base, q):
    order = sorted(range(len(value)), key=lambda i: (-value[i], i))
    out, filled = np.zeros(len(value)), 0.0
    for i in order:
        take = min(base[i], max(q - filled, 0.0))
        out[i] = take / q
        filled += base[i]
    return out


@pytest.mark.parametrize("q", [0.01, 0.1, 0.37, 0.9, 1.0])
def test_quantilizer_distribution_and_cost_bound(q):
    rng = np.random.default_rng(5)
    for seed in SEEDS:
        r, p = random_instance(seed, n_options=8, ties=True)
        base = rng.dirichlet(np.full(8, 0.5), size=len(p))
        base[rng.random(base.shape) < 0.2] = 0.0
        base[:, -1] += 1e-3
        base /= base.sum(axis=1, keepdims=True)
        value = mean_rule(r, p).value
        dist = quantilizer_distribution(value, base, q)
        for b in range(4):
            np.testing.assert_allclose(dist[b], brute_quantilizer(value[b], base[b], q), atol=1e-12)
        np.testing.assert_allclose(dist.sum(axis=-1), 1.0, atol=1e-12)
        assert np.all((dist >= 0) & (dist <= base / q * (1 + 1e-12)))
        cost = rng.exponential(size=(100, *base.shape)) * (rng.random((100, *base.shape)) < 0.5)
        assert np.all((dist * cost).sum(-1) <= (base * cost).sum(-1) / q * (1 + 1e-12) + 1e-15)
        # it never does worse than the base distribution on the reward it ranks by
        assert np.all((dist * value).sum(-1) >= (base * value).sum(-1) - 1e-12)
        if q == 1.0:
            np.testing.assert_allclose(dist, base, atol=1e-15)


def test_quantilizer_cost_bound_is_tight():
    """All cost on the boundary-free top option: E_q[c] = E_base[c] / q exactly."""
    value, base = np.array([3.0, 1.0, 2.0]), np.array([0.2, 0.5, 0.3])
    dist = quantilizer_distribution(value, base, 0.2)
    np.testing.assert_allclose(dist, [1.0, 0.0, 0.0])
    dist = quantilizer_distribution(value, base, 0.4)  # option 2 is at the boundary with mass 0.2
    np.testing.assert_allclose(dist, [0.5, 0.0, 0.5])


def test_quantilizer_sampling_frequencies():
    value = np.array([[0.3, 2.0, 1.0, -1.0, 2.0], [1.0, 0.0, 0.5, 0.2, 0.1]])
    base = np.array([[0.1, 0.15, 0.3, 0.25, 0.2], [0.0, 0.4, 0.1, 0.3, 0.2]])
    n = 40_000
    dist = quantilizer_distribution(value, base, 0.6)
    draws = quantilize(value, base, 0.6, rng=np.random.default_rng(6), size=n)
    assert draws.shape == (n, 2)
    for b in range(2):
        freq = np.bincount(draws[:, b], minlength=5) / n
        se = np.sqrt(dist[b] * (1 - dist[b]) / n)
        assert np.all(np.abs(freq - dist[b]) <= 5 * se + 1e-12)
        assert np.all(freq[dist[b] == 0] == 0)


def test_sample_options_never_draws_zero_mass():
    policy = np.array([0.0, 0.5, 0.0, 0.5, 0.0])
    draws = sample_options(policy, rng=0, size=5000)
    assert set(np.unique(draws)) == {1, 3}


def test_choice_ties_go_to_the_lowest_index():
    r = np.array([[1.0, 2.0, 2.0, 0.0], [1.0, 2.0, 2.0, 0.0]])
    p = np.array([0.5, 0.5])
    for rule in ("mean", "lcb", "worst-case", "cvar", "broil"):
        res = apply_reward_rule(rule, r, p)
        assert int(res.choice) == 1
        np.testing.assert_array_equal(res.policy, [0, 1, 0, 0])


def test_dispatcher_matches_functions_and_batches():
    r, p = random_instance(7, batch=6)
    r, p = r.reshape(2, 3, *r.shape[1:]), p.reshape(2, 3, -1)
    base = np.full(r.shape[-1], 1 / r.shape[-1])
    cases = {
        RewardRuleConfig("mean"): mean_rule(r, p),
        RewardRuleConfig("lcb", kappa=2.0): lcb_rule(r, p, 2.0),
        RewardRuleConfig("worst-case", alpha=0.1): worst_case_rule(r, p, 0.1),
        RewardRuleConfig("cvar", q=0.3): cvar_rule(r, p, 0.3),
        RewardRuleConfig("broil", q=0.3, lam=0.4): broil_rule(r, p, 0.3, 0.4),
    }
    for cfg, expected in cases.items():
        got = apply_reward_rule(cfg, r, p)
        assert got.value.shape == got.witness.shape == got.policy.shape == (2, 3, r.shape[-1])
        assert got.choice.shape == (2, 3)
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-12)
        np.testing.assert_array_equal(got.choice, np.argmax(got.value, axis=-1))
    q = apply_reward_rule(RewardRuleConfig("quantilizer", q=0.5), r, p, base=base, rng=1)
    direct = quantilizer_rule(r, p, np.broadcast_to(base, (2, 3, r.shape[-1])), 0.5, rng=1)
    np.testing.assert_allclose(q.policy, direct.policy)
    np.testing.assert_array_equal(q.choice, direct.choice)
    assert np.all(q.policy[np.arange(2)[:, None], np.arange(3), q.choice] > 0)


def test_regret_harm_feeds_the_harm_rules():
    r, p = random_instance(8, batch=10, ties=True)
    harm = regret_harm(r, tol=0.5)
    for b in range(len(p)):
        for t in range(r.shape[1]):
            for a in range(r.shape[2]):
                assert harm[b, t, a] == float(max(r[b, t]) - r[b, t, a] > 0.5)
    # the cautious harm rule over regret: 0 exactly when the option is near-optimal under every member
    est = cautious_rule(p, harm, 0.05).estimate
    for b in range(len(p)):
        members = brute_members(p[b], 0.05)
        near = np.all(r[b, members].max(axis=1, keepdims=True) - r[b, members] <= 0.5, axis=0)
        np.testing.assert_array_equal(est[b] == 0.0, near)
    with pytest.raises(ValueError, match="tol"):
        regret_harm(r, tol=-1.0)
