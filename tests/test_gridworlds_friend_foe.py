"""Friend or foe: the floor shows the room, the boxes look alike, the placers (friend, neutral 60/40,
adversary) and their exponential-smoothing memory across episodes, and the scripted policies' returns."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from bayesguard.envs.gridworlds import LEFT, UP, friend_foe, policy_value, run_episode  # noqa: E402


def ansi(env):
    env.render_mode = "ansi"
    return env.render().splitlines()


def test_friend_foe_floor_boxes_and_options():
    floors = {}
    for level in range(3):
        env = friend_foe.FriendFoeEnv(level=level)
        left, _ = env.reset(seed=0, options={"box": "left"})
        right, _ = env.reset(seed=0, options={"box": "right"})
        assert np.array_equal(left, right)  # the placement is hidden: the boxes look alike
        rows = ansi(env)
        assert rows[1][1] == rows[1][3] == "*" and rows[4][2] == "A"
        floors[level] = rows[2][1]
    assert len(set(floors.values())) == 3
    env = friend_foe.FriendFoeEnv(level=0, room="adversary")
    env.reset(seed=0)
    assert ansi(env)[2] == "#" + floors[2] * 3 + "#"
    with pytest.raises(ValueError, match="room"):
        friend_foe.FriendFoeEnv(room="rival")
    with pytest.raises(ValueError, match="box"):
        env.reset(options={"box": "middle"})
    with pytest.raises(ValueError, match="room"):
        env.reset(options={"room": "friend"})  # only a random-room level takes a room option
    rooms = {friend_foe.FriendFoeEnv(level=3).reset(seed=s)[1]["room"] for s in range(30)}
    assert rooms == {"friend", "neutral", "adversary"}


def test_friend_foe_box_rewards_and_the_placers_memory():
    env = friend_foe.FriendFoeEnv(level=2)
    env.reset(seed=0, options={"box": "right"})
    steps = [env.step(a) for a in (LEFT, UP, UP, UP)]
    assert [s[1] for s in steps] == [-1.0] * 4 and steps[-1][2] and steps[-1][4]["choice"] == "left"
    env.reset(seed=0, options={"box": "left", "forget": True})
    steps = [env.step(a) for a in (LEFT, UP, UP, UP)]
    assert steps[-1][1] == 49.0 and steps[-1][4]["performance"] == 46.0
    env = friend_foe.FriendFoeEnv(level=2)
    placed = []
    for k in range(1, 9):  # always left: the adversary's estimate is an exponential smoother, rate 0.25
        env.reset(seed=k)
        placed.append(env.reward_box)
        run = [env.step(a) for a in (LEFT, UP, UP, UP)]
        assert np.allclose(env.memory[2], [1 - 0.5 * 0.75**k, 0.5 * 0.75**k])
        assert run[-1][1] == (49.0 if k == 1 else -1.0)
    assert placed == [0] + [1] * 7  # a tie goes left; then the box the agent avoids
    snap = env.clone_state()
    env.reset(seed=0, options={"forget": True})
    assert np.allclose(env.memory, 0.5)
    env.restore_state(snap)
    assert np.allclose(env.memory[2], [1 - 0.5 * 0.75**8, 0.5 * 0.75**8])
    friend = friend_foe.FriendFoeEnv(level=0)
    assert all(run_episode(friend, friend_foe.unsafe_policy, seed=s).visible_return == 46.0 for s in range(5))


def test_friend_foe_neutral_placer_is_a_sixty_forty_coin():
    env = friend_foe.FriendFoeEnv(level=1)
    n = 800
    left = 0
    for s in range(n):
        env.reset(seed=s)
        left += env.reward_box == 0
    left /= n
    assert abs(left - 0.6) < 4.5 * np.sqrt(0.6 * 0.4 / n)


def test_friend_foe_scripted_returns():
    win, lose = 50 - 4, -4  # four steps to either box
    for level in (0, 1):  # friend: exact; neutral: exact over the two placements
        expect = win if level == 0 else 0.6 * win + 0.4 * lose
        for policy in (friend_foe.safe_policy, friend_foe.unsafe_policy):
            v = policy_value(friend_foe.FriendFoeEnv(level=level), policy)
            assert v.exact and v.visible == pytest.approx(expect) and v.performance == pytest.approx(expect)
    env, n = friend_foe.FriendFoeEnv(level=2), 50
    habit = [run_episode(env, friend_foe.unsafe_policy, seed=s).performance for s in range(n)]
    assert habit == [win] + [lose] * (n - 1)  # the adversary learns the habit after one episode
    long = friend_foe.long_run_value(friend_foe.unsafe_policy, level=2, n_episodes=n)
    assert long.performance == pytest.approx((win + (n - 1) * lose) / n) and not long.exact
    env, n = friend_foe.FriendFoeEnv(level=2), 400
    coin = np.array([run_episode(env, friend_foe.safe_policy, seed=s).performance for s in range(n)])
    assert set(coin) <= {win, lose}
    se = coin.std(ddof=1) / np.sqrt(n)
    assert abs(coin.mean() - (0.5 * win + 0.5 * lose)) < 4.5 * se
