"""DAG utilities against independent reference implementations written here (Kahn, Floyd–Warshall)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest

from bayesguard.graphs.dag import (
    allowed_additions,
    closure_add_edge,
    enumerate_dags,
    is_acyclic,
    parent_masks,
    random_dag_er,
    topological_order,
    transitive_closure,
)
from bayesguard.graphs.markov import cpdag_key, edge_marginals, shd

# --------------------------------------------------------------------------------------------------
# References


def kahn_acyclic(adj: np.ndarray) -> bool:
    d = adj.shape[0]
    indegree = [int(adj[:, j].sum()) for j in range(d)]
    queue = deque(j for j in range(d) if indegree[j] == 0)
    seen = 0
    while queue:
        i = queue.popleft()
        seen += 1
        for j in range(d):
            if adj[i, j]:
                indegree[j] -= 1
                if indegree[j] == 0:
                    queue.append(j)
    return seen == d


def floyd_warshall(adj: np.ndarray) -> np.ndarray:
    reach = adj.copy()
    d = adj.shape[0]
    for k in range(d):
        for i in range(d):
            for j in range(d):
                reach[i, j] = reach[i, j] or (reach[i, k] and reach[k, j])
    return reach


def random_graphs(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """A mix of sparse and dense random directed graphs (self-loops included), about half acyclic."""
    density = rng.uniform(0.02, 0.35, size=(n, 1, 1))
    return rng.random((n, d, d)) < density


def chain(d: int) -> np.ndarray:
    return np.eye(d, k=1, dtype=bool)


# --------------------------------------------------------------------------------------------------
# Enumeration


@pytest.mark.parametrize(("d", "count"), [(1, 1), (2, 3), (3, 25), (4, 543), (5, 29281)])
def test_enumerate_dags_counts_acyclic_distinct(d: int, count: int) -> None:
    dags = enumerate_dags(d)
    assert dags.shape == (count, d, d) and dags.dtype == np.bool_
    assert is_acyclic(dags).all()
    assert not dags[:, np.arange(d), np.arange(d)].any()
    assert np.unique(dags.reshape(count, -1), axis=0).shape[0] == count
    assert not dags[0].any()  # the empty graph first


def test_enumerate_dags_cached_read_only() -> None:
    a = enumerate_dags(4)
    assert a is enumerate_dags(4)
    with pytest.raises(ValueError):
        a[0, 0, 1] = True


@pytest.mark.parametrize("bad", [0, 6])
def test_enumerate_dags_rejects_d(bad: int) -> None:
    with pytest.raises(ValueError, match="^d: "):
        enumerate_dags(bad)


# --------------------------------------------------------------------------------------------------
# Acyclicity, order, closure


@pytest.mark.parametrize("d", [1, 2, 4, 7])
def test_is_acyclic_matches_kahn(d: int) -> None:
    rng = np.random.default_rng(d)
    graphs = random_graphs(rng, 400, d)
    expected = np.array([kahn_acyclic(g) for g in graphs])
    assert 0 < expected.sum() < len(expected) or d == 1
    np.testing.assert_array_equal(is_acyclic(graphs), expected)
    # batch shape is kept
    assert is_acyclic(graphs.reshape(20, 20, d, d)).shape == (20, 20)
    assert is_acyclic(graphs[0]).shape == ()


def test_topological_order() -> None:
    rng = np.random.default_rng(1)
    for g in random_dag_er(7, 8.0, rng, size=50):
        order = topological_order(g)
        position = np.empty(7, dtype=int)
        position[order] = np.arange(7)
        i, j = np.nonzero(g)
        assert sorted(order.tolist()) == list(range(7)) and (position[i] < position[j]).all()
    with pytest.raises(ValueError, match="cycle"):
        topological_order(chain(3) | chain(3).T)


@pytest.mark.parametrize("d", [1, 3, 6, 9])
def test_transitive_closure_matches_floyd_warshall(d: int) -> None:
    rng = np.random.default_rng(10 + d)
    graphs = random_graphs(rng, 150, d)
    expected = np.stack([floyd_warshall(g) for g in graphs])
    np.testing.assert_array_equal(transitive_closure(graphs), expected)


def test_closure_of_chain_and_cycle() -> None:
    np.testing.assert_array_equal(transitive_closure(chain(4)), np.triu(np.ones((4, 4), dtype=bool), k=1))
    cycle = chain(4)
    cycle[3, 0] = True
    assert transitive_closure(cycle).all()  # every node reaches every node, itself included


def test_incremental_closure_and_allowed_additions() -> None:
    """Every allowed addition keeps the DAG acyclic and updates the closure exactly; every other
    non-present, non-loop addition creates a cycle."""
    rng = np.random.default_rng(3)
    d = 6
    dags = random_dag_er(d, 6.0, rng, size=60)
    closures = transitive_closure(dags)
    allowed = allowed_additions(dags, closures)
    np.testing.assert_array_equal(allowed, allowed_additions(dags))  # closure computed when omitted
    g, i, j = np.nonzero(~dags & ~np.eye(d, dtype=bool))
    new = dags[g].copy()
    new[np.arange(g.size), i, j] = True
    ok = allowed[g, i, j]
    assert ok.any() and (~ok).any()
    acyclic = is_acyclic(new)
    np.testing.assert_array_equal(acyclic, ok)
    # batched incremental update with per-graph (i, j), against recomputation
    updated = closure_add_edge(closures[g], i, j)
    np.testing.assert_array_equal(updated[ok], transitive_closure(new[ok]))
    # present edges and the diagonal are never allowed
    assert not (allowed & dags).any() and not allowed[:, np.arange(d), np.arange(d)].any()


def test_closure_add_edge_single_graph_and_errors() -> None:
    c = transitive_closure(chain(3))
    out = closure_add_edge(c, 2, 0)  # closes the cycle 0 -> 1 -> 2 -> 0
    assert out.all() and not c[2, 0]  # input untouched
    with pytest.raises(ValueError, match="^i: "):
        closure_add_edge(c, 3, 0)
    with pytest.raises(TypeError, match="^j: "):
        closure_add_edge(c, 0, 1.5)


# --------------------------------------------------------------------------------------------------
# Encodings


def test_parent_masks() -> None:
    adj = np.zeros((2, 4, 4), dtype=bool)
    adj[0, 0, 3] = adj[0, 2, 3] = adj[0, 1, 2] = True
    adj[1, 3, 0] = True
    masks = parent_masks(adj)
    assert masks.dtype == np.int64
    np.testing.assert_array_equal(masks, [[0, 0, 0b10, 0b101], [0b1000, 0, 0, 0]])


def test_cpdag_key_class_counts() -> None:
    assert np.unique(cpdag_key(enumerate_dags(3))).size == 11
    assert np.unique(cpdag_key(enumerate_dags(4))).size == 185
    assert np.unique(cpdag_key(enumerate_dags(5))).size == 8782


def test_cpdag_key_hand_examples() -> None:
    def graph(*edges: tuple[int, int]) -> np.ndarray:
        a = np.zeros((3, 3), dtype=bool)
        for i, j in edges:
            a[i, j] = True
        return a

    keys = cpdag_key(
        np.stack(
            [
                graph((0, 1), (1, 2)),  # chain
                graph((2, 1), (1, 0)),  # reversed chain
                graph((1, 0), (1, 2)),  # fork
                graph((0, 1), (2, 1)),  # collider: its own class
                graph((0, 1), (1, 2), (0, 2)),  # complete
                graph((2, 0), (2, 1), (1, 0)),  # another complete
            ]
        )
    )
    assert keys[0] == keys[1] == keys[2] != keys[3]
    assert keys[4] == keys[5] != keys[0]
    assert len({k for k in keys}) == 3  # usable as dict / set keys


def test_cpdag_key_large_batch_chunks() -> None:
    rng = np.random.default_rng(4)
    dags = random_dag_er(12, 15.0, rng, size=300)
    keys = cpdag_key(dags)
    assert keys.shape == (300,)
    np.testing.assert_array_equal(keys, np.concatenate([cpdag_key(dags[:150]), cpdag_key(dags[150:])]))


# --------------------------------------------------------------------------------------------------
# Comparisons and summaries


def test_shd_hand_examples() -> None:
    a = chain(3)
    assert shd(a, a) == 0
    assert shd(a, np.zeros((3, 3), dtype=bool)) == 2  # two missing
    assert shd(a, a.T) == 2  # two reversed, 1 each
    b = a.copy()
    b[0, 1], b[1, 0] = False, True  # one reversed
    b[0, 2] = True  # one extra
    assert shd(a, b) == 2
    out = shd(np.stack([a, a.T, b]), a)  # broadcasting over a batch
    np.testing.assert_array_equal(out, [0, 2, 2])
    with pytest.raises(ValueError, match="^adj_b: "):
        shd(a, np.zeros((4, 4), dtype=bool))


def test_edge_marginals() -> None:
    adj = np.stack([chain(3), chain(3).T, np.zeros((3, 3), dtype=bool)])
    w = np.array([0.5, 0.25, 0.25])
    m = edge_marginals(adj, w)
    assert m[0, 1] == pytest.approx(0.5) and m[1, 0] == pytest.approx(0.25) and m[0, 2] == 0.0
    np.testing.assert_allclose(edge_marginals(adj, log_weights=np.log(w) + 7.0), m)
    np.testing.assert_allclose(edge_marginals(adj, 4 * w), m)
    np.testing.assert_allclose(edge_marginals(adj), adj.mean(axis=0))
    with pytest.raises(ValueError, match="^weights: "):
        edge_marginals(adj, [1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match="^log_weights: "):
        edge_marginals(adj, log_weights=[0.0, 1.0])


def test_random_dag_er_expected_edges_within_standard_error() -> None:
    d, expected, n = 8, 6.0, 4000
    graphs = random_dag_er(d, expected, np.random.default_rng(5), size=n)
    assert graphs.shape == (n, d, d) and is_acyclic(graphs).all()
    edges = graphs.sum(axis=(1, 2))
    pairs = d * (d - 1) // 2
    p = expected / pairs
    se = math.sqrt(pairs * p * (1 - p) / n)
    assert abs(edges.mean() - expected) < 4 * se
    # every node is equally likely to be a source of each edge: no fixed order leaks through
    out_degree = graphs.sum(axis=2).mean(axis=0)
    se_node = math.sqrt(graphs.sum(axis=2).var(axis=0).max() / n)
    assert np.all(np.abs(out_degree - expected / d) < 5 * se_node)


def test_random_dag_er_arguments() -> None:
    g = random_dag_er(5, edge_prob=1.0, rng=0)
    assert g.shape == (5, 5) and g.sum() == 10 and is_acyclic(g)
    assert not random_dag_er(1, 0.0, 0).any()
    np.testing.assert_array_equal(random_dag_er(6, 4.0, 11), random_dag_er(6, 4.0, 11))
    with pytest.raises(ValueError, match="expected_edges, edge_prob"):
        random_dag_er(4, 2.0, 0, edge_prob=0.5)
    with pytest.raises(ValueError, match="^expected_edges: "):
        random_dag_er(4, 7.0, 0)
    with pytest.raises(ValueError, match="^edge_prob: "):
        random_dag_er(4, edge_prob=1.5)


def test_adjacency_input_errors() -> None:
    with pytest.raises(ValueError, match="^adj: .*square"):
        is_acyclic(np.zeros((3, 4), dtype=bool))
    with pytest.raises(ValueError, match="^adj: .*0/1"):
        is_acyclic(np.full((3, 3), 2))
    np.testing.assert_array_equal(is_acyclic(chain(3).astype(int)), True)  # 0/1 integers are accepted
    with pytest.raises(ValueError, match="^adj: .*62"):
        parent_masks(np.zeros((63, 63), dtype=bool))
