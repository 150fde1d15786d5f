"""The discrete elimination engine against brute-force enumeration and against the former all-factors
einsum: barren pruning, evidence slicing, the min-fill order and the plan cache never change an answer."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bayesguard.theories.causal.discrete import DiscreteTheories, query
from bayesguard.theories.causal.discrete_harm import mutilated_joint
from bayesguard.theories.causal.elimination import (
    _plan,
    clear_plan_cache,
    contract_all,
    eliminate,
    make_plan,
    min_fill_order,
    relevant_nodes,
)


def random_network(
    rng: np.random.Generator, d: int, n_arcs: int, max_in: int, arities: tuple[int, int], m: int
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """A random DAG (random topological order, in-degree <= max_in), arities and Dirichlet tables."""
    adj = np.zeros((d, d), dtype=bool)
    n_arcs = min(n_arcs, sum(min(j, max_in) for j in range(d)))
    while adj.sum() < n_arcs:
        i, j = sorted(rng.choice(d, 2, replace=False))
        if adj[:, j].sum() < max_in:
            adj[i, j] = True
    perm = rng.permutation(d)
    adj = adj[np.ix_(perm, perm)]
    ar = rng.integers(arities[0], arities[1] + 1, d)
    tables = [
        rng.dirichlet(np.ones(ar[j]), size=(m, int(np.prod(ar[np.flatnonzero(adj[:, j])])))) for j in range(d)
    ]
    return adj, ar, tables


def enumerate_joint(tables, adj, ar, k, do, evidence, keep) -> np.ndarray:
    """``P(keep, evidence | do)`` of network ``k`` by summing the mutilated product over every assignment."""
    out = np.zeros(ar[keep])
    fixed = {**do, **evidence}
    for x in itertools.product(*(range(r) for r in ar)):
        if any(x[v] != c for v, c in fixed.items()):
            continue
        p = 1.0
        for j in range(len(ar)):
            if j not in do:
                pa = np.flatnonzero(adj[:, j])
                row = np.ravel_multi_index(tuple(x[i] for i in pa), ar[pa]) if pa.size else 0
                p *= tables[j][k, row, x[j]]
        out[tuple(x[v] for v in keep)] += p
    return out


def random_roles(rng: np.random.Generator, ar: np.ndarray) -> tuple[dict, dict, list]:
    """Random disjoint do / evidence / kept variables (a kept variable may be intervened on)."""
    d = len(ar)
    v = [int(i) for i in rng.permutation(d)]
    n_do, n_ev, n_keep = rng.integers(0, 3), rng.integers(0, 3), rng.integers(1, 3)
    do = {i: int(rng.integers(ar[i])) for i in v[:n_do]}
    ev = {i: int(rng.integers(ar[i])) for i in v[n_do : n_do + n_ev]}
    keep = v[n_do + n_ev : n_do + n_ev + n_keep]
    if do and rng.random() < 0.3:
        keep.append(v[0])
    return do, ev, keep


@pytest.mark.parametrize("seed", range(12))
def test_engine_matches_enumeration_on_random_networks(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(4, 8))
    adj, ar, tables = random_network(rng, d, int(rng.integers(d - 1, 2 * d)), 3, (2, 3), m=2)
    for _ in range(4):
        do, ev, keep = random_roles(rng, ar)
        want = np.stack([enumerate_joint(tables, adj, ar, k, do, ev, keep) for k in range(2)])
        for prune, method in itertools.product((True, False), ("steps", "path")):
            got = eliminate(tables, adj, ar, do, ev, keep, prune=prune, method=method)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        theories = DiscreteTheories(adj, ar, tuple(tables))
        target = keep[0]
        if target not in ev:
            cond = query(theories, target, do, ev)
            marg = want.sum(axis=tuple(range(2, want.ndim)))
            np.testing.assert_allclose(cond, marg / marg.sum(axis=1, keepdims=True), rtol=0, atol=1e-12)
        if not ev:
            joint = mutilated_joint([t[0] for t in tables], adj, ar, do, keep)
            np.testing.assert_allclose(joint, want[0], rtol=0, atol=1e-12)


def test_barren_nodes_are_pruned_and_never_change_the_answer():
    rng = np.random.default_rng(7)
    adj, ar, tables = random_network(rng, 12, 20, 3, (2, 3), m=3)
    for _ in range(10):
        do, ev, keep = random_roles(rng, ar)
        pruned, full = make_plan(adj, ar, do, ev, keep), make_plan(adj, ar, do, ev, keep, prune=False)
        live = relevant_nodes(adj, do, [*keep, *ev])
        assert set(pruned.nodes) == {j for j in np.flatnonzero(live) if j not in do}
        assert len(pruned.nodes) <= len(full.nodes) == 12 - len(do)
        a = eliminate(tables, adj, ar, do, ev, keep)
        b = eliminate(tables, adj, ar, do, ev, keep, prune=False)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    # a chain 0 -> 1 -> 2: the marginal of 0 needs only its own table; do(1) cuts 0 off from 2
    chain = np.zeros((3, 3), dtype=bool)
    chain[0, 1] = chain[1, 2] = True
    assert relevant_nodes(chain, [], [0]).tolist() == [True, False, False]
    assert relevant_nodes(chain, [1], [2]).tolist() == [False, True, True]


def test_plan_cache_gives_the_cold_answer_and_reuses_plans():
    rng = np.random.default_rng(3)
    adj, ar, tables = random_network(rng, 10, 16, 3, (2, 3), m=4)
    do, ev, keep = {1: 0}, {4: 1, 7: 0}, [2, 9]
    clear_plan_cache()
    cold = eliminate(tables, adj, ar, do, ev, keep)
    hits = _plan.cache_info().hits
    warm = eliminate(tables, adj, ar, do, ev, keep)
    assert _plan.cache_info().hits == hits + 1
    np.testing.assert_array_equal(warm, cold)
    other = {4: 0, 7: 1}  # other values, same structure: the cached plan, a fresh answer
    got = eliminate(tables, adj, ar, {1: 1}, other, keep)
    assert _plan.cache_info().hits == hits + 2
    clear_plan_cache()
    np.testing.assert_array_equal(got, eliminate(tables, adj, ar, {1: 1}, other, keep))


def test_min_fill_order_on_known_graphs():
    # a chain of factors: eliminating an end creates no fill, the middle would
    scopes = [(0, 1), (1, 2), (2, 3)]
    order = min_fill_order(scopes, [2, 2, 2, 2], [0, 1, 2, 3])
    assert order[0] in (0, 3)
    # a 4-cycle 0-1-2-3-0: every first elimination adds one fill edge; ties go to the smaller neighbours
    cycle = [(0, 1), (1, 2), (2, 3), (3, 0)]
    assert min_fill_order(cycle, [5, 2, 5, 2], [0, 1, 2, 3])[0] == 0  # neighbours 1, 3 of arity 2
    assert min_fill_order(cycle, [2, 5, 2, 5], [0, 1, 2, 3])[0] == 1


def test_zero_probability_evidence_and_point_masses():
    adj = np.zeros((3, 3), dtype=bool)
    adj[0, 1] = adj[1, 2] = True
    ar = np.array([2, 2, 2])
    t0 = np.array([[[0.3, 0.7]]])
    t1 = np.array([[[1.0, 0.0], [0.2, 0.8]]])  # X1 = 0 whenever X0 = 0
    t2 = np.array([[[0.5, 0.5], [0.9, 0.1]]])
    theories = DiscreteTheories(adj, ar, (t0, t1, t2))
    with pytest.raises(ValueError, match="evidence: has probability 0"):
        query(theories, 2, do={0: 0}, evidence={1: 1})
    np.testing.assert_allclose(query(theories, 0, do={0: 1}, evidence={2: 0}), [[0.0, 1.0]])
    joint = eliminate([t0, t1, t2], adj, ar, {1: 1}, {}, [1, 2])  # (1, 2, 2): point mass on X1 = 1
    np.testing.assert_allclose(joint[0], [[0.0, 0.0], [0.9, 0.1]])
    with pytest.raises(ValueError, match="keep"):
        eliminate([t0, t1, t2], adj, ar, {}, {2: 0}, [2])


def test_27_variable_network_agrees_with_the_all_factors_einsum():
    rng = np.random.default_rng(1)
    adj, ar, tables = random_network(rng, 27, 52, 3, (2, 5), m=3)
    theories = DiscreteTheories(adj, ar, tuple(tables))
    assert adj.sum() == 52 and adj.sum(axis=0).max() <= 3
    cases = [(5, {11: 1}, {20: 0, 3: 1}), (17, {2: 0}, {9: 1}), (0, {26: 1}, {4: 0, 8: 1, 13: 0})]
    for target, do, ev in cases:
        got = query(theories, target, do, ev)
        np.testing.assert_allclose(got, contract_all(theories, target, do, ev), rtol=0, atol=1e-10)
