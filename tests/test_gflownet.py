"""DAG-GFlowNet: environment invariants, the exact sampler distribution vs sampling, training vs the exact
posterior, constraints, save/load."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bayesguard.inference.gflownet import DAGEnv, DAGGFlowNet, GFlowNetConfig, sampler_distribution  # noqa: E402
from bayesguard.posterior import Posterior  # noqa: E402
from bayesguard.theories.causal.compare import distribution_on, jensen_shannon  # noqa: E402
from bayesguard.theories.causal.dag import enumerate_dags, is_acyclic, transitive_closure  # noqa: E402
from bayesguard.theories.causal.data import sample_linear_gaussian_scm  # noqa: E402
from bayesguard.theories.causal.prior import StructurePrior  # noqa: E402
from bayesguard.theories.causal.scores import BGeScore  # noqa: E402
from bayesguard.theories.causal.structure import StructureScore, exact_structure_posterior  # noqa: E402


def make_score(d=4, seed=0, prior=None):
    scm = sample_linear_gaussian_scm(d, 100, d, seed=seed)
    return StructureScore(BGeScore(scm.data), prior)


def test_env_random_walks_keep_closure_scores_and_acyclicity():
    score = make_score(5)
    env = DAGEnv(score)
    rng = np.random.default_rng(0)
    s = env.reset(64)
    for _ in range(12):
        valid = env.valid_actions(s)
        valid[:, -1] = False  # only additions
        has = valid.any(axis=1)
        if not has.any():
            break
        idx = np.flatnonzero(has)
        sub = env.subset(s, idx)
        p = valid[idx] / valid[idx].sum(axis=1, keepdims=True)
        a = np.array([rng.choice(p.shape[1], p=row) for row in p])
        env.step(sub, a)
        s.adj[idx], s.closure[idx], s.masks[idx], s.node_scores[idx] = (
            sub.adj,
            sub.closure,
            sub.masks,
            sub.node_scores,
        )
        assert is_acyclic(s.adj).all()
        np.testing.assert_array_equal(s.closure, transitive_closure(s.adj))
        np.testing.assert_allclose(s.log_reward, score.log_posterior(s.adj), atol=1e-9)
    # every addition left out of the mask would close a cycle (or duplicate / self-loop)
    valid = env.valid_actions(s)[:, :-1].reshape(-1, 5, 5)
    for k in range(8):
        for i, j in zip(*np.nonzero(~valid[k] & ~s.adj[k] & ~np.eye(5, dtype=bool)), strict=True):
            g = s.adj[k].copy()
            g[i, j] = True
            assert not is_acyclic(g[None])[0]


def test_sampler_distribution_matches_sampling_frequencies():
    """Two independent routes to the same law: dynamic programming over states vs running the sampler."""
    model = DAGGFlowNet(make_score(3), GFlowNetConfig(seed=1))
    q = sampler_distribution(model)
    assert q.shape == (25,) and abs(q.sum() - 1) < 1e-9
    n = 40_000
    x = model.sample(n, seed=2)
    dags = enumerate_dags(3)
    freq = distribution_on(Posterior(dags, np.zeros(25)), Posterior.from_samples(x))
    se = np.sqrt(q * (1 - q) / n)
    assert np.all(np.abs(freq - q) <= 5 * se + 1e-12)


def test_training_reaches_the_exact_posterior():
    """Stated target: JSD < 0.02 (exact, no sampling noise) after 5,000 steps at d = 4 (~10 s here)."""
    score = make_score(4, seed=3)
    exact = exact_structure_posterior(score)
    model = DAGGFlowNet(score, GFlowNetConfig(seed=0, warmup=1000))
    before = jensen_shannon(exact.probs, sampler_distribution(model))
    model.train(steps=5000, progress=False)
    after = jensen_shannon(exact.probs, sampler_distribution(model))
    assert after < 0.02 and after < before / 5


def test_constraints_hold_in_every_sample():
    prior = StructurePrior.make(4, required=[(0, 1)], forbidden=[(2, 3), (3, 2)])
    model = DAGGFlowNet(make_score(4, prior=prior), GFlowNetConfig(seed=0, warmup=200))
    model.train(steps=50, progress=False)
    x = model.sample(2000, seed=0)
    assert x[:, 0, 1].all() and not x[:, 2, 3].any() and not x[:, 3, 2].any()
    assert is_acyclic(x).all()
    q = sampler_distribution(model)
    dags = enumerate_dags(4)
    bad = ~dags[:, 0, 1] | dags[:, 2, 3] | dags[:, 3, 2]
    assert q[bad].sum() == 0 and abs(q.sum() - 1) < 1e-9


def test_save_load_round_trip(tmp_path):
    score = make_score(3)
    model = DAGGFlowNet(score, GFlowNetConfig(seed=0, warmup=100))
    model.train(steps=100, progress=False)
    path = model.save(tmp_path / "gfn.pt")
    loaded = DAGGFlowNet.load(path, score)
    np.testing.assert_allclose(sampler_distribution(loaded), sampler_distribution(model), atol=1e-12)
    assert loaded.steps == model.steps
    with pytest.raises(ValueError, match="score"):
        DAGGFlowNet.load(path, make_score(4))


def test_config_and_budget_errors():
    with pytest.raises(ValueError, match="epsilon"):
        GFlowNetConfig(epsilon=2.0)
    with pytest.raises(ValueError, match="explore_stop"):
        GFlowNetConfig(explore_stop=1.0)
    with pytest.raises(ValueError, match="hidden"):
        GFlowNetConfig(hidden=0)
    with pytest.raises(ValueError, match="steps/seconds"):
        DAGGFlowNet(make_score(3)).train(progress=False)
    with pytest.raises(ValueError, match="device"):
        GFlowNetConfig(device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error():
    with pytest.raises(ValueError, match="device: 'cuda' was asked for but PyTorch sees no CUDA device"):
        GFlowNetConfig(device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_policy_gives_the_same_law_as_cpu(tmp_path):
    score = make_score(3)
    model = DAGGFlowNet(score, GFlowNetConfig(seed=0, warmup=100, device="cuda"))
    model.train(steps=200, progress=False)
    path = model.save(tmp_path / "gfn.pt")
    on_cpu = DAGGFlowNet.load(path, score)
    np.testing.assert_allclose(sampler_distribution(on_cpu), sampler_distribution(model), atol=1e-5)


def test_explore_stop_bounds_exploration_length():
    """With explore_stop = q the exploring depth is geometric: P(next graph has <= 3 edges) = 1 - (1-q)^3."""
    score = make_score(5)
    model = DAGGFlowNet(score, GFlowNetConfig(seed=0, explore_stop=0.5, warmup=10**6, n_envs=256))
    for _ in range(200):
        model._explore()
    edges = model.buffer.n_edges_next[: model.buffer.size]
    frac = np.mean(edges <= 3)
    se = np.sqrt(0.875 * 0.125 / edges.size)  # stationary law: depth k with probability 2^-(k+1)
    assert abs(frac - 0.875) < 5 * se + 0.005  # + the start-up transient (all trajectories begin empty)
