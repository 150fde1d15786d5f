"""The batched exploding-bandit engine against the per-episode reference, and the tightness bound."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bayesguard.experiments.bandit_episodes import (
    BanditConfig,
    boltzmann_choice,
    draw_episodes,
    run_batch,
    run_reference,
)
from bayesguard.experiments.bandit_grid import Cell, batch_seeds, grid_cells, run_grid, run_tightness

CONFIG = BanditConfig()

CELLS = [
    Cell("none", 0.01),
    Cell("oracle", 0.01),
    Cell("oracle", 0.1),
    Cell("posterior", 0.01),
    Cell("posterior", 0.1),
    Cell("cautious-iid", 0.1),
    Cell("cautious", 0.1, 1e-4, "worst"),
    Cell("cautious", 0.1, 0.1, "worst"),
    Cell("cautious", 0.01, 1.0, "order"),
    Cell("cautious", 0.1, 0.3, "order"),
    Cell("cautious", 0.1, 0.03, "order"),
    Cell("cautious", 0.1, 0.3, "random"),
    Cell("cautious", 0.1, 0.03, "random"),
]


@pytest.fixture(scope="module")
def draws():
    return draw_episodes(CONFIG, 24, seed=123)


@pytest.mark.parametrize("cell", CELLS, ids=lambda c: f"{c.label}-C{c.threshold}")
def test_batched_engine_matches_per_episode_reference(draws, cell):
    fast = run_batch(CONFIG, draws, cell.rule, cell.threshold, cell.alpha, cell.ties)
    ref = run_reference(CONFIG, draws, cell.rule, cell.threshold, cell.alpha, cell.ties)
    np.testing.assert_array_equal(fast.died, ref.died)
    np.testing.assert_array_equal(fast.steps, ref.steps)
    np.testing.assert_array_equal(fast.all_rejected, ref.all_rejected)
    np.testing.assert_allclose(fast.reward, ref.reward, rtol=1e-12, atol=1e-9)


def test_uniform_agent_matches_reference(draws):
    fast = run_batch(CONFIG, draws, "cautious", 0.1, 0.01, "order", agent="uniform")
    ref = run_reference(CONFIG, draws, "cautious", 0.1, 0.01, "order", agent="uniform")
    np.testing.assert_array_equal(fast.steps, ref.steps)
    np.testing.assert_allclose(fast.reward, ref.reward, rtol=1e-12, atol=1e-9)


def test_unguarded_death_rate_matches_its_own_exposure():
    """Without a guard, each pull explodes with P = 1 - Phi(4 - w.f_a): check the engine's bookkeeping.

    The death rate must equal the mean over episodes of 1 - prod_t (1 - h_t) computed from the same
    explosion probabilities; here with the uniform agent, whose pulls do not depend on the rewards.
    """
    from scipy.special import ndtr

    config = BanditConfig(horizon=5)
    d = draw_episodes(config, 4000, seed=9)
    out = run_batch(config, d, "none", 0.01, agent="uniform")
    arms = np.minimum((d.uniforms * config.n_arms).astype(int), config.n_arms - 1)  # (n, S)
    means = np.einsum("bak,bk->ba", d.features, d.weights)  # (n, A)
    h = ndtr(np.take_along_axis(means, arms, axis=1) - 4.0)  # (n, S)
    expected = 1.0 - np.prod(1.0 - h, axis=1)
    se = math.sqrt(np.mean(expected * (1 - expected)) / len(expected))
    assert abs(out.died.mean() - expected.mean()) < 4 * se


def test_boltzmann_choice_samples_only_allowed_actions_with_softmax_frequencies():
    rng = np.random.default_rng(0)
    n = 40_000
    logits = np.tile([0.0, 1.0, 2.0, 0.5], (n, 1))
    allowed = np.tile([True, False, True, True], (n, 1))
    choice = boltzmann_choice(logits, allowed, rng.random(n))
    assert set(np.unique(choice)) <= {0, 2, 3}
    p = np.exp([0.0, 2.0, 0.5])
    p /= p.sum()
    freq = np.array([(choice == a).mean() for a in (0, 2, 3)])
    assert np.all(np.abs(freq - p) < 4 * np.sqrt(p * (1 - p) / n))
    none = boltzmann_choice(logits[:3], np.zeros((3, 4), dtype=bool), rng.random(3))
    np.testing.assert_array_equal(none, [-1, -1, -1])


def test_grid_rows_and_common_random_numbers():
    cells = [Cell("none", 0.01), Cell("none", 0.1), Cell("cautious", 0.01, 0.01, "worst")]
    rows = run_grid(CONFIG, 60, 5, cells, batch_size=25, workers=1, progress=False)
    # "none" ignores C: on common random numbers both cells must give identical outcomes
    assert rows[0]["reward_mean"] == rows[1]["reward_mean"]
    assert rows[0]["death_rate"] == rows[1]["death_rate"]
    assert rows[2]["death_rate"] <= rows[0]["death_rate"]
    assert all(r["episodes"] == 60 for r in rows)
    sizes = [s for _, s in batch_seeds(5, 60, 25)]
    assert sizes == [25, 25, 10]
    again = run_grid(CONFIG, 60, 5, cells[:1], batch_size=25, workers=2, progress=False)
    assert again[0] == rows[0]  # worker processes change nothing


def test_grid_cells_cover_the_issue_grid():
    cells = grid_cells()
    assert len(cells) == 3 * (4 + 3 * 9)  # 4 plain rules + 9 alphas for each of 3 tie modes
    assert {c.threshold for c in cells} == {0.001, 0.01, 0.1}


def test_tightness_frequency_is_at_least_its_bound():
    """P(cautious estimate >= true harm at every step) >= 1 - alpha * 1024, within 3 standard errors."""
    n = 600
    rows = run_tightness(CONFIG, n, seed=11, batch_size=300, progress=False)
    for r in rows:
        b = r["bound"]
        tol = 3 * math.sqrt(max(b * (1 - b), 1e-12) / n)
        assert r["freq_episode"] >= b - tol, r
        assert r["freq_step"] >= r["freq_episode"]
    # the bound is not vacuous for the smallest alphas, and coverage falls as alpha grows
    worst = sorted((r for r in rows if r["ties"] == "worst"), key=lambda r: r["alpha"])
    assert worst[0]["bound"] > 0.98
    assert worst[-1]["freq_step"] < worst[0]["freq_step"]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"rule": "bogus", "threshold": 0.1}, "rule"),
        ({"rule": "posterior", "threshold": 1.5}, "threshold"),
        ({"rule": "cautious", "threshold": 0.1, "alpha": 0.0}, "alpha"),
        ({"rule": "cautious", "threshold": 0.1, "alpha": 0.1, "ties": "bogus"}, "ties"),
        ({"rule": "none", "threshold": 0.1, "agent": "greedy"}, "agent"),
    ],
)
def test_bad_experiment_input_names_the_field(draws, kwargs, field):
    with pytest.raises((ValueError, TypeError), match=field):
        run_batch(CONFIG, draws, **kwargs)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="sigma"):
        BanditConfig(sigma=0.0)
    with pytest.raises((ValueError, TypeError), match="horizon"):
        BanditConfig(horizon=0)
    with pytest.raises((ValueError, TypeError), match="episodes"):
        draw_episodes(CONFIG, 0, 1)


@pytest.mark.slow
def test_cautious_guard_beats_unguarded_at_scale():
    """2,000 episodes: the cautious guard (ties=worst, alpha=1e-4) cuts deaths far below no guard."""
    cells = [Cell("none", 0.01), Cell("cautious", 0.01, 1e-4, "worst"), Cell("oracle", 0.01)]
    none, cautious, oracle = run_grid(CONFIG, 2000, 3, cells, progress=False)
    se = math.hypot(none["death_se"], cautious["death_se"])
    assert none["death_rate"] - cautious["death_rate"] > 10 * se
    assert cautious["death_rate"] <= oracle["death_rate"] + 3 * math.hypot(
        cautious["death_se"], oracle["death_se"]
    )


@pytest.mark.parametrize("ties", ["order", "random"])
def test_ties_order_and_random_keep_exactly_k_members_in_the_engine(draws, ties):
    """The int16 rank once wrapped the sentinel and emptied M_alpha in the engine (almost nothing was
    rejected). With a uniform prior at step 0 and alpha = 0.3, |M_alpha| = 3 of 1,024 theories: some
    arm must be rejected in most worlds, and the engine must agree with the reference."""
    fast = run_batch(CONFIG, draws, "cautious", 0.01, 0.3, ties)
    ref = run_reference(CONFIG, draws, "cautious", 0.01, 0.3, ties)
    np.testing.assert_array_equal(fast.steps, ref.steps)
    from bayesguard.guard.rules import cautious_members

    p = np.full((draws.n_episodes, 2**CONFIG.n_features), 2.0**-CONFIG.n_features)
    rank = draws.tie_rank if ties == "random" else None
    assert (cautious_members(p, 0.3, ties, rank).sum(axis=1) == 3).all()
