"""The guarded agent of friend or foe: a posterior over who places the reward, and a cautious response.

Theories (:class:`~.robust_theories.PlacerFamily`, one exact posterior and one
:class:`~bayesguard.guard.guard.Guard` per floor symbol, since the agent is not told what a floor
means): the room's placer is a friend, a neutral placer or an adversary, each as the world defines it,
with a uniform prior. The data are the placements the agent sees: opening a box ends the episode and
the visible reward says whether the reward was in it, so the placement is known; each comes with the
placers' smoother state before it, which the agent computes from its own choices in that room (rate
0.25, starting at (0.5, 0.5) on a fresh environment: a new env instance has fresh placers).

Decision, once per episode at its first step, over three strategies (LEFT box, RIGHT box, COIN): the
guard checks all three (cautious rule, ``GuardedConfig.alpha``, ``threshold``); the harm of a strategy
is the probability that the placement goes against it beyond what a fair coin concedes (a steady habit
against an adversary: 1; the coin: 0 under every theory, so it is always allowed). Among the ALLOWed
strategies the agent takes the one with the highest posterior-expected chance of the reward; LEFT and
RIGHT tie under a friend, and then the side of its habit wins (the friend rewards the habit). An ASK
(plausible theories disagree, the posterior does not condemn) is resolved by the fallback: the strategy
is not taken, so against a plausible adversary the agent randomises 50/50. No human is asked.

Logs: the guarded action is the strategy (0, 1, 2), logged with the key ``(env.state_key(), posterior
update)``; the moves that walk to the chosen box follow from it and are not logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..envs.gridworlds.engine import UP
from ..envs.gridworlds.friend_foe import RATE
from ..envs.gridworlds.paths import toward
from ..guard.guard import Guard
from ..guard.verdict import Decision
from .guarded import EnvFactory, GuardedConfig, register
from .robust_agent import RobustAgent, play_guarded
from .robust_theories import COIN, STRATEGIES, PlacementData, PlacerFamily

if TYPE_CHECKING:
    from ..envs.gridworlds import GridWorldEnv


class FriendFoeAgent(RobustAgent):
    """Posterior over the placer of each room; the best allowed strategy (see the module docstring).

    Attributes:
        guards: floor symbol -> the room's guard; ``guard`` is the one used last.
        memory: floor symbol -> ``(2,)`` the placers' smoother state for this env instance.
        history: floor symbol -> list of ``(memory before, placement)`` the agent observed.
        choices: ``(floor, strategy, side)`` of every episode played.
    """

    world = "friend-foe"

    def __init__(self, config: GuardedConfig | None = None, seed: int = 0) -> None:
        super().__init__(config, seed)
        self.family = PlacerFamily()
        self.guards: dict[str, Guard] = {}
        self.memory: dict[str, np.ndarray] = {}
        self.history: dict[str, list[tuple[np.ndarray, int]]] = {}
        self.choices: list[tuple[str, int, int]] = []
        self._env: Any = None
        self._episode: tuple[str, int, int, np.ndarray] | None = None
        self.train_performance: list[float] = []  # hidden performance of each training episode (reports)

    def room_guard(self, floor: str) -> Guard:
        """The guard of the room whose floor is ``floor`` (built on first sight)."""
        if floor not in self.guards:
            self.guards[floor] = self._guard(self.family, ask=False)  # nobody to ask: REJECT instead
            self.history[floor] = []
        return self.guards[floor]

    def posterior(self, floor: str) -> np.ndarray:
        """``(3,)`` P(friend, neutral, adversary | placements seen in the room ``floor``)."""
        post = self.room_guard(floor).posterior
        out = np.zeros(3)
        np.add.at(out, post.theories, post.probs)
        return out

    def _memory(self, env: GridWorldEnv, floor: str) -> np.ndarray:
        if env.unwrapped is not self._env:  # a fresh env: fresh placers
            self._env, self.memory = env.unwrapped, {}
        return self.memory.setdefault(floor, np.full(2, 0.5))

    def decide(self, env: GridWorldEnv) -> tuple[int, int]:
        """``(strategy, side)`` for this episode, through the room's guard."""
        floor = env.under_agent()
        guard = self.guard = self.room_guard(floor)
        mem = self._memory(env, floor)
        verdicts = self.verdicts(guard, None, "placer")
        post = guard.posterior
        reward_prob = 1.0 - post.expect(self.family.empty_prob()[post.theories])  # (3,)
        habit = int(np.argmax(mem))  # ties: left
        # best expected reward first; between the two boxes, the habit's side first
        order = sorted(range(3), key=lambda s: (-round(float(reward_prob[s]), 12), s != habit, s))
        state = (env.state_key(), guard.n_updates)
        for s in order:
            if self.is_blocked(state, s):
                continue
            d = verdicts[s].decision
            if d is Decision.ALLOW:
                self.log_execute(state, s)
                side = int(self.rng.integers(2)) if s == COIN else s
                self._episode = (floor, s, side, mem.copy())
                self.choices.append((floor, s, side))
                return s, side
            if d is Decision.REJECT:
                self.log_reject(state, s)
            else:
                self.n_asks += 1  # fallback: not taken (the coin is always allowed)
        raise RuntimeError("friend-foe: the guard allows no strategy (the coin should always be allowed)")

    def act(self, env: GridWorldEnv) -> int:
        """The move toward this episode's box (the strategy is decided at the episode's first step)."""
        if env.t == 0 or self._episode is None:
            self.decide(env)
        assert self._episode is not None
        side = self._episode[2]
        box, other = env.box_cells[side], env.box_cells[1 - side]
        a = toward(env, [box], blocked=lambda p: p == other)
        return UP if a is None else int(a)

    def begin_episode(self, env: GridWorldEnv) -> None:
        """A new episode: the strategy is decided at its first move."""
        self._episode = None

    def observe(self, env: GridWorldEnv, action: int, reward: float, terminated: bool, truncated: bool,
                info: dict) -> None:  # fmt: skip
        """At the box: the visible reward tells where the reward was; the room's posterior conditions on
        that placement and the smoother follows the agent's choice."""
        if not terminated or self._episode is None:
            return
        floor, _, side, before = self._episode
        placed = side if reward > 0 else 1 - side
        self.room_guard(floor).observe(PlacementData(before[None], np.array([placed])))
        self.history[floor].append((before, placed))
        mem = RATE * np.eye(2)[side] + (1.0 - RATE) * self.memory[floor]
        self.memory[floor] = mem / mem.sum()
        self._episode = None

    def train(self, env_factory: EnvFactory, n_episodes: int, seed: int) -> None:
        """Play ``n_episodes`` consecutive episodes of one ``env_factory()`` env, learning the placers."""
        env = env_factory()
        for i in range(n_episodes):
            self.train_performance.append(play_guarded(self, env, seed if i == 0 else None).performance)

    def describe(self) -> str:
        """Each room's posterior over its placer, and the strategies."""
        lines = [f"{self.world}: placer theories per floor symbol, strategies {', '.join(STRATEGIES)}"]
        for floor in self.guards:
            p = self.posterior(floor)
            lines.append(f"  floor {floor!r}: " + ", ".join(
                f"p={p[i]:.4f} {self.family.describe(i)}" for i in range(3)))  # fmt: skip
        return "\n".join(lines)


@register("friend-foe")
def make_friend_foe(config: GuardedConfig | None = None, seed: int = 0) -> FriendFoeAgent:
    """The guarded agent of friend or foe."""
    return FriendFoeAgent(config, seed)


__all__ = ["FriendFoeAgent", "make_friend_foe"]
