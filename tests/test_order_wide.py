"""Order MCMC above 62 nodes: parent sets as masks over per-node universes, orders read through node
positions, scores from boolean parent rows.

The wide code path is checked against the 64-bit-mask path where both apply (d = 12: every universe
holds all nodes, so the two spaces hold the same sets and must give the same order scores, edge
probabilities and draws' law), against a direct sum over the sets at d = 70, and the kernel's positions
against the orders after many steps.
"""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.inference.candidates import candidate_parents
from bayesguard.inference.order_kernel import OrderKernel, random_orders
from bayesguard.inference.order_mcmc import OrderMCMCConfig, order_mcmc
from bayesguard.inference.order_space import MAX_UNIVERSE, OrderSpace, _build_wide, positions
from bayesguard.inference.order_table import OrderTable
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.scores import BDeuScore, BGeScore
from bayesguard.theories.causal.structure import StructureScore


def _score(d: int, seed: int = 0) -> StructureScore:
    scm = sample_linear_gaussian_scm(d, 60, 1.5 * d, seed=seed)
    return StructureScore(BGeScore(scm.data), StructurePrior.make(d, kind="erdos-renyi", expected_edges=d))


@pytest.mark.parametrize("kind", ["bge", "bdeu"])
def test_local_bits_equal_local_many(kind: str) -> None:
    rng = np.random.default_rng(1)
    if kind == "bge":
        scorer = BGeScore(rng.normal(size=(40, 7)))
    else:
        scorer = BDeuScore(rng.integers(0, 3, (40, 7)), np.full(7, 3))
    prior = StructurePrior.make(
        7, kind="erdos-renyi", expected_edges=5, required=[(0, 1)], forbidden=[(2, 3)]
    )
    score = StructureScore(scorer, prior)
    nodes = rng.integers(0, 7, 300)
    masks = rng.integers(0, 128, 300) & ~(1 << nodes)
    bits = ((masks[:, None] >> np.arange(7)) & 1).astype(bool)
    np.testing.assert_array_equal(score.local_bits(nodes, bits), score.local_many(nodes, masks))


def test_bitmask_api_refuses_d_above_62_by_name() -> None:
    score = _score(70)
    with pytest.raises(ValueError, match="local_bits"):
        score.local_many(np.array([0]), np.array([2]))
    with pytest.raises(ValueError, match="parents"):
        score.local_bits(np.array([0]), np.ones((1, 70), bool))  # a node its own parent


@pytest.mark.parametrize("plus_one", [False, True])
def test_wide_space_equals_the_mask_space_where_both_apply(plus_one: bool) -> None:
    d = 12
    score = _score(d, seed=2)
    cand = candidate_parents(score, 5, max_parents=2)
    narrow = OrderSpace.build(score, cand, max_parents=2, plus_one=plus_one)
    wide = _build_wide(score, cand, 2, plus_one)
    assert wide.n_sets == narrow.n_sets
    orders = random_orders(np.zeros((d, d), bool), 50, np.random.default_rng(3))
    for lookup in (True, False):
        a, b = OrderTable(narrow, lookup), OrderTable(wide, lookup)
        np.testing.assert_allclose(b.order_scores(orders), a.order_scores(orders), rtol=0, atol=1e-9)
        np.testing.assert_allclose(b.edge_probs(orders), a.edge_probs(orders), rtol=0, atol=1e-12)


def test_order_score_at_d70_is_the_sum_over_the_sets_inside_the_predecessors() -> None:
    d = 70
    score = _score(d, seed=4)
    cand = candidate_parents(score, 6, max_parents=2)
    space = OrderSpace.build(score, cand, max_parents=2, plus_one=True)
    assert space.universe.shape[1] <= MAX_UNIVERSE
    order = np.random.default_rng(5).permutation(d)
    pos = positions(order[None])[0]
    total = 0.0
    for j in range(d):  # direct: decode every set to node indices, keep those inside, score afresh
        n = int(space.counts[j])
        members = ((space.masks[j, :n, None] >> np.arange(space.universe.shape[1])) & 1).astype(bool)
        bits = np.zeros((n, d + 1), bool)
        rows, cols = np.nonzero(members)
        bits[rows, space.universe[j, cols]] = True
        inside = ~(bits[:, :d] & (pos[:d] >= pos[j])[None]).any(axis=1)
        s = score.local_bits(np.full(int(inside.sum()), j), bits[inside, :d])
        total += np.log(np.exp(s - s.max()).sum()) + s.max()
    for lookup in (True, False):
        assert OrderTable(space, lookup).order_scores(order[None])[0] == pytest.approx(total, abs=1e-8)


def test_kernel_positions_follow_the_orders_and_scores_stay_exact_at_d70() -> None:
    d = 70
    score = _score(d, seed=6)
    space = OrderSpace.build(score, candidate_parents(score, 6, max_parents=2), max_parents=2)
    kernel = OrderKernel(space, np.array([1.0, 0.5]))
    rng = np.random.default_rng(7)
    state = kernel.init(random_orders(np.zeros((d, d), bool), 4, rng).reshape(2, 2, d))
    for _ in range(300):
        state, _ = kernel.step(rng, state)
    np.testing.assert_array_equal(state.pos, positions(state.orders))
    fresh = kernel.tab.order_scores(state.orders.reshape(-1, d)).reshape(2, 2)
    np.testing.assert_allclose(state.scores, fresh, rtol=0, atol=1e-8)


def test_order_mcmc_runs_at_d70_and_draws_dags_within_the_candidates() -> None:
    d = 70
    score = _score(d, seed=8)
    cfg = OrderMCMCConfig(n_chains=2, n_rungs=2, max_parents=2, n_candidates=5, expand_rounds=0)
    res = order_mcmc(score, cfg, n_steps=400, seed=0, progress=False)
    adj = res.samples.reshape(-1, d, d)
    assert adj.sum(axis=1).max() <= 2
    order = np.argsort(res.orders.reshape(-1, d), axis=1)  # position of each node
    assert not (adj & (order[:, :, None] >= order[:, None, :])).any()  # every edge forward in its order
    allowed = np.zeros((d, d), bool)
    allowed[
        res.space.universe[:, :].ravel().clip(max=d - 1), np.repeat(np.arange(d), res.space.universe.shape[1])
    ] = True
    assert not (adj & ~allowed[None]).any()
    marg = res.edge_marginals()
    assert marg.shape == (d, d) and np.all((marg >= 0) & (marg <= 1 + 1e-12))
