"""The interventional BGe score: equal to BGe without experiments, node-wise on the rows where each node
was not set, and able to orient an edge that observations leave ambiguous; the interventional BDeu score
counts every declared category in every row group."""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.theories.causal.interventional import InterventionalBDeuScore, InterventionalBGeScore
from bayesguard.theories.causal.linear_gaussian import sample_parameters
from bayesguard.theories.causal.scores import BDeuScore, BGeScore
from bayesguard.theories.causal.structure import StructureScore, exact_structure_posterior


def two_variable_world(a_causes_h: bool, n_obs: int, n_do: int, seed: int):
    """Rows of (a, h): observational, then ``n_do`` rows with do(a = 2)."""
    rng = np.random.default_rng(seed)

    def rows(n, do_a=None):
        if a_causes_h:
            a = rng.normal(size=n) if do_a is None else np.full(n, do_a)
            h = 0.8 * a + 0.6 * rng.normal(size=n)
        else:
            h = rng.normal(size=n)
            a = 0.8 * h + 0.6 * rng.normal(size=n) if do_a is None else np.full(n, do_a)
        return np.c_[a, h]

    x = np.vstack([rows(n_obs), rows(n_do, 2.0)])
    iv = np.zeros_like(x, dtype=bool)
    iv[n_obs:, 0] = True
    return x, iv


def test_without_experiments_it_is_bge():
    x, iv = two_variable_world(True, 50, 0, 0)
    rng = np.random.default_rng(1)
    x = np.c_[x, rng.normal(size=(50, 2))]
    score = InterventionalBGeScore(x, np.zeros_like(x, dtype=bool))
    ref = BGeScore(x)
    nodes = rng.integers(0, 4, 40)
    masks = rng.integers(0, 16, 40) & ~(1 << nodes)
    np.testing.assert_allclose(score.local_many(nodes, masks), ref.local_many(nodes, masks))


def test_each_node_is_scored_on_its_own_rows():
    x, iv = two_variable_world(True, 40, 30, 2)
    score = InterventionalBGeScore(x, iv)
    obs_only = BGeScore(x[:40])
    full = BGeScore(x)
    # node 0 (set in the last 30 rows) uses the 40 observational rows; node 1 uses all 70
    assert score.local(0, 0) == pytest.approx(obs_only.local(0, 0))
    assert score.local(0, 0b10) == pytest.approx(obs_only.local(0, 0b10))
    assert score.local(1, 0b01) == pytest.approx(full.local(1, 0b01))
    with pytest.raises(ValueError, match="at least 2 rows"):
        InterventionalBGeScore(x[:31], np.ones((31, 2), dtype=bool) & [True, False])


@pytest.mark.parametrize("a_causes_h", [True, False])
def test_experiments_orient_the_edge(a_causes_h):
    x, iv = two_variable_world(a_causes_h, 100, 0, 3)
    post = exact_structure_posterior(StructureScore(BGeScore(x)))
    p = dict(zip(map(lambda g: (bool(g[0, 1]), bool(g[1, 0])), post.theories), post.probs, strict=True))
    assert abs(p[(True, False)] - p[(False, True)]) < 1e-9  # Markov equivalent: a tie
    x, iv = two_variable_world(a_causes_h, 100, 30, 3)
    post = exact_structure_posterior(StructureScore(InterventionalBGeScore(x, iv)))
    p = dict(zip(map(lambda g: (bool(g[0, 1]), bool(g[1, 0])), post.theories), post.probs, strict=True))
    right, wrong = ((True, False), (False, True)) if a_causes_h else ((False, True), (True, False))
    assert p[right] > 0.99 and p[wrong] < 0.01


def test_parameter_posterior_uses_each_nodes_rows():
    x, iv = two_variable_world(True, 200, 200, 4)
    score = InterventionalBGeScore(x, iv)
    adj = np.zeros((4000, 2, 2), dtype=bool)
    adj[:, 0, 1] = True
    th = sample_parameters(score, adj, 0, ("a", "h"))
    # h | a regression on all 400 rows: slope 0.8, noise variance 0.36; a on its 200 observational rows
    assert abs(th.weights[:, 0, 1].mean() - 0.8) < 0.05
    assert abs(th.noise_var[:, 1].mean() / 0.36 - 1) < 0.15
    assert abs(th.noise_var[:, 0].mean() - x[:200, 0].var()) < 0.15


def discrete_world(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, h) codes: 60 observational rows, then 40 rows with do(a = 0); a has 3 declared states, h 2.

    State 2 of ``a`` never occurs; in the rows where ``a`` was not set it is state 0 or 1, and ``h`` copies
    ``a`` with noise."""
    rng = np.random.default_rng(seed)
    a = np.r_[rng.integers(0, 2, 60), np.zeros(40, dtype=np.int64)]
    h = np.where(rng.random(100) < 0.8, a, 1 - a)
    iv = np.zeros((100, 2), dtype=bool)
    iv[60:, 0] = True
    return np.c_[a, h], iv


def test_interventional_bdeu_requires_arities_and_shares_them_across_row_groups():
    codes, iv = discrete_world(5)
    with pytest.raises(TypeError, match=r"arities: required, expected \(d,\) number of categories per"):
        InterventionalBDeuScore(codes, iv)
    with pytest.raises(ValueError, match="arities: column 0 has code 1 but arity 1"):
        InterventionalBDeuScore(codes, iv, [1, 2])
    score = InterventionalBDeuScore(codes, iv, [3, 2], ess=1.5)
    assert score.arities.tolist() == [3, 2]
    assert all(inner.arities.tolist() == [3, 2] for inner in score.scores)
    obs, full = BDeuScore(codes[:60], [3, 2], 1.5), BDeuScore(codes, [3, 2], 1.5)
    assert score.local(0, 0) == pytest.approx(obs.local(0, 0), rel=1e-13)
    assert score.local(0, 0b10) == pytest.approx(obs.local(0, 0b10), rel=1e-13)
    assert score.local(1, 0b01) == pytest.approx(full.local(1, 0b01), rel=1e-13)


def test_interventional_bdeu_does_not_depend_on_how_unseen_categories_are_numbered():
    codes, iv = discrete_world(6)
    relabelled = codes.copy()
    relabelled[:, 0] = np.array([2, 0, 1])[codes[:, 0]]  # 0 -> 2, 1 -> 0: the unseen state is now code 1
    a = InterventionalBDeuScore(codes, iv, [3, 2])
    b = InterventionalBDeuScore(relabelled, iv, [3, 2])
    nodes, masks = np.array([0, 0, 1, 1]), np.array([0, 0b10, 0, 0b01])
    np.testing.assert_allclose(a.local_many(nodes, masks), b.local_many(nodes, masks), rtol=1e-13)
