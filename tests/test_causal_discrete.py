"""Discrete theories: the Dirichlet posterior of the tables, and variable elimination against brute-force
enumeration of the joint."""

from __future__ import annotations

from itertools import product

import numpy as np
import pytest

from bayesguard.datasets import sample_discrete_scm
from bayesguard.theories.causal.discrete import posterior_mean_cpts, query, sample_cpts
from bayesguard.theories.causal.scores import BDeuScore


@pytest.fixture(scope="module")
def world():
    scm = sample_discrete_scm(4, 400, 4, arities=[2, 3, 2, 3], seed=2)
    return scm, BDeuScore(scm.data, scm.arities)


def brute_force(theories, k, target, do, evidence):
    """P(target | do, evidence) by summing the mutilated joint over every configuration."""
    ar = theories.arities
    out = np.zeros(ar[target])
    for x in product(*(range(r) for r in ar)):
        if any(x[v] != val for v, val in {**do, **evidence}.items()):
            continue
        p = 1.0
        for j in range(theories.d):
            if j in do:
                continue
            parents = np.flatnonzero(theories.adj[:, j])
            c = np.ravel_multi_index(tuple(x[i] for i in parents), ar[parents]) if parents.size else 0
            p *= theories.cpts[j][k, c, x[j]]
        out[x[target]] += p
    return out / out.sum()


def test_variable_elimination_matches_enumeration(world):
    scm, score = world
    theories = sample_cpts(score, scm.adj, 3, rng=0)
    cases = [(3, {}, {}), (3, {0: 1}, {}), (2, {1: 2}, {0: 0}), (0, {}, {3: 1}), (1, {3: 0}, {2: 1})]
    for target, do, ev in cases:
        got = query(theories, target, do, ev)
        for k in range(3):
            np.testing.assert_allclose(got[k], brute_force(theories, k, target, do, ev), atol=1e-12)


def test_dirichlet_draws_centre_on_the_posterior_mean(world):
    scm, score = world
    theories = sample_cpts(score, scm.adj, 4000, rng=1)
    means = posterior_mean_cpts(score, scm.adj)
    for j in range(4):
        draws = theories.cpts[j]
        se = draws.std(axis=0) / np.sqrt(draws.shape[0])
        assert np.all(np.abs(draws.mean(axis=0) - means[j]) < 5 * se + 1e-12)
        np.testing.assert_allclose(draws.sum(axis=2), 1.0)
    # with 400 rows the posterior mean is close to the true table where parents are seen often
    j = int(np.argmax(scm.adj.sum(axis=0) == 0))  # a root: one row, all 400 rows count
    assert np.abs(means[j][0] - scm.cpts[j][0]).max() < 0.1


def test_query_errors_name_the_field(world):
    scm, score = world
    theories = sample_cpts(score, scm.adj, 2, rng=0)
    with pytest.raises(ValueError, match="target"):
        query(theories, 9)
    with pytest.raises(ValueError, match="do"):
        query(theories, 0, do={1: 5})
    with pytest.raises(ValueError, match="evidence"):
        query(theories, 0, do={1: 0}, evidence={1: 0})
    with pytest.raises(ValueError, match="evidence"):
        query(theories, 0, evidence={0: 1})
    with pytest.raises(ValueError, match="adj"):
        sample_cpts(score, np.zeros((3, 3), dtype=bool), 2)
