"""World 3: the plant's ambiguity is real (Markov-equivalent orientations, equal scores), its harm
probabilities are right, SMC follows the posterior to the exact one, and an episode runs end to end."""

from __future__ import annotations

import numpy as np
import pytest

from bayesguard.experiments.plant import RULES, PlantConfig, plant_prior, run_episode, summarise
from bayesguard.graphs.dag import enumerate_dags
from bayesguard.graphs.markov import cpdag_key
from bayesguard.inference.smc import SMCState, smc_update, systematic_resample
from bayesguard.theories.causal.interventional import InterventionalBGeScore
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore, exact_structure_posterior
from bayesguard.worlds import PlantWorld


@pytest.mark.parametrize("d", [8, 12])
def test_observations_cannot_orient_the_valve_pressure_edge(d):
    world = PlantWorld.make(3, d, valve_causes_pressure=True)
    adj = world.truth.adj[0]
    twin = adj.copy()
    iv, ip = world.names.index("valve"), world.names.index("pressure")
    twin[iv, ip], twin[ip, iv] = False, True
    assert cpdag_key(adj[None])[0].tobytes() == cpdag_key(twin[None])[0].tobytes()
    score = StructureScore(BGeScore(world.observe(500, np.random.default_rng(0))))
    a, b = score.log_posterior(np.stack([adj, twin]))
    assert a == pytest.approx(b, abs=1e-8)


def test_harm_probabilities_and_steps():
    rng = np.random.default_rng(1)
    harmful = PlantWorld.make(0, 8, valve_causes_pressure=True)
    harmless = PlantWorld.make(0, 8, valve_causes_pressure=False)
    ctx = harmful.context(rng)
    h = harmful.true_harm(ctx)
    full = harmful.spec.action_names.index("valve +3sd")
    assert h[full] > 0.5 and np.delete(h, full).max() < 0.05
    assert harmless.true_harm(ctx).max() < 0.05
    n = 4000
    hits = np.array([harmful.step(full, ctx, rng)[3] for _ in range(n)])
    assert abs(hits.mean() - h[full]) < 4 * np.sqrt(h[full] * (1 - h[full]) / n)
    row, mask, reward, _ = harmful.step(full, ctx, rng)
    assert mask[harmful.names.index("valve")] and mask.sum() == 1
    assert row[0] == ctx["ambient"] and reward == row[harmful.names.index("output")]
    with pytest.raises(ValueError, match="8 to 15"):
        PlantWorld.make(0, 20)


def test_systematic_resample_is_unbiased():
    lw = np.log(np.array([0.5, 0.3, 0.2, 0.0]) + 1e-300)
    rng = np.random.default_rng(2)
    counts = np.zeros(4)
    for _ in range(2000):
        counts += np.bincount(systematic_resample(lw, rng), minlength=4)
    np.testing.assert_allclose(counts / counts.sum(), [0.5, 0.3, 0.2, 0.0], atol=0.01)


def test_smc_follows_the_posterior_after_an_experiment():
    """Particles drawn from the exact posterior on observations, then an experiment on x0: after the
    reweight-resample-move update their edge frequencies match the exact new posterior."""
    rng = np.random.default_rng(3)
    n = 60
    x0 = rng.normal(size=n)
    x1 = 0.9 * x0 + 0.5 * rng.normal(size=n)
    x2 = rng.normal(size=n)
    obs = np.c_[x0, x1, x2]
    do = np.c_[np.full(30, 2.0), 0.9 * 2.0 + 0.5 * rng.normal(size=30), rng.normal(size=30)]
    data = np.vstack([obs, do])
    iv = np.zeros_like(data, dtype=bool)
    iv[n:, 0] = True
    before = StructureScore(BGeScore(obs))
    after = StructureScore(InterventionalBGeScore(data, iv))
    exact0 = exact_structure_posterior(before)
    exact1 = exact_structure_posterior(after)
    k = 3000
    particles = exact0.theories[rng.choice(exact0.n_theories, k, p=exact0.probs)]
    state = SMCState(particles, np.full(k, -np.log(k)), before)
    state, moved = smc_update(state, after, rng, move_steps=30, force_move=True)
    assert moved
    want = np.clip(np.tensordot(exact1.probs, enumerate_dags(3).astype(float), axes=(0, 0)), 0, 1)
    got = state.particles.mean(axis=0)
    se = np.sqrt(want * (1 - want) / k)
    assert np.all(np.abs(got - want) < 5 * se + 0.01), np.abs(got - want).max()
    assert want[0, 1] > 0.95  # the experiment oriented x0 -> x1
    with pytest.raises(ValueError, match="move_steps"):
        smc_update(state, after, rng, move_steps=0, force_move=True)


def test_episode_runs_and_summarises():
    world = PlantWorld.make(0, 8, True)
    cfg = PlantConfig(steps=3, n_theories=100)
    x0 = world.observe(cfg.n_obs, np.random.default_rng(0))
    prior = plant_prior(world, cfg)
    from bayesguard.inference.mcmc import structure_mcmc

    run = structure_mcmc(StructureScore(BGeScore(x0), prior), n_chains=2, n_steps=400, thin=4, progress=False)
    graphs = run.posterior().theories
    rows = []
    for rule in (RULES[0], RULES[4]):
        steps = run_episode(world, rule, graphs, x0, cfg, 0)
        assert len(steps) == 3 and all(0 <= s["action"] < world.spec.n_actions for s in steps)
        rows += [{"sampler": "mcmc", "rule": rule.name, **s} for s in steps]
    summary = summarise(rows)
    assert [s["rule"] for s in summary] == [RULES[0].name, RULES[4].name]
    assert summary[0]["reject_rate"] == 0.0  # no guard never rejects


def test_dp_sampler_gives_the_exact_structure_posterior_of_the_plant():
    """At d = 8 the DP draws, reweighted to the structure-modular posterior, agree with the exact
    structure DP's edge marginals (within standard errors from the effective sample size), and an
    episode runs on the weighted posterior."""
    from bayesguard.experiments.plant import _sample_graphs
    from bayesguard.inference.dp_structure import structure_dp

    world = PlantWorld.make(1, 8, True)
    cfg = PlantConfig(steps=2, n_theories=100, n_graphs=3000)
    x0 = world.observe(cfg.n_obs, np.random.default_rng(1))
    score = StructureScore(BGeScore(x0), plant_prior(world, cfg))
    graphs, log_w, _ = _sample_graphs("dp", score, cfg, 0)
    w = np.exp(log_w - np.logaddexp.reduce(log_w))
    est = np.einsum("n,nij->ij", w, graphs.astype(float))
    truth = structure_dp(score).edge_marginals
    ess = 1.0 / np.sum(w**2)
    se = np.sqrt(np.maximum(truth * (1 - truth), 1e-4) / ess)
    assert np.all((np.abs(est - truth) / se)[~np.eye(8, dtype=bool)] < 4.5)
    steps = run_episode(world, RULES[4], graphs, x0, cfg, 0, "dp", log_w)
    assert len(steps) == 2
