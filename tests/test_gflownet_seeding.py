"""Replay seeded from given graphs: the trajectories, their validity, and the minibatch mix."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from bayesguard.datasets import sample_linear_gaussian_scm  # noqa: E402
from bayesguard.graphs.dag import random_dag_er  # noqa: E402
from bayesguard.inference.gflownet import DAGGFlowNet, GFlowNetConfig  # noqa: E402
from bayesguard.inference.gflownet.seeding import mixed_batch, seed_buffer  # noqa: E402
from bayesguard.theories.causal.prior import StructurePrior  # noqa: E402
from bayesguard.theories.causal.scores import BGeScore  # noqa: E402
from bayesguard.theories.causal.structure import StructureScore  # noqa: E402


@pytest.fixture(scope="module")
def model():
    data = sample_linear_gaussian_scm(5, 50, 5.0, seed=0).data
    prior = StructurePrior.make(5, required=[(0, 1)])
    return DAGGFlowNet(StructureScore(BGeScore(data), prior), GFlowNetConfig(seed=0, batch_size=32))


def test_seed_trajectories_are_valid_and_reach_every_graph(model):
    rng = np.random.default_rng(0)
    graphs = random_dag_er(5, 4.0, size=40, rng=1)
    graphs[:, 0, 1] = True
    graphs[:, 1, 0] = False
    from bayesguard.graphs.dag import is_acyclic

    graphs = graphs[is_acyclic(graphs)]
    buf = seed_buffer(model.env, graphs, rng)
    n_edges = (graphs.sum(axis=(1, 2)) - 1).sum()  # one required edge is the start
    assert buf.size == n_edges
    t = buf.sample(500, rng)
    rows = np.arange(500)
    assert np.all(t.valid[rows, t.action])  # every action was valid where it was taken
    assert np.all(t.adj[:, 0, 1])  # every state holds the required edge
    assert np.all(t.n_backward == t.adj_next.sum(axis=(1, 2)) - 1)
    # the change of log reward is the score difference of the two graphs
    score = model.score
    assert np.allclose(t.delta, score.log_posterior(t.adj_next) - score.log_posterior(t.adj))
    # the last transition of each trajectory ends at a seed graph
    ends = {g.tobytes() for g in graphs}
    full = buf.sample(5000, rng)
    reached = {g.tobytes() for g, n in zip(full.adj_next, full.n_backward, strict=True) if n >= 0} & ends
    assert len(reached) > 0.8 * len(ends)


def test_bad_seed_graphs_are_refused(model):
    rng = np.random.default_rng(0)
    cyclic = np.zeros((1, 5, 5), bool)
    cyclic[0, 0, 1] = cyclic[0, 1, 0] = True
    with pytest.raises(ValueError, match="graphs"):
        seed_buffer(model.env, cyclic, rng)
    missing_required = np.zeros((1, 5, 5), bool)
    with pytest.raises(ValueError, match="graphs"):
        seed_buffer(model.env, missing_required, rng)
    with pytest.raises(ValueError, match="graphs"):
        seed_buffer(model.env, np.zeros((0, 5, 5), bool), rng)
    with pytest.raises(ValueError, match="fraction"):
        model.seed_replay(np.zeros((1, 5, 5), bool), fraction=1.0)


def test_mixed_batch_takes_the_fraction_from_the_seeds(model):
    rng = np.random.default_rng(1)
    g = np.zeros((3, 5, 5), bool)
    g[:, 0, 1] = True
    g[:, 2, 3] = True  # every seed trajectory adds 2 -> 3 from the start graph
    seeds = seed_buffer(model.env, g, rng)
    model.explorer.step(model._log_probs)
    batch = mixed_batch(model.buffer, seeds, 40, 0.25, rng)
    assert batch.adj.shape[0] == 40
    tail = batch.action[-10:]
    assert np.all(tail == 2 * 5 + 3)
    only_main = mixed_batch(model.buffer, None, 8, 0.25, rng)
    assert only_main.adj.shape[0] == 8


def test_seeded_training_runs(model):
    g = np.zeros((2, 5, 5), bool)
    g[:, 0, 1] = True
    model.seed_replay(g, 0.5)
    model.train(steps=3, progress=False)
    assert model.steps == 3 and model.seeds is not None and model.seed_fraction == 0.5
