"""The Goodharting gridworld: exact returns against brute-force rollouts, the simulated human against the
Bradley-Terry formula, the layout's promises, and a point estimate that games where worst-case and CVaR
agents do not."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bayesguard.experiments.preferences_agents import AgentConfig, RewardBelief, choose_policies
from bayesguard.worlds.goodhart import CELL, FEATURES, GoodhartConfig, GoodhartWorld, SimulatedHuman

TINY = [["G", "S", "X"], ["d", "m", "."]]  # 2 x 3, seen columns 0-1
STEPS = {0: (0, 0), 1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1)}  # stay, up, down, left, right


def _next_cell(layout, fence=None):
    """Next state of every (state, action), from grid coordinates (written independently)."""
    rows, cols = len(layout), len(layout[0])
    out = np.zeros((rows * cols, 5), dtype=int)
    for r, c, a in itertools.product(range(rows), range(cols), range(5)):
        nr, nc = r + STEPS[a][0], c + STEPS[a][1]
        inside = 0 <= nr < rows and 0 <= nc < cols and not (fence is not None and c < fence <= nc)
        out[r * cols + c, a] = nr * cols + nc if inside else r * cols + c
    return out


def _rollout(world, policies, steps=500):
    """Discounted true and proxy returns and whether a gaming cell is ever visited, by simulation."""
    nxt = _next_cell(world.layout.tolist())
    flat = world.layout.ravel()
    w = np.array(world.config.true_weights, float)
    w /= np.linalg.norm(w)
    h = world.config.hotspot_proxy
    true_r = np.array(
        [{"G": w[0] + w[1], "d": w[1], "m": w[2], "X": h * w[1] + w[3]}.get(x, 0.0) for x in flat]
    )
    proxy = np.array([{"G": 1.0, "d": 1.0, "X": h}.get(x, 0.0) for x in flat])
    s = np.full(policies.shape[0], world.start)
    ret, prox, visited = np.zeros(len(s)), np.zeros(len(s)), np.zeros(len(s), bool)
    for t in range(steps):
        ret += world.config.gamma**t * true_r[s]
        prox += world.config.gamma**t * proxy[s]
        visited |= flat[s] == "X"
        s = nxt[s, policies[np.arange(len(s)), s]]
    return ret, prox, visited


def test_exact_returns_match_brute_force_over_every_policy():
    world = GoodhartWorld.from_layout(TINY, GoodhartConfig(seen_cols=2))
    policies = np.array(list(itertools.product(range(5), repeat=6)))  # all 5^6 deterministic policies
    ev = world.evaluate(policies)
    ret, prox, visited = _rollout(world, policies)
    np.testing.assert_allclose(ev.true, ret, atol=1e-9)
    np.testing.assert_allclose(ev.proxy, prox, atol=1e-9)
    np.testing.assert_array_equal(ev.gaming, visited)
    assert visited.any() and not visited.all()
    assert ev.true.max() == pytest.approx(world.optimal_true_return(), abs=1e-8)
    best = world.evaluate(world.optimal_policies(world.true_weights))
    assert best.true[0] == pytest.approx(ret.max(), abs=1e-8) and not best.gaming[0]
    assert visited[np.argmax(prox)]  # the proxy-maximising policy games


def test_stochastic_occupancy_is_the_discounted_power_series():
    world = GoodhartWorld.make(3)
    rng = np.random.default_rng(0)
    pol = rng.dirichlet(np.ones(5), size=(2, world.n_states))  # (2, S, A)
    p_pi = np.einsum("nsa,sat->nst", pol, world.mdp.transitions)
    want = np.zeros((2, world.n_states))
    dist = np.zeros((2, world.n_states))
    dist[:, world.start] = 1.0
    for t in range(600):
        want += world.config.gamma**t * dist
        dist = np.einsum("ns,nst->nt", dist, p_pi)
    np.testing.assert_allclose(world.occupancy(pol), want, atol=1e-9)
    det = rng.integers(0, 5, size=(3, world.n_states))
    np.testing.assert_allclose(world.occupancy(det), world.occupancy(np.eye(5)[det]), atol=1e-12)
    with pytest.raises(ValueError, match="policies"):
        world.occupancy(np.full((1, world.n_states, 5), 0.3))


@pytest.mark.parametrize("seed", [0, 1, 7])
def test_layout_and_its_promises(seed):
    cfg = GoodhartConfig()
    world = GoodhartWorld.make(seed, cfg)
    flat = world.layout.ravel()
    counts = {code: int((flat == code).sum()) for code in CELL}
    assert counts == {
        ".": counts["."],
        "S": 1,
        "G": cfg.n_goals,
        "d": cfg.n_decoys,
        "m": cfg.n_mud,
        "X": cfg.n_lava,
    }
    col = np.arange(world.n_states) % cfg.cols
    assert np.all(col[np.isin(flat, ["G", "d", "m", "S"])] < cfg.seen_cols) and np.all(
        col[flat == "X"] >= cfg.seen_cols
    )
    np.testing.assert_array_equal(world.gaming_cells, flat == "X")
    seen_corr, unseen_corr = world.proxy_correlation()
    assert seen_corr > 0.5 and unseen_corr < 0
    assert world.render().count("|") == cfg.rows and world.true_weights @ world.true_weights == pytest.approx(
        1.0
    )
    # policies planned in the fenced grid never leave the seen region; a proxy-lover in the full grid games
    w = np.random.default_rng(seed).normal(size=(20, len(FEATURES)))
    occ = world.occupancy(world.optimal_policies(w, fenced=True))
    assert np.abs(occ[:, ~world.seen]).max() < 1e-12
    assert world.evaluate(world.optimal_policies(np.array([0.0, 1.0, 0.0, 0.0]))).gaming[0]


def test_support_trajectories_stay_in_the_seen_region_and_sum_features():
    world = GoodhartWorld.make(2)
    states, actions, feats = world.support_trajectories(30, 8, rng=1)
    assert states.shape == (30, 9) and actions.shape == (30, 8) and feats.shape == (30, 4)
    assert world.seen[states].all()
    nxt = _next_cell(world.layout.tolist(), fence=world.config.seen_cols)
    np.testing.assert_array_equal(states[:, 1:], nxt[states[:, :-1], actions])
    np.testing.assert_allclose(feats, world.features[states[:, :-1]].sum(axis=1))
    assert feats[:, 3].max() == 0  # lava is never seen


@pytest.mark.parametrize(("beta", "eps", "nu"), [(1.0, 0.0, 0.0), (2.0, 0.1, 0.0), (1.5, 0.05, 0.8)])
def test_simulated_human_answers_follow_bradley_terry(beta, eps, nu):
    w = np.array([0.6, 0.0, -0.3, -0.7])
    human = SimulatedHuman(w, beta, eps, nu)
    left = np.array([[1.0, 1, 0, 0], [0, 1, 0, 0], [2, 2, 1, 0], [0, 0, 0, 0]])
    right = np.array([[0.0, 0, 0, 0], [0, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
    d = (left - right) @ w
    if nu == 0:
        p_left = (1 - eps) / (1 + np.exp(-beta * d)) + eps / 2
        want = np.stack([p_left, 1 - p_left, 0 * d], 1)
    else:  # Davidson: left : right : equal = e^{beta d/2} : e^{-beta d/2} : nu, then mistakes over 3
        z = np.exp(beta * d / 2) + np.exp(-beta * d / 2) + nu
        want = (1 - eps) * np.stack(
            [np.exp(beta * d / 2) / z, np.exp(-beta * d / 2) / z, nu / z], 1
        ) + eps / 3
    np.testing.assert_allclose(human.probs(left, right), want, atol=1e-12)
    reps = 20_000
    rng = np.random.default_rng(5)
    ans = human.answer(np.repeat(left, reps, 0), np.repeat(right, reps, 0), rng).answer.reshape(4, reps)
    freq = np.stack([(ans == k).mean(axis=1) for k in range(3)], 1)
    se = np.sqrt(want * (1 - want) / reps)
    assert np.all(np.abs(freq - want) <= 5 * se + 1e-12)


def test_point_estimate_games_where_worst_case_and_cvar_do_not():
    layout = [["G", ".", "."] + ["."] * 2, [".", ".", "S", "X", "X"], ["m", ".", "d", ".", "."]]
    world = GoodhartWorld.from_layout(layout, GoodhartConfig(seen_cols=3))
    # two theories that agree on every seen feature; the less probable one says lava is terrible
    theories = np.array([[0.5, 0.5, -0.2, 0.0], [0.5, 0.5, -0.2, -2.0]])
    belief = RewardBelief(theories, np.array([0.9, 0.1]))
    cand, chosen = choose_policies(world, belief, AgentConfig(n_plan=10), rng=0)
    ev = world.evaluate(cand.policies)
    games = {name: float(dist @ ev.gaming) for name, dist in chosen.items()}
    true = {name: float(dist @ ev.true) for name, dist in chosen.items()}
    assert games["point-mean"] == 1.0 and games["mean"] == 1.0  # the posterior mean plans for the lava
    assert games["worst-case"] == 0.0 and games["cvar"] == 0.0 and games["quantilizer"] == 0.0
    assert true["worst-case"] == pytest.approx(world.optimal_true_return())
    assert true["cvar"] == pytest.approx(world.optimal_true_return()) and true["point-mean"] < 0
    for dist in chosen.values():
        assert dist.sum() == pytest.approx(1.0) and dist.min() >= 0


def test_bad_configs_name_the_field():
    with pytest.raises(ValueError, match="seen_cols"):
        GoodhartConfig(cols=4, seen_cols=4)
    with pytest.raises(ValueError, match="hotspot_proxy"):
        GoodhartConfig(hotspot_proxy=1.0)
    with pytest.raises(ValueError, match="true_weights"):
        GoodhartConfig(true_weights=(1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="layout"):
        GoodhartWorld.from_layout(
            [["S", "X", "."]], GoodhartConfig(seen_cols=2)
        )  # lava where the human looks
    with pytest.raises(ValueError, match="layout"):
        GoodhartWorld.from_layout([["S", "G", "S"]], GoodhartConfig(seen_cols=2))
    with pytest.raises(ValueError, match="left, right"):
        SimulatedHuman(np.ones(4), 1.0).probs(np.ones((2, 4)), np.ones((2, 3)))
