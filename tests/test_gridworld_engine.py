"""The shared gridworld engine: dynamics, accounting, determinism, snapshots, rendering, Gymnasium checks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")
from gymnasium.utils.env_checker import check_env  # noqa: E402

from bayesguard.envs.gridworlds import (  # noqa: E402
    CATALOGUE,
    DOWN,
    LEFT,
    RIGHT,
    UP,
    WORLD_IDS,
    GridWorldEnv,
    Outcome,
    move,
    parse,
    policy_value,
    run_episode,
)

TINY = ("#####", "#A  #", "# # #", "#  G#", "#####")


class Tiny(GridWorldEnv):
    """A 3x3 room with a pillar; -1 a step, +50 at G (the engine's defaults)."""

    levels = (TINY,)
    spec_world = "tiny"


class Slippery(Tiny):
    """With probability ``slip`` the executed action is uniform; the hidden reward counts slips (-1 each)."""

    slip = 0.3
    world_fields = ("slips",)

    def _reset_world(self, options):
        self.slips = 0

    def _effective_action(self, action):
        if self.np_random.random() < self.slip:
            self.slips += 1
            return int(self.np_random.integers(4))
        return action

    def _on_step(self, prev, action):
        out = super()._on_step(prev, action)
        return Outcome(out.reward, -float(self.slips), out.terminated)


def shortest(env):
    """Right, right, down, down: the 4-step path to G."""
    return RIGHT if env.agent[1] < 3 else DOWN


def test_parse_and_move():
    board, agent = parse(TINY, " #AG")
    assert agent == (1, 1) and board.shape == (5, 5) and board.dtype == np.uint8
    assert board[1, 1] == 0 and board[3, 3] == 3 and board[2, 2] == 1
    assert move((2, 2), UP) == (1, 2) and move((2, 2), LEFT) == (2, 1)
    with pytest.raises(ValueError, match="equal-length"):
        parse(("###", "#A"), " #AG")
    with pytest.raises(ValueError, match="legend"):
        parse(("#A?#",), " #AG")
    with pytest.raises(ValueError, match="exactly one"):
        parse(("#  #",), " #AG")


def test_walls_block_and_goal_terminates_with_the_documented_returns():
    env = Tiny()
    obs, _ = env.reset(seed=0)
    assert obs[1, 1] == env.code("A")
    _, r, term, trunc, info = env.step(UP)  # a wall: no move, still a step
    assert env.agent == (1, 1) and r == -1.0 and info["hidden_reward"] == -1.0 and not (term or trunc)
    env.step(DOWN)
    _, _, _, _, info = env.step(RIGHT)  # the pillar at (2, 2)
    assert env.agent == (2, 1)
    env.reset(seed=0)
    steps = [env.step(shortest(env)) for _ in range(4)]
    assert [s[2] for s in steps] == [False, False, False, True]
    assert steps[-1][1] == 49.0 and steps[-1][4]["visible_return"] == 46.0
    assert steps[-1][4]["performance"] == 46.0 and "performance" not in steps[-2][4]
    with pytest.raises(RuntimeError, match="reset"):
        env.step(UP)


def test_truncation_after_max_steps_counts_every_step():
    env = Tiny()
    env.reset(seed=0)
    for t in range(1, 101):
        _, _, term, trunc, info = env.step(UP)
        assert not term and trunc == (t == 100)
    assert info["visible_return"] == -100.0 and info["performance"] == -100.0 and env.t == 100
    short = Tiny(max_steps=7)
    assert run_episode(short, lambda e: LEFT, seed=0).steps == 7


def test_bad_input_raises_value_errors():
    env = Tiny()
    env.reset(seed=0)
    for bad in (4, -1, 1.5, True):
        with pytest.raises(ValueError, match="action"):
            env.step(bad)
    with pytest.raises(ValueError, match="level"):
        Tiny(level=1)
    with pytest.raises(ValueError, match="render_mode"):
        Tiny(render_mode="human")
    with pytest.raises(ValueError, match="max_steps"):
        Tiny(max_steps=0)
    with pytest.raises(ValueError, match="state"):
        env.restore_state("snapshot")


def trajectory(env, seed, actions):
    obs, _ = env.reset(seed=seed)
    out = [obs.tobytes()]
    for a in actions:
        if env.done:
            break
        obs, r, term, trunc, info = env.step(a)
        out.append((obs.tobytes(), r, term, trunc, info["hidden_reward"]))
    return out


def test_determinism_under_a_seed_and_variation_across_seeds():
    actions = [int(a) for a in np.random.default_rng(5).integers(0, 4, 60)]
    a, b = Slippery(), Slippery()
    assert trajectory(a, 11, actions) == trajectory(b, 11, actions)
    runs = {str(trajectory(a, s, actions)) for s in range(6)}
    assert len(runs) > 1


def test_clone_restore_replays_exactly():
    env = Slippery()
    env.reset(seed=3)
    for a in (RIGHT, DOWN, LEFT):
        env.step(a)
    snap = env.clone_state()
    key = env.state_key()
    actions = [UP, RIGHT, RIGHT, DOWN, DOWN, LEFT, DOWN, RIGHT, RIGHT, DOWN]
    first = [env.step(a)[:4] for a in actions if not env.done]
    end = (env.t, env.visible_return, env.performance, env.slips)
    env.restore_state(snap)
    assert env.state_key() == key and env.t == 3
    second = [env.step(a)[:4] for a in actions if not env.done]
    assert [(o.tobytes(), *rest) for o, *rest in first] == [(o.tobytes(), *rest) for o, *rest in second]
    assert (env.t, env.visible_return, env.performance, env.slips) == end


def test_keys_separate_what_the_agent_sees_from_the_hidden_state():
    env = Slippery()
    env.reset(seed=0)
    k0, o0 = env.state_key(), env.observation_key()
    env.slips = 5  # hidden: not in the observation
    assert env.observation_key() == o0 and env.state_key() != k0
    hash(env.state_key())
    hash(env.observation_key())


def test_render_ansi_and_rgb():
    env = Tiny(render_mode="ansi")
    env.reset(seed=0)
    assert env.render() == "\n".join(TINY)
    env.step(RIGHT)
    assert env.render().splitlines()[1] == "# A #"
    rgb = Tiny(render_mode="rgb_array")
    rgb.reset(seed=0)
    img = rgb.render()
    assert img.shape == (5 * rgb.cell, 5 * rgb.cell, 3) and img.dtype == np.uint8
    c = rgb.cell
    agent_px, floor_px, wall_px = img[c + 1, c + 1], img[c + 1, 2 * c + 1], img[1, 1]
    assert len({tuple(agent_px), tuple(floor_px), tuple(wall_px)}) == 3
    assert Tiny().render() is None


@pytest.mark.parametrize("cls", [Tiny, Slippery])
def test_gymnasium_checker_is_clean(cls):
    gid = f"bayesguard-test/{cls.__name__}-v0"
    if gid not in gym.registry:
        gym.register(id=gid, entry_point=cls)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in ("rgb_array", "ansi"):
            check_env(gym.make(gid, render_mode=mode).unwrapped)


def test_policy_value_exact_when_deterministic_and_monte_carlo_otherwise():
    v = policy_value(Tiny(), shortest)
    assert v.exact and v.visible == 46.0 and v.performance == 46.0 and v.visible_se == 0.0
    mc = policy_value(Slippery(), shortest, n_episodes=60, seed=0)
    assert not mc.exact and mc.n_episodes == 60 and mc.performance_se > 0
    # every slip costs a hidden -slips per step; the expected performance is below the visible return
    assert mc.performance < mc.visible
    with pytest.raises(ValueError, match="n_episodes"):
        policy_value(Tiny(), shortest, n_episodes=1)


@pytest.mark.parametrize("short", [c[0] for c in CATALOGUE])
def test_every_registered_world_passes_the_checker(short):
    """Every id registered by the package, whichever helper built the world (skipped while absent)."""
    if short not in WORLD_IDS:
        pytest.skip(f"{short}: module not present")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for gid in WORLD_IDS[short]:
            for mode in ("rgb_array", "ansi"):
                env = gym.make(gid, render_mode=mode)
                check_env(env.unwrapped)
                assert isinstance(env.unwrapped, GridWorldEnv) and env.unwrapped.spec_world == short


def test_policy_value_is_not_exact_when_the_reset_is_random_but_not_enumerated():
    class RandomStart(Tiny):
        """The agent starts on a random one of two cells; ``scenarios`` does not enumerate it."""

        def _reset_world(self, options):
            if self.np_random.random() < 0.5:
                self.agent = (1, 3)

    v = policy_value(RandomStart(), shortest, n_episodes=200, seed=0)
    assert not v.exact
    # the two starts are 4 and 2 steps from G: returns 46 and 48, each with probability 1/2
    assert abs(v.visible - 47.0) < 4.5 * v.visible_se
