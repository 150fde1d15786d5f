"""Tabular MDPs: value iteration batched over theories against plain loops, its gradient, Boltzmann
policies and trajectory sampling."""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.theories.reward import (
    Demonstrations,
    HumanModel,
    Preferences,
    TabularMDP,
    boltzmann_policy,
    demonstration_log_likelihood,
    sample_trajectories,
    trajectory_features,
)


def _mdp(seed: int = 0, sa_features: bool = False, **kw) -> TabularMDP:
    rng = np.random.default_rng(seed)
    p = rng.random((3, 2, 3)) ** 3 + 0.01
    phi = rng.normal(size=(3, 2, 2) if sa_features else (3, 2))
    return TabularMDP(p / p.sum(axis=2, keepdims=True), phi, **kw)


def brute_force_q(mdp: TabularMDP, w: np.ndarray, sweeps: int) -> np.ndarray:
    """Bellman backups, one state and action at a time."""
    s_n, a_n = mdp.n_states, mdp.n_actions
    phi = mdp.features
    q = np.zeros((s_n, a_n))
    for _ in range(sweeps):
        new = np.zeros((s_n, a_n))
        for s in range(s_n):
            for a in range(a_n):
                r = w @ (phi[s, a] if phi.ndim == 3 else phi[s])
                new[s, a] = r + mdp.gamma * sum(mdp.transitions[s, a, t] * q[t].max() for t in range(s_n))
        q = new
    return q


@pytest.mark.parametrize("sa_features", [False, True])
def test_value_iteration_matches_loops_discounted(sa_features):
    mdp = _mdp(1, sa_features, gamma=0.9)
    w = np.random.default_rng(2).normal(size=(4, 2)) * 3
    q = mdp.q_values(w, tol=1e-12)
    for t in range(4):
        np.testing.assert_allclose(q[t], brute_force_q(mdp, w[t], 400), atol=1e-10)


def test_value_iteration_matches_loops_finite_horizon():
    mdp = _mdp(3, True, gamma=1.0, horizon=4)
    w = np.random.default_rng(4).normal(size=(3, 2))
    q = mdp.q_values(w)
    for t in range(3):
        np.testing.assert_allclose(q[t], brute_force_q(mdp, w[t], 4), atol=1e-12)


@pytest.mark.parametrize("kw", [{"gamma": 0.85}, {"gamma": 0.9, "horizon": 5}])
def test_q_gradient_matches_finite_differences(kw):
    mdp = _mdp(5, True, **kw)
    w = np.random.default_rng(6).normal(size=(3, 2))
    q, g = mdp.q_values_and_grad(w, tol=1e-13)
    np.testing.assert_allclose(q, mdp.q_values(w, tol=1e-13), atol=1e-11)
    h = 1e-6
    for j in range(2):
        e = np.zeros(2)
        e[j] = h
        fd = (mdp.q_values(w + e, tol=1e-13) - mdp.q_values(w - e, tol=1e-13)) / (2 * h)
        np.testing.assert_allclose(g[..., j], fd, atol=1e-6)


def test_boltzmann_policy():
    q = np.array([[[1.0, 2.0, 2.0], [0.0, -1.0, 5.0]]])
    p = boltzmann_policy(q, 0.7)
    want = np.exp(0.7 * q) / np.exp(0.7 * q).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(p, want, rtol=1e-12)
    np.testing.assert_allclose(boltzmann_policy(q, np.inf), [[[0, 0.5, 0.5], [0, 0, 1]]])
    np.testing.assert_allclose(boltzmann_policy(q, 0.0), 1 / 3)
    assert np.isfinite(boltzmann_policy(q * 1e6, 1e6)).all()


def test_sampled_transitions_follow_policy_and_dynamics():
    mdp = _mdp(7, gamma=0.9)
    policy = np.array([[0.3, 0.7], [0.9, 0.1], [0.5, 0.5]])
    states, actions = sample_trajectories(mdp, policy, np.array([0.2, 0.3, 0.5]), 3000, 6, rng=8)
    assert states.shape == (3000, 7) and actions.shape == (3000, 6)
    s, a, s2 = states[:, :-1].ravel(), actions.ravel(), states[:, 1:].ravel()
    for st in range(3):  # action frequencies within 5 standard errors of the policy
        at = a[s == st]
        p_hat = np.mean(at == 1)
        se = np.sqrt(policy[st, 1] * (1 - policy[st, 1]) / at.size)
        assert abs(p_hat - policy[st, 1]) < 5 * se
    for st in range(3):  # next-state frequencies within 5 standard errors of the transitions
        for ac in range(2):
            nxt = s2[(s == st) & (a == ac)]
            p = mdp.transitions[st, ac]
            freq = np.bincount(nxt, minlength=3) / nxt.size
            assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / nxt.size) + 1e-12)
    p0 = np.bincount(states[:, 0], minlength=3) / 3000
    assert np.all(np.abs(p0 - [0.2, 0.3, 0.5]) < 5 * np.sqrt(np.array([0.16, 0.21, 0.25]) / 3000))


def test_trajectory_features_are_discounted_sums():
    mdp = _mdp(9, True, gamma=0.8)
    states, actions = sample_trajectories(mdp, np.full((3, 2), 0.5), 0, 4, 5, rng=1)
    got = trajectory_features(mdp, states, actions)
    for i in range(4):
        want = sum(0.8**t * mdp.features[states[i, t], actions[i, t]] for t in range(5))
        np.testing.assert_allclose(got[i], want, rtol=1e-12)


def test_preferences_between_trajectories_compare_their_returns():
    mdp = _mdp(12, True, gamma=0.9)
    a_states, a_actions = sample_trajectories(mdp, np.full((3, 2), 0.5), 0, 3, 4, rng=2)
    b_states, b_actions = sample_trajectories(mdp, np.full((3, 2), 0.5), 1, 3, 4, rng=3)
    steps = mdp.features[a_states[:, :4], a_actions], mdp.features[b_states[:, :4], b_actions]  # (3, 4, f)
    prefs = Preferences.from_trajectories(*steps, [0, 1, 0], discount=0.9)
    np.testing.assert_allclose(prefs.left, trajectory_features(mdp, a_states, a_actions), rtol=1e-12)
    np.testing.assert_allclose(prefs.right, trajectory_features(mdp, b_states, b_actions), rtol=1e-12)


def test_boltzmann_demonstrator_prefers_its_own_reward():
    mdp = _mdp(10, True, gamma=0.9)
    w_true = np.array([1.0, -1.0])
    policy = boltzmann_policy(mdp.q_values(w_true[None])[0], 2.0)
    states, actions = sample_trajectories(mdp, policy, 0, 50, 10, rng=11)
    demos = Demonstrations.from_trajectories(mdp, states, actions)
    assert len(demos) == 500
    ll = demonstration_log_likelihood(np.array([w_true, -w_true, [0.0, 0.0]]), demos, HumanModel(2.0))
    assert ll[0] > ll[2] > ll[1]
    assert ll[2] == pytest.approx(500 * np.log(0.5))


def test_mdp_validation_names_the_field():
    p = np.full((2, 1, 2), 0.5)
    with pytest.raises(ValueError, match="transitions"):
        TabularMDP(np.full((2, 1, 2), 0.4), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="features"):
        TabularMDP(p, np.zeros((3, 1)))
    with pytest.raises(ValueError, match="gamma"):
        TabularMDP(p, np.zeros((2, 1)), gamma=1.0)
    with pytest.raises(ValueError, match="horizon"):
        TabularMDP(p, np.zeros((2, 1)), gamma=1.0, horizon=0)
    with pytest.raises(ValueError, match="w: expected shape"):
        TabularMDP(p, np.zeros((2, 1))).q_values(np.zeros((1, 2)))
    with pytest.raises(RuntimeError, match="max_iter"):
        _mdp(0, gamma=0.99).q_values(np.ones((1, 2)), max_iter=3)
    caller = np.full((2, 1, 2), 0.5)
    TabularMDP(caller, np.zeros((2, 1)))
    caller[0, 0] = [0.25, 0.75]  # the MDP keeps its own read-only copy; the caller's array stays writeable
    with pytest.raises(ValueError, match="policy"):
        sample_trajectories(TabularMDP(p, np.zeros((2, 1))), np.ones((2, 1)) * 0.3, 0, 1, 1)
