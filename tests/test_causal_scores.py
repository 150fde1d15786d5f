"""BGe and BDeu local scores against independent computations, score equivalence, and the score cache."""

from __future__ import annotations

import math
from itertools import product

import numpy as np
import pytest
from scipy import stats

from bayesguard.theories.causal.scores import BDeuScore, BGeScore, ScoreCache

# --------------------------------------------------------------------------------------------------
# independent references


def normal_wishart_log_evidence(
    y: np.ndarray, kappa0: float, nu0: float, mu0: np.ndarray, scale0: np.ndarray
) -> float:
    """log p(y_1..y_N) by the chain rule of posterior predictive Student-t densities.

    Model: y_i ~ N(mu, Sigma), mu | Sigma ~ N(mu0, Sigma / kappa0), Sigma ~ InvWishart(nu0, scale0), i.e.
    the precision Sigma^{-1} ~ Wishart(nu0, scale0^{-1}). One row at a time: the predictive of the next
    row is t_{nu - l + 1}(mu, scale (kappa + 1) / (kappa (nu - l + 1))), then the conjugate update.
    """
    ell = y.shape[1]
    kappa, nu, mu, scale = kappa0, nu0, mu0.astype(float).copy(), scale0.astype(float).copy()
    total = 0.0
    for row in y:
        df = nu - ell + 1
        shape = scale * (kappa + 1) / (kappa * df)
        total += stats.multivariate_t(loc=mu, shape=shape, df=df).logpdf(row)
        diff = row - mu
        scale = scale + kappa / (kappa + 1) * np.outer(diff, diff)
        mu = (kappa * mu + row) / (kappa + 1)
        kappa, nu = kappa + 1, nu + 1
    return float(total)


def bge_reference_set(x: np.ndarray, members: list[int], alpha_mu: float, alpha_w: float) -> float:
    """log p(D_Y) of the variables ``members``: the Normal-Wishart marginal on Y of the d-variable prior."""
    if not members:
        return 0.0
    d = x.shape[1]
    ell = len(members)
    t = alpha_mu * (alpha_w - d - 1) / (alpha_mu + 1)
    return normal_wishart_log_evidence(
        x[:, members], alpha_mu, alpha_w - d + ell, np.zeros(ell), t * np.eye(ell)
    )


def bdeu_reference(codes: np.ndarray, arities: list[int], node: int, parents: list[int], ess: float) -> float:
    """BDeu local score with plain loops over every parent configuration and every row."""
    q = math.prod(arities[p] for p in parents)
    r = arities[node]
    total = 0.0
    for config in product(*(range(arities[p]) for p in parents)):
        counts = [0] * r
        for row in codes:
            if all(row[p] == c for p, c in zip(parents, config, strict=True)):
                counts[int(row[node])] += 1
        n_c = sum(counts)
        total += math.lgamma(ess / q) - math.lgamma(ess / q + n_c)
        for n_ck in counts:
            total += math.lgamma(ess / (q * r) + n_ck) - math.lgamma(ess / (q * r))
    return total


def mask_of(parents: list[int]) -> int:
    return sum(1 << p for p in parents)


def all_dags(d: int) -> np.ndarray:
    """Every DAG on d nodes by brute force: (n, d, d) bool."""
    off = [(i, j) for i in range(d) for j in range(d) if i != j]
    out = []
    for bits in product([False, True], repeat=len(off)):
        adj = np.zeros((d, d), dtype=bool)
        for (i, j), b in zip(off, bits, strict=True):
            adj[i, j] = b
        reach = adj.astype(int)
        power = reach.copy()
        for _ in range(d):
            power = power @ reach
            reach = reach + power
        if np.trace(reach) == 0:
            out.append(adj)
    return np.array(out)


def markov_class(adj: np.ndarray) -> tuple[frozenset, frozenset]:
    """(skeleton, v-structures): the Markov equivalence class of a DAG (Verma & Pearl 1990)."""
    d = adj.shape[0]
    skeleton = frozenset(frozenset((i, j)) for i in range(d) for j in range(d) if adj[i, j])
    v = set()
    for k in range(d):
        pa = [i for i in range(d) if adj[i, k]]
        for a in pa:
            for b in pa:
                if a < b and not adj[a, b] and not adj[b, a]:
                    v.add((a, k, b))
    return skeleton, frozenset(v)


def graph(d: int, edges: list[tuple[int, int]]) -> np.ndarray:
    adj = np.zeros((d, d), dtype=bool)
    for i, j in edges:
        adj[i, j] = True
    return adj


def correlated_gaussian(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return rng.normal(size=(n, d)) @ a + rng.normal(size=d)


def dependent_codes(rng: np.random.Generator, n: int, arities: list[int]) -> np.ndarray:
    """Discrete data in which column j depends on column j-1."""
    codes = np.zeros((n, len(arities)), dtype=np.int64)
    codes[:, 0] = rng.integers(0, arities[0], n)
    for j in range(1, len(arities)):
        noise = rng.integers(0, arities[j], n)
        codes[:, j] = np.where(rng.random(n) < 0.7, codes[:, j - 1] % arities[j], noise)
    return codes


# --------------------------------------------------------------------------------------------------
# BGe


@pytest.mark.parametrize("d", [3, 4])
@pytest.mark.parametrize(("alpha_mu", "extra_w"), [(1.0, 2.0), (2.5, 3.5)])
def test_bge_complete_and_empty_dag_match_normal_wishart_evidence(d, alpha_mu, extra_w):
    rng = np.random.default_rng(10 * d + int(extra_w))
    x = correlated_gaussian(rng, 20, d)
    alpha_w = d + extra_w
    cache = ScoreCache(BGeScore(x, alpha_mu=alpha_mu, alpha_w=alpha_w))
    complete = np.triu(np.ones((d, d), dtype=bool), k=1)
    empty = np.zeros((d, d), dtype=bool)
    got = cache.graph_scores(np.stack([complete, empty]))
    want_complete = bge_reference_set(x, list(range(d)), alpha_mu, alpha_w)
    want_empty = sum(bge_reference_set(x, [j], alpha_mu, alpha_w) for j in range(d))
    np.testing.assert_allclose(got, [want_complete, want_empty], rtol=1e-10, atol=1e-8)


def test_bge_local_scores_match_ratio_of_reference_marginals():
    rng = np.random.default_rng(3)
    x = correlated_gaussian(rng, 20, 4)
    score = BGeScore(x, alpha_mu=1.5, alpha_w=7.0)
    cases = [(0, []), (1, [0]), (2, [0, 3]), (3, [0, 1, 2]), (1, [2, 3])]
    for node, parents in cases:
        want = bge_reference_set(x, sorted(parents + [node]), 1.5, 7.0) - bge_reference_set(
            x, parents, 1.5, 7.0
        )
        assert score.local(node, mask_of(parents)) == pytest.approx(want, rel=1e-10, abs=1e-8)


def test_bge_prefers_the_true_dependence():
    rng = np.random.default_rng(4)
    a = rng.normal(size=200)
    b = 2.0 * a + 0.3 * rng.normal(size=200)
    c = rng.normal(size=200)
    score = BGeScore(np.column_stack([a, b, c]))
    assert score.local(1, 0b001) > score.local(1, 0) + 50
    assert score.local(2, 0b001) < score.local(2, 0)  # an irrelevant parent costs evidence


# --------------------------------------------------------------------------------------------------
# BDeu


@pytest.mark.parametrize("ess", [1.0, 3.7])
def test_bdeu_matches_loop_formula(ess):
    rng = np.random.default_rng(5)
    arities = [2, 3, 3, 2]
    codes = dependent_codes(rng, 40, arities)
    codes[:, 2] = np.minimum(codes[:, 2], 1)  # state 2 of column 2 never observed
    score = BDeuScore(codes, arities=arities, ess=ess)
    nodes, masks, want = [], [], []
    for node in range(4):
        others = [i for i in range(4) if i != node]
        for k in range(len(others) + 1):
            for parents in _subsets(others, k):
                nodes.append(node)
                masks.append(mask_of(parents))
                want.append(bdeu_reference(codes, arities, node, parents, ess))
    got = score.local_many(np.array(nodes), np.array(masks))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-10)
    assert score.local(3, 0b0111) == pytest.approx(want[-1], rel=1e-12)


def _subsets(items: list[int], k: int) -> list[list[int]]:
    from itertools import combinations

    return [list(c) for c in combinations(items, k)]


def test_bdeu_with_astronomically_many_parent_configurations():
    # prod(arities) > 2**62, so the family cannot be coded in int64: observed configurations are compressed.
    rng = np.random.default_rng(9)
    codes = dependent_codes(rng, 30, [2, 3, 2])
    arities = [2**31, 2**31, 2]
    score = BDeuScore(codes, arities=arities, ess=1.5)
    q = float(2**62)
    groups: dict[tuple[int, int], list[int]] = {}
    for row in codes:
        groups.setdefault((int(row[0]), int(row[1])), []).append(int(row[2]))
    want = 0.0
    for xs in groups.values():
        want += math.lgamma(1.5 / q) - math.lgamma(1.5 / q + len(xs))
        for k in range(2):
            want += math.lgamma(1.5 / (2 * q) + xs.count(k)) - math.lgamma(1.5 / (2 * q))
    assert score.local(2, 0b011) == pytest.approx(want, rel=1e-12)


def test_bdeu_float_codes_and_declared_arities():
    codes = np.array([[0, 1], [1, 2], [1, 0], [0, 2]])
    score = BDeuScore(codes.astype(float), [2, 4])
    assert score.arities.tolist() == [2, 4]
    assert score.local(1, 1) == pytest.approx(bdeu_reference(codes, [2, 4], 1, [0], 1.0))


def test_bdeu_local_score_by_hand_with_unseen_states():
    # Child x (3 declared states, state 2 never seen), parent y (2 declared states, state 1 never seen).
    codes = np.array([[0, 0], [1, 0], [0, 0], [0, 0], [1, 0]])
    ess, r, q = 2.0, 3, 2
    # no parents: one configuration, counts (3, 2, 0) over the 3 declared states
    want_empty = math.lgamma(ess) - math.lgamma(ess + 5)
    for n_k in (3, 2, 0):
        want_empty += math.lgamma(ess / r + n_k) - math.lgamma(ess / r)
    # parent y: configuration y=0 has counts (3, 2, 0); configuration y=1 has no rows
    want_parent = 0.0
    for counts in ((3, 2, 0), (0, 0, 0)):
        want_parent += math.lgamma(ess / q) - math.lgamma(ess / q + sum(counts))
        for n_k in counts:
            want_parent += math.lgamma(ess / (q * r) + n_k) - math.lgamma(ess / (q * r))
    score = BDeuScore(codes, [3, 2], ess=ess)
    assert score.local(0, 0) == pytest.approx(want_empty, rel=1e-13)
    assert score.local(0, 0b10) == pytest.approx(want_parent, rel=1e-13)
    # the unseen state is counted: declaring only the observed states gives a different score
    assert abs(BDeuScore(codes, [2, 2], ess=ess).local(0, 0) - want_empty) > 0.1


def test_bdeu_score_does_not_depend_on_how_unseen_categories_are_numbered():
    rng = np.random.default_rng(12)
    arities = [3, 3, 2]
    codes = dependent_codes(rng, 80, arities)
    codes[:, 0] = np.minimum(codes[:, 0], 1)  # column 0 uses codes {0, 1}: state 2 is never seen
    relabelled = codes.copy()
    relabelled[:, 0] = np.where(codes[:, 0] == 1, 2, 0)  # the same data, coded {0, 2}: state 1 unseen
    a, b = BDeuScore(codes, arities, ess=1.0), BDeuScore(relabelled, arities, ess=1.0)
    nodes = np.repeat(np.arange(3), 8)
    masks = np.tile(np.arange(8), 3)
    keep = (masks >> nodes) & 1 == 0
    np.testing.assert_allclose(a.local_many(nodes[keep], masks[keep]), b.local_many(nodes[keep], masks[keep]))
    dags = all_dags(3)
    np.testing.assert_allclose(ScoreCache(a).graph_scores(dags), ScoreCache(b).graph_scores(dags), rtol=1e-13)
    # what the old default (arity = largest code + 1) did: 2 states for one coding, 3 for the other
    assert abs(BDeuScore(codes, [2, 3, 2]).local(0, 0) - a.local(0, 0)) > 0.1


def test_bdeu_variable_with_a_single_declared_category():
    rng = np.random.default_rng(13)
    codes = dependent_codes(rng, 40, [2, 3, 2])
    codes[:, 1] = 0
    score = BDeuScore(codes, [2, 1, 2])
    assert score.local(1, 0) == 0.0 and score.local(1, 0b101) == 0.0
    assert score.local(2, 0b011) == pytest.approx(score.local(2, 0b001), rel=1e-13)


def test_bdeu_requires_arities():
    msg = r"arities: required, expected \(d,\) number of categories per variable, counting states that never"
    with pytest.raises(TypeError, match=msg):
        BDeuScore(GOOD_CODES)
    with pytest.raises(TypeError, match=msg):
        BDeuScore(GOOD_CODES, None, ess=2.0)


# --------------------------------------------------------------------------------------------------
# score equivalence


def _scorers(rng: np.random.Generator) -> list[object]:
    x = correlated_gaussian(rng, 30, 3)
    codes = dependent_codes(rng, 60, [2, 3, 2])
    return [BGeScore(x, alpha_mu=1.3), BDeuScore(codes, [2, 3, 2], ess=2.0)]


def test_markov_equivalent_chains_and_fork_score_equal_and_collider_differs():
    rng = np.random.default_rng(6)
    a, b, c = 0, 1, 2
    chain = graph(3, [(a, b), (b, c)])
    reverse = graph(3, [(c, b), (b, a)])
    fork = graph(3, [(b, a), (b, c)])
    collider = graph(3, [(a, b), (c, b)])
    for scorer in _scorers(rng):
        s = ScoreCache(scorer).graph_scores(np.stack([chain, reverse, fork, collider]))
        np.testing.assert_allclose(s[1:3], s[0], rtol=1e-10)
        assert abs(s[3] - s[0]) > 1e-6


def test_all_three_node_dags_score_equal_within_markov_classes_only():
    rng = np.random.default_rng(7)
    dags = all_dags(3)
    assert len(dags) == 25
    classes = [markov_class(g) for g in dags]
    labels = {c: i for i, c in enumerate(dict.fromkeys(classes))}
    assert len(labels) == 11
    label = np.array([labels[c] for c in classes])
    for scorer in _scorers(rng):
        s = ScoreCache(scorer).graph_scores(dags)
        class_scores = []
        for k in range(len(labels)):
            members = s[label == k]
            np.testing.assert_allclose(members, members[0], rtol=1e-10)
            class_scores.append(members[0])
        gaps = np.diff(np.sort(class_scores))
        assert gaps.min() > 1e-8  # distinct classes get distinct scores on generic data


# --------------------------------------------------------------------------------------------------
# cache


class CountingScorer:
    def __init__(self, inner):
        self.inner = inner
        self.d = inner.d
        self.calls = 0
        self.pairs = 0

    def local(self, node, parent_mask):
        return self.inner.local(node, parent_mask)

    def local_many(self, nodes, masks):
        self.calls += 1
        self.pairs += len(nodes)
        return self.inner.local_many(nodes, masks)


@pytest.mark.parametrize("kind", ["bge", "bdeu"])
def test_cache_graph_scores_equal_sum_of_local_scores_and_second_call_is_free(kind):
    rng = np.random.default_rng(8)
    if kind == "bge":
        inner = BGeScore(correlated_gaussian(rng, 25, 4))
    else:
        inner = BDeuScore(dependent_codes(rng, 50, [2, 3, 2, 3]), [2, 3, 2, 3])
    counting = CountingScorer(inner)
    cache = ScoreCache(counting)
    dags = all_dags(4)[::60]
    got = cache.graph_scores(dags)
    want = [sum(inner.local(j, mask_of(list(np.flatnonzero(g[:, j])))) for j in range(4)) for g in dags]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert counting.calls == 1
    masks = np.array([[mask_of(list(np.flatnonzero(g[:, j]))) for j in range(4)] for g in dags])
    distinct = {(j, m) for row in masks for j, m in enumerate(row)}
    assert counting.pairs == cache.n_scored == len(distinct) == len(cache)

    again = cache.graph_scores(dags[::-1])
    np.testing.assert_array_equal(again, got[::-1])
    assert counting.calls == 1 and cache.n_scorer_calls == 1
    assert cache.local(2, int(masks[0, 2])) == pytest.approx(inner.local(2, int(masks[0, 2])))
    assert counting.calls == 1

    seen = {m for j, m in distinct if j == 3}
    assert 0 < len(seen) < 8  # the table call below mixes cached and new parent sets
    table = cache.local_table(3, np.arange(8))
    np.testing.assert_allclose(table, [inner.local(3, m) for m in range(8)], rtol=1e-12)
    assert counting.calls == 2 and counting.pairs == len(distinct) + 8 - len(seen)
    cache.local_table(3, np.arange(8))
    assert counting.calls == 2


# --------------------------------------------------------------------------------------------------
# validation


GOOD_X = np.random.default_rng(0).normal(size=(10, 3))
GOOD_CODES = np.random.default_rng(0).integers(0, 2, size=(10, 3))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": np.where(np.eye(10, 3, dtype=bool), np.nan, GOOD_X)}, "data: contains NaN"),
        ({"data": GOOD_X[:, 0]}, "data: expected a 2-d"),
        ({"data": GOOD_X[:1]}, "data: expected at least 2 rows"),
        ({"data": np.column_stack([GOOD_X, np.ones(10)])}, "data: column 3 is constant"),
        ({"data": GOOD_X, "alpha_w": 4.0}, r"alpha_w: expected a number > d \+ 1 = 4"),
        ({"data": GOOD_X, "alpha_mu": 0.0}, "alpha_mu"),
        ({"data": GOOD_X, "mu0": np.zeros(2)}, r"mu0: expected shape \(3,\)"),
    ],
)
def test_bge_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BGeScore(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"data": GOOD_CODES + 0.5}, "data: expected integer category codes"),
        ({"data": GOOD_CODES - 1}, "data: category codes must be >= 0"),
        ({"data": np.where(np.eye(10, 3, dtype=bool), np.nan, GOOD_CODES)}, "data: contains NaN"),
        ({"data": GOOD_CODES[:1]}, "data: expected at least 2 rows"),
        ({"data": GOOD_CODES[None]}, "data: expected a 2-d"),
        ({"data": GOOD_CODES, "ess": 0.0}, "ess: expected a finite number > 0"),
        ({"data": GOOD_CODES, "ess": -1}, "ess"),
        ({"data": GOOD_CODES, "arities": [2, 2]}, r"arities: expected shape \(3,\), \(d,\) number of"),
        ({"data": GOOD_CODES, "arities": 2}, r"arities: expected shape \(3,\)"),
        ({"data": GOOD_CODES, "arities": [2, 0, 2]}, "arities: expected integers >= 1, got 0 for column 1"),
        ({"data": GOOD_CODES, "arities": [2, 1, 2]}, "arities: column 1 has code 1 but arity 1"),
    ],
)
def test_bdeu_rejects_bad_input(kwargs, match):
    kwargs.setdefault("arities", [2, 2, 2])
    with pytest.raises(ValueError, match=match):
        BDeuScore(**kwargs)


@pytest.mark.parametrize("arities", [[2.0, 2.0, 2.0], [True, True, True], ["2", "2", "2"]])
def test_bdeu_rejects_non_integer_arities(arities):
    with pytest.raises(TypeError, match="arities: expected integers"):
        BDeuScore(GOOD_CODES, arities)


@pytest.mark.parametrize("scorer", [BGeScore(GOOD_X), BDeuScore(GOOD_CODES, [2, 2, 2])], ids=["bge", "bdeu"])
def test_node_and_mask_out_of_range(scorer):
    with pytest.raises(ValueError, match="node: expected a node index in"):
        scorer.local(3, 0)
    with pytest.raises(ValueError, match="parent_mask: expected a bitmask"):
        scorer.local(0, 8)
    with pytest.raises(ValueError, match="parent_mask: .* contains the node itself"):
        scorer.local(1, 0b010)
    with pytest.raises(ValueError, match="nodes: expected node indices"):
        scorer.local_many(np.array([0, -1]), np.array([0, 0]))
    with pytest.raises(ValueError, match="masks: expected parent bitmasks"):
        scorer.local_many(np.array([0]), np.array([16]))
    with pytest.raises(ValueError, match="masks: expected the same shape"):
        scorer.local_many(np.array([0, 1]), np.array([0]))
    cache = ScoreCache(scorer)
    with pytest.raises(ValueError, match=r"adj: expected a boolean array of shape \(n, 3, 3\)"):
        cache.graph_scores(np.zeros((2, 4, 4), dtype=bool))
    with pytest.raises(ValueError, match="adj: self-loops"):
        cache.graph_scores(np.eye(3, dtype=bool)[None])
    with pytest.raises(ValueError, match="masks: .* contains the node itself"):
        cache.local_table(0, np.array([1]))
