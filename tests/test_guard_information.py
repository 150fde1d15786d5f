"""Uncertainty split and expected information gain against direct computations."""

from __future__ import annotations

import numpy as np
from scipy import integrate, stats

from bayesguard.guard.explain import directed_paths, explain_paths
from bayesguard.marginal.information import binary_entropy, gaussian_eig, uncertainty_split


def test_uncertainty_split():
    w = np.array([0.5, 0.5])
    agree = np.array([[0.3], [0.3]])
    total, epi, ale = uncertainty_split(w, agree)
    assert epi[0] < 1e-12 and np.isclose(total[0], ale[0]) and np.isclose(total[0], binary_entropy(0.3))
    split = np.array([[0.0], [1.0]])  # deterministic theories that disagree: all of it is epistemic
    total, epi, ale = uncertainty_split(w, split)
    assert np.isclose(total[0], 1.0) and np.isclose(epi[0], 1.0) and ale[0] == 0.0


def test_gaussian_eig_matches_quadrature_in_one_dimension():
    w = np.array([0.3, 0.7])
    mean = np.array([[0.0], [1.5]])
    var = np.array([1.0, 0.5])
    cov = var[:, None, None] * np.ones((2, 1, 1))

    def integrand(y, t):
        p_t = stats.norm.pdf(y, mean[t, 0], np.sqrt(var[t]))
        mix = sum(w[s] * stats.norm.pdf(y, mean[s, 0], np.sqrt(var[s])) for s in range(2))
        return p_t * np.log2(p_t / mix)

    exact = sum(w[t] * integrate.quad(integrand, -12, 12, args=(t,))[0] for t in range(2))
    est = gaussian_eig(w, mean, cov, n_samples=20_000, rng=0)
    assert abs(est - exact) < 0.01, (est, exact)
    far = gaussian_eig(w, np.array([[0.0], [100.0]]), cov, n_samples=200, rng=0)
    assert np.isclose(far, -(w * np.log2(w)).sum(), atol=1e-6)  # one draw identifies the theory
    assert gaussian_eig(w, np.zeros((2, 1)), np.ones((2, 1, 1)), rng=0) < 1e-12


def test_directed_paths_and_explanation():
    adj = np.zeros((4, 4), dtype=bool)
    adj[0, 1] = adj[1, 3] = adj[0, 2] = adj[2, 3] = adj[0, 3] = True
    paths = directed_paths(adj, 0, 3)
    assert paths[0] == [0, 3] and sorted(paths[1:]) == [[0, 1, 3], [0, 2, 3]]
    assert directed_paths(adj, 3, 0) == []
    probs = np.full((4, 4), 0.25)
    text = explain_paths(adj, ["v", "t", "f", "p"], ["v"], "p", probs, limit=1)
    assert text == "v -(0.25)-> p"
    assert "no directed path p -> v" in explain_paths(adj, ["v", "t", "f", "p"], ["p"], "v", probs)
