"""Likelihoods of human feedback against brute-force formulas written out here, one answer at a time."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from bayesguard.theories.reward import (
    Corrections,
    Demonstrations,
    FeedbackData,
    HumanModel,
    Preferences,
    Rankings,
    RationalityPrior,
    TabularMDP,
    answer_probs,
    beta_posterior,
    correction_log_likelihood,
    demonstration_log_likelihood,
    grad_log_likelihood,
    log_likelihood,
    log_likelihood_by_beta,
    preference_log_likelihood,
    ranking_log_likelihood,
)

F = 3


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _prefs(rng: np.random.Generator, m: int, equal: bool = True) -> Preferences:
    return Preferences(
        rng.normal(size=(m, F)), rng.normal(size=(m, F)), rng.integers(0, 3 if equal else 2, m)
    )


def _rankings(rng: np.random.Generator, m: int, n_items: int = 4) -> Rankings:
    order = np.array([rng.permutation(n_items) for _ in range(m)])
    return Rankings(rng.normal(size=(m, n_items, F)), order)


def _corrections(rng: np.random.Generator, m: int, k: int = 3) -> Corrections:
    chosen = rng.permutation(np.resize(np.arange(-1, k), m))  # every kind of answer occurs
    return Corrections(rng.normal(size=(m, k, F)), chosen, chosen != 0)


def _mdp(rng: np.random.Generator) -> TabularMDP:
    p = rng.random((3, 2, 3)) + 0.1
    return TabularMDP(p / p.sum(axis=2, keepdims=True), rng.normal(size=(3, F)), gamma=0.8)


# ------------------------------------------------------------------ brute force, one answer at a time
def bf_preference(w, left, right, y, beta, eps, nu):
    rl, rr = float(w @ left), float(w @ right)
    terms = [math.exp(beta * rl), math.exp(beta * rr), nu * math.exp(beta * (rl + rr) / 2)]
    n_answers = 3 if nu > 0 else 2
    return (1 - eps) * terms[y] / sum(terms) + eps / n_answers


def bf_ranking(w, items, order, beta, eps):
    p = 1.0
    for i in range(len(order)):
        rest = [math.exp(beta * float(w @ items[j])) for j in order[i:]]
        p *= rest[0] / sum(rest)
    return (1 - eps) * p + eps / math.factorial(len(order))


def bf_choice(w, options, chosen, beta, eps):
    e = [math.exp(beta * float(w @ o)) for o in options]
    k = len(options)
    if chosen == -1:  # bare stop: anything but the proposal
        return (1 - eps) * (1 - e[0] / sum(e)) + eps * (k - 1) / k
    return (1 - eps) * e[chosen] / sum(e) + eps / k


def bf_q(mdp, w, sweeps=2000):
    s_n, a_n = mdp.n_states, mdp.n_actions
    q = [[0.0] * a_n for _ in range(s_n)]
    for _ in range(sweeps):
        v = [max(q[s]) for s in range(s_n)]
        q = [
            [
                float(w @ mdp.sa_features[s, a])
                + mdp.gamma * sum(mdp.transitions[s, a, t] * v[t] for t in range(s_n))
                for a in range(a_n)
            ]
            for s in range(s_n)
        ]
    return q


CASES = [(1.0, 0.0, 0.0), (2.5, 0.1, 0.0), (0.7, 0.0, 0.8), (3.0, 0.2, 1.5), (0.0, 0.3, 0.5)]


@pytest.mark.parametrize(("beta", "eps", "nu"), CASES)
def test_preferences_match_brute_force(beta, eps, nu):
    rng = _rng(1)
    prefs = _prefs(rng, 7, equal=nu > 0)
    w = rng.normal(size=(5, F))
    got = preference_log_likelihood(w, prefs, HumanModel(beta, eps, nu))
    want = [
        sum(
            math.log(bf_preference(wt, prefs.left[i], prefs.right[i], prefs.answer[i], beta, eps, nu))
            for i in range(len(prefs))
        )
        for wt in w
    ]
    np.testing.assert_allclose(got, want, rtol=1e-10)


@pytest.mark.parametrize(("beta", "eps", "nu"), CASES)
def test_answer_probs_sum_to_one_and_match(beta, eps, nu):
    rng = _rng(2)
    w, left, right = rng.normal(size=(4, F)), rng.normal(size=(6, F)), rng.normal(size=(6, F))
    p = answer_probs(w, left, right, HumanModel(beta, eps, nu))
    assert p.shape == (4, 6, 3)
    np.testing.assert_allclose(p.sum(axis=2), 1.0, atol=1e-12)
    for t, q, y in itertools.product(range(4), range(6), range(3)):
        want = 0.0 if (y == 2 and nu == 0) else bf_preference(w[t], left[q], right[q], y, beta, eps, nu)
        assert p[t, q, y] == pytest.approx(want, rel=1e-10, abs=1e-300)


def test_preference_limits():
    rng = _rng(3)
    w, left, right = rng.normal(size=(3, F)), rng.normal(size=(5, F)), rng.normal(size=(5, F))
    d = w @ (left - right).T
    # eps = 1: every answer in the answer set is equally likely, whatever the reward
    np.testing.assert_allclose(answer_probs(w, left, right, HumanModel(2.0, 1.0, 0.5)), 1 / 3)
    # beta -> inf: the better option with probability 1 - eps (K - 1) / K; "equal" vanishes
    p = answer_probs(w, left, right, HumanModel(1e7, 0.0, 2.0))
    np.testing.assert_allclose(p[..., 0], (d > 0).astype(float), atol=1e-12)
    p = answer_probs(w, left, right, HumanModel(1e7, 0.3, 0.0))
    np.testing.assert_allclose(p[..., 0], np.where(d > 0, 0.85, 0.15), atol=1e-12)
    # a tie d = 0: left, right, equal in proportion 1 : 1 : nu at any beta
    for beta in (0.1, 1e6):
        q = answer_probs(w, left, left, HumanModel(beta, 0.0, 2.0))
        np.testing.assert_allclose(q, np.broadcast_to([0.25, 0.25, 0.5], q.shape), atol=1e-12)


def test_large_beta_and_features_stay_finite():
    left, right = np.array([[3e3, 0.0]]), np.array([[0.0, 3e3]])
    w = np.array([[1.0, 0.0], [0.0, 1.0]])
    model = HumanModel(1e3, 0.0, 1.0)
    lp = log_likelihood(w, Preferences(left, right, [0]), model)
    # asymptotics: the right answer has log p ~ 0; the wrong one log p ~ -beta |d| = -3e6
    assert lp[0] == pytest.approx(0.0, abs=1e-12)
    assert lp[1] == pytest.approx(-3e6, rel=1e-12)
    g = grad_log_likelihood(w, Preferences(left, right, [0]), model)
    assert np.isfinite(g).all()


@pytest.mark.parametrize(("beta", "eps"), [(1.0, 0.0), (2.0, 0.1), (0.5, 0.4)])
def test_rankings_match_brute_force(beta, eps):
    rng = _rng(4)
    rk = _rankings(rng, 5)
    w = rng.normal(size=(3, F))
    got = ranking_log_likelihood(w, rk, HumanModel(beta, eps))
    want = [sum(math.log(bf_ranking(wt, rk.items[i], rk.order[i], beta, eps)) for i in range(5)) for wt in w]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_plackett_luce_is_a_distribution_over_orders():
    rng = _rng(5)
    items = rng.normal(size=(1, 4, F))
    w = rng.normal(size=(2, F))
    perms = list(itertools.permutations(range(4)))
    total = sum(
        np.exp(ranking_log_likelihood(w, Rankings(items, np.array([p])), HumanModel(1.7, 0.2))) for p in perms
    )
    np.testing.assert_allclose(total, 1.0, atol=1e-12)


@pytest.mark.parametrize(("beta", "eps"), [(1.0, 0.0), (3.0, 0.15)])
def test_corrections_match_brute_force(beta, eps):
    rng = _rng(6)
    corr = _corrections(rng, 9)
    assert (corr.chosen == -1).any() and (corr.chosen == 0).any() and (corr.chosen > 0).any()
    w = rng.normal(size=(4, F))
    got = correction_log_likelihood(w, corr, HumanModel(beta, eps))
    want = [
        sum(math.log(bf_choice(wt, corr.options[i], corr.chosen[i], beta, eps)) for i in range(9)) for wt in w
    ]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_stop_is_the_sum_of_the_corrections():
    rng = _rng(7)
    options = rng.normal(size=(1, 4, F))
    w = rng.normal(size=(3, F))
    model = HumanModel(1.3, 0.1)
    stop = np.exp(correction_log_likelihood(w, Corrections.stops(options, np.array([True])), model))
    each = [
        np.exp(correction_log_likelihood(w, Corrections(options, [j], [j != 0]), model)) for j in range(4)
    ]
    np.testing.assert_allclose(stop, sum(each[1:]), rtol=1e-12)
    np.testing.assert_allclose(sum(each), 1.0, rtol=1e-12)


@pytest.mark.parametrize(("beta", "eps"), [(1.0, 0.0), (4.0, 0.2)])
def test_demonstrations_match_bayesian_irl(beta, eps):
    rng = _rng(8)
    mdp = _mdp(rng)
    demos = Demonstrations(mdp, rng.integers(0, 3, 8), rng.integers(0, 2, 8))
    w = rng.normal(size=(3, F))
    got = demonstration_log_likelihood(w, demos, HumanModel(beta, eps))
    want = []
    for wt in w:
        q = bf_q(mdp, wt)
        total = 0.0
        for s, a in zip(demos.states, demos.actions, strict=True):
            e = [math.exp(beta * x) for x in q[s]]
            total += math.log((1 - eps) * e[a] / sum(e) + eps / 2)
        want.append(total)
    np.testing.assert_allclose(got, want, rtol=1e-8)


def _mixed_data(rng: np.random.Generator) -> FeedbackData:
    return FeedbackData.of(
        _prefs(rng, 4),
        _rankings(rng, 2, 3),
        _corrections(rng, 3),
        Demonstrations(_mdp(rng), [0, 2, 1], [1, 0, 1]),
    )


def test_rationality_prior_is_the_explicit_mixture():
    rng = _rng(9)
    data = _mixed_data(rng)
    w = rng.normal(size=(4, F))
    prior = RationalityPrior([0.3, 1.0, 4.0], [0.2, 0.5, 0.3])
    model = HumanModel(prior, 0.05, 0.7)
    per = [log_likelihood(w, data, HumanModel(b, 0.05, 0.7)) for b in (0.3, 1.0, 4.0)]
    want = np.log(sum(p * np.exp(x) for p, x in zip([0.2, 0.5, 0.3], per, strict=True)))
    np.testing.assert_allclose(log_likelihood(w, data, model), want, rtol=1e-10)
    np.testing.assert_allclose(log_likelihood_by_beta(w, data, model), np.stack(per, axis=1), rtol=1e-10)
    post = beta_posterior(w, data, model)
    np.testing.assert_allclose(
        post,
        np.stack([p * np.exp(x) for p, x in zip([0.2, 0.5, 0.3], per, strict=True)], 1)
        / np.exp(want)[:, None],
        rtol=1e-9,
    )


def test_uncertain_beta_predictive_is_exact_online():
    rng = _rng(10)
    d0, d1 = _prefs(rng, 6), _prefs(rng, 3)
    w = rng.normal(size=(5, F))
    model = HumanModel(RationalityPrior.log_uniform(0.2, 5.0, 5), 0.0, 1.0)
    both = FeedbackData.of(d0, d1)
    online = log_likelihood(w, d0, model) + log_likelihood(w, d1, model, given=d0)
    np.testing.assert_allclose(online, log_likelihood(w, both, model), rtol=1e-10)
    # the answers share one beta: the marginal likelihood does not factorise over batches
    separate = log_likelihood(w, d0, model) + log_likelihood(w, d1, model)
    assert np.max(np.abs(separate - log_likelihood(w, both, model))) > 1e-3
    # the predictive answer probabilities weight each beta by p(beta | w, d0)
    left, right = rng.normal(size=(2, F)), rng.normal(size=(2, F))
    got = answer_probs(w, left, right, model, given=d0)
    post = beta_posterior(w, d0, model)
    want = sum(
        post[:, k, None, None] * answer_probs(w, left, right, HumanModel(b, 0.0, 1.0))
        for k, b in enumerate(model.rationality.betas)
    )
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_online_appends_equal_one_batch():
    rng = _rng(11)
    prefs = _prefs(rng, 5)
    model = HumanModel(1.5, 0.1, 0.4)
    w = rng.normal(size=(3, F))
    data = FeedbackData()
    total = np.zeros(3)
    for i in range(5):
        one = Preferences(prefs.left[i : i + 1], prefs.right[i : i + 1], prefs.answer[i : i + 1])
        total += log_likelihood(w, one, model, given=data)
        data = data.append(one)
    assert data.preferences == prefs and len(data) == 5
    np.testing.assert_allclose(total, log_likelihood(w, prefs, model), rtol=1e-12)


@pytest.mark.parametrize("beta", [1.3, RationalityPrior([0.5, 2.0], [0.4, 0.6])])
def test_gradient_matches_finite_differences(beta):
    rng = _rng(12)
    data = _mixed_data(rng)
    model = HumanModel(beta, 0.1, 0.6)
    w = rng.normal(size=(3, F))
    g = grad_log_likelihood(w, data, model)
    h = 1e-6
    for j in range(F):
        e = np.zeros(F)
        e[j] = h
        fd = (log_likelihood(w + e, data, model) - log_likelihood(w - e, data, model)) / (2 * h)
        np.testing.assert_allclose(g[:, j], fd, rtol=1e-5, atol=1e-6)


def test_validation_names_the_field():
    rng = _rng(13)
    x = rng.normal(size=(2, F))
    with pytest.raises(ValueError, match="Preferences.answer"):
        Preferences(x, x, [0, 3])
    with pytest.raises(ValueError, match="Preferences.right"):
        Preferences(x, x[:1], [0, 1])
    with pytest.raises(ValueError, match="Rankings.order"):
        Rankings(rng.normal(size=(1, 3, F)), [[0, 0, 1]])
    with pytest.raises(ValueError, match="Corrections.stopped"):
        Corrections(rng.normal(size=(2, 3, F)), [0, 2], [True, True])
    with pytest.raises(ValueError, match="Demonstrations.actions"):
        Demonstrations(_mdp(rng), [0, 1], [0, 5])
    with pytest.raises(ValueError, match="eps"):
        HumanModel(1.0, 1.5)
    with pytest.raises(ValueError, match="betas"):
        RationalityPrior([-1.0, 1.0])
    with pytest.raises(ValueError, match="indifference"):
        log_likelihood(np.zeros((1, F)), Preferences(x, x, [2, 0]), HumanModel(1.0))
    with pytest.raises(ValueError, match="w: expected shape"):
        log_likelihood(np.zeros((1, F + 1)), Preferences(x, x, [1, 0]))
    with pytest.raises(ValueError, match="FeedbackData"):
        FeedbackData(
            preferences=Preferences(x, x, [0, 1]), rankings=Rankings(np.zeros((1, 2, F + 1)), [[0, 1]])
        )
    prefs = Preferences(x, x, [0, 1])
    with pytest.raises(ValueError, match="read-only"):
        prefs.left[0, 0] = 1.0
