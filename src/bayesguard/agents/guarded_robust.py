"""Guarded agents for the robustness worlds: distributional shift (lava), safe exploration (island
navigation) and friend or foe (:mod:`.guarded_foe`), each deciding through the one
:class:`~bayesguard.guard.guard.Guard` over theories written out in :mod:`.robust_theories`.

**Island navigation** (:class:`IslandAgent`). Theories: for each cell symbol the agent cannot walk
through without knowing its effect (floor ``' '`` and water ``'W'``; walls block, ``G`` is the goal the
task names), "entering it is deadly / safe" (:class:`~.robust_theories.CellTypeFamily`, prior
``P(deadly) = 0.5``, updated by the agent's own transitions: the start cell, where it stands alive, is
one survival of its symbol). The agent learns the visible reward by tabular Q-learning keyed by its
observation, as the baseline does, but every move goes through the guard first (cautious rule,
``GuardedConfig.alpha`` and ``threshold``): a move into a symbol that a plausible theory calls deadly
has a cautious harm estimate of ``1 - lapse`` > C and is never ALLOWed. Nobody answers questions on the
island, so the guard is built with ``ask=False``: where the plausible theories disagree (water, never
entered, so never learnt to be safe or deadly: posterior harm 0.5) it REJECTs instead of ASKing, and the
agent takes its next-best allowed move.

**Distributional shift** (:class:`LavaAgent`). The same cell theories (``' '``, ``'L'``) keep it out of
visible lava. It trains on level 0 only: Q-learning keyed by its cell (the map it memorises) under the
guard. At test time (levels 1 and 2) the guard's support check (``guard/support.py``, categorical:
exact match) compares the state's features, the agent's cell and the 3x3 neighbourhood it sees, with
every state visited in training: a state unlike them makes every allowed move ASK. An ASK is resolved by
the simulated human, whose one answer is a demonstration: the safe path from that state to the goal
(the world's ``safe_policy``, shortest path avoiding visible lava, shown on a snapshot of the simulator);
its states join the support and its moves become the policy there (``demo_steps`` counts them).
``GuardedConfig.max_asks`` bounds the human's answers over the agent's life; after that the fallback
takes the ASKed move when the theories alone allow it (the support check, not harm, asked). An ASK
because the theories disagree about a move in a supported state (lava, never entered, may or may not
kill) is not taken. While training nobody answers: the guard's ``ask`` is False then (disagreement is
a REJECT) and True while acting.

Logs (:class:`~.guarded.GuardedLog`): ``rejected`` and ``executed`` hold ``(env.state_key(), action)``;
a rejection is sticky. Verdicts are memoised per (posterior update, ``ask``, context): the guard is a
deterministic function of both (rule ``cautious``, ties ``worst``), so a repeated context reuses its
``check_all`` verdicts instead of recomputing them.

Episodes: :func:`play_guarded` runs one episode and calls the optional hooks ``begin_episode(env)`` and
``observe(env, action, reward, terminated, truncated, info)`` (friend or foe learns from the latter).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

import numpy as np

from ..guard.support import SupportConfig
from ..guard.verdict import Decision, Verdict
from .guarded import EnvFactory, GuardedConfig, register
from .robust_agent import RobustAgent, play_guarded
from .robust_theories import KNOWN_SAFE, CellContext, CellData, CellTypeFamily
from .tabular import QLearningAgent, QLearningConfig

if TYPE_CHECKING:
    from ..envs.gridworlds import GridWorldEnv

#: Side of the square neighbourhood in the lava agent's support features.
WINDOW = 3


class CellTypeAgent(RobustAgent):
    """Q-learning on the visible reward whose every move is checked against cell-type theories (see
    the module docstring; :class:`IslandAgent` and :class:`LavaAgent` differ in keys and ASKs).

    ``asks_human``: whether a human answers while the agent acts; the guard is built with
    ``ask=asks_human`` (a guard with nobody to ask REJECTs where it would ASK) and with ``ask=False``
    while training.
    """

    asks_human = False

    def __init__(self, config: GuardedConfig | None = None, seed: int = 0) -> None:
        super().__init__(config, seed)
        self.family: CellTypeFamily | None = None
        self.q: QLearningAgent | None = None
        self._pending = np.zeros((0, 2))
        self.deaths = 0  # training episodes that ended in death (a deadly symbol entered)
        self.train_performance: list[float] = []  # hidden performance of each training episode (reports)

    # ---- set-up from the first env seen
    def _setup(self, env: GridWorldEnv, n_episodes: int) -> None:
        if self.family is not None:
            return
        unknown = tuple(s for s in env.symbols if s not in env.solid and s not in "AG")
        n = int(env.action_space.n)
        self.family = CellTypeFamily(unknown, n, support_names=self.support_names(env))
        self.guard = self._guard(self.family, support=SupportConfig(enabled=True), ask=self.asks_human)
        self.q = QLearningAgent(n, QLearningConfig(episodes=max(1, n_episodes)), seed=self.seed)
        self._pending = np.zeros((self.family.k, 2))
        self._symbols = {s: j for j, s in enumerate(unknown)}

    def support_names(self, env: GridWorldEnv) -> tuple[str, ...] | None:
        return None

    # ---- what the agent sees
    def qkey(self, env: GridWorldEnv) -> Hashable:
        """The Q-table's key (default: the observation)."""
        return env.observation_key()

    def features(self, env: GridWorldEnv) -> np.ndarray | None:
        """Support features of the state (default: none, no support check)."""
        return None

    def entered(self, env: GridWorldEnv) -> list[str]:
        """``(n_actions,)`` the symbol each action leads onto (the current cell's for a bump)."""
        from ..envs.gridworlds import move

        here = env.under_agent()
        out = []
        for a in range(int(env.action_space.n)):
            t = move(env.agent, a)
            out.append(here if env.is_solid(t) else env.symbol_at(t))
        return out

    def context(self, env: GridWorldEnv, features: np.ndarray | None) -> tuple[CellContext, Hashable]:
        """The guard's context and its memo key. A move that stays put or enters the goal enters no
        unknown symbol (index -1: harm 0)."""
        from ..envs.gridworlds import move

        targets = np.full(int(env.action_space.n), KNOWN_SAFE, dtype=np.int64)
        for a in range(targets.size):
            t = move(env.agent, a)
            if not env.is_solid(t) and t != env.agent:
                targets[a] = self._symbols.get(env.symbol_at(t), KNOWN_SAFE)
        fkey = None if features is None else features.tobytes()
        return CellContext(targets, features), (targets.tobytes(), fkey)

    # ---- choosing a move
    def _order(self, key: Hashable, epsilon: float) -> list[int]:
        assert self.q is not None
        n = self.q.n_actions
        tie = self.rng.random(n)
        if epsilon > 0.0 and self.rng.random() < epsilon:
            return [int(a) for a in np.argsort(tie)]
        return [int(a) for a in np.lexsort((tie, -self.q.q(key)))]

    def choose(self, env: GridWorldEnv, epsilon: float, testing: bool) -> int:
        """The first move of the preference order the guard allows (REJECTs logged, ASKs resolved by
        :meth:`on_ask`); raises RuntimeError when no move is allowed."""
        assert self.guard is not None
        state = env.state_key()
        feats = self.features(env) if testing else None
        ctx, mkey = self.context(env, feats)
        verdicts = self.verdicts(self.guard, ctx, mkey)
        for a in self.preferred(env, feats, self._order(self.qkey(env), epsilon)):
            if self.is_blocked(state, a):
                continue
            d = verdicts[a].decision
            if d is Decision.ALLOW:
                return self.log_execute(state, a)
            if d is Decision.REJECT:
                self.log_reject(state, a)
                continue
            self.n_asks += 1
            resolved = self.on_ask(env, a, verdicts[a], feats)
            if resolved is not None:
                return self.log_execute(state, resolved)
        raise RuntimeError(f"{self.world}: the guard allows no move in this state")

    def preferred(self, env: GridWorldEnv, features: np.ndarray | None, order: list[int]) -> list[int]:
        """The preference order over moves (default: the Q-learner's)."""
        return order

    def on_ask(
        self, env: GridWorldEnv, action: int, verdict: Verdict, features: np.ndarray | None
    ) -> int | None:
        """Resolve an ASK on ``action``: the move to take, or None to try the next one (default)."""
        return None

    # ---- learning
    def begin_episode(self, env: GridWorldEnv) -> None:
        """Set up on the first env; the start cell, where the agent stands alive, is one survival."""
        self._setup(env, self.config.train_episodes)
        j = self._symbols.get(env.under_agent())
        if j is not None:
            self._pending[j, 0] += 1
            self._flush()

    def _flush(self, contexts: np.ndarray | None = None) -> None:
        """Condition the guard on the pending transitions (and add support ``contexts``)."""
        assert self.guard is not None
        if self._pending.sum() or contexts is not None:
            self.guard.observe(CellData(self._pending.copy(), contexts))
            self._pending[:] = 0

    def _count(self, symbol: str, died: bool) -> None:
        j = self._symbols.get(symbol)
        if j is not None:
            self._pending[j, int(died)] += 1

    def train(self, env_factory: EnvFactory, n_episodes: int, seed: int) -> None:
        """Q-learning for ``n_episodes`` on ``env_factory()``, every move through the guard; the
        posterior follows the transitions (updated after each episode, and at once on a death)."""
        env = env_factory()
        self._setup(env, n_episodes)
        assert self.q is not None and self.guard is not None
        self.guard.ask = False  # nobody to ask while training: a disagreement is a REJECT
        seen: set[bytes] = set()
        for i in range(n_episodes):
            env.reset(seed=seed if i == 0 else None)
            self.begin_episode(env)
            eps = self.q.epsilon(i, n_episodes)
            new: list[np.ndarray] = []
            while True:
                f = self.features(env)
                if f is not None and f.tobytes() not in seen:
                    seen.add(f.tobytes())
                    new.append(f)
                key, onto = self.qkey(env), self.entered(env)
                a = self.choose(env, eps, testing=False)
                _, r, term, trunc, _ = env.step(a)
                died = term and onto[a] != "G"
                self._count(onto[a], died)
                self.deaths += int(died)
                self.q.observe(key, a, float(r), self.qkey(env), bool(term))
                if term or trunc:
                    break
            self.train_performance.append(float(env.performance))
            self._flush(np.array(new) if new else None)
        self.q.end_training()
        self.guard.ask = self.asks_human

    def act(self, env: GridWorldEnv) -> int:
        """The greedy move among those the guard allows (ASKs resolved as the world says)."""
        if self.family is None:
            self._setup(env, self.config.train_episodes)
        return self.choose(env, 0.0, testing=True)

    def observe(self, env: GridWorldEnv, action: int, reward: float, terminated: bool, truncated: bool,
                info: dict) -> None:  # fmt: skip
        """While acting, the transition still informs the cell theories (at the episode's end)."""
        symbol = env.under_agent()
        self._count(symbol, terminated and symbol != "G")
        if terminated or truncated:
            self._flush()


class IslandAgent(CellTypeAgent):
    """Safe exploration on the island: an ASK is never taken (the next-best allowed move is)."""

    world = "island-navigation"


class LavaAgent(CellTypeAgent):
    """Distributional shift: trained on level 0, the human demonstrates on states unlike training."""

    world = "distributional-shift"
    asks_human = True

    def __init__(self, config: GuardedConfig | None = None, seed: int = 0) -> None:
        super().__init__(config, seed)
        self.demos: dict[bytes, int] = {}
        self.demo_steps = 0  # demonstrated moves, over all answers
        self.asked: list[tuple[Hashable, np.ndarray]] = []  # (state_key, features) of every ASK

    def support_names(self, env: GridWorldEnv) -> tuple[str, ...]:
        r = WINDOW // 2
        cells = [f"cell({dr:+d},{dc:+d})" for dr in range(-r, r + 1) for dc in range(-r, r + 1)]
        return ("row", "col", *cells)

    def qkey(self, env: GridWorldEnv) -> Hashable:
        """The agent's cell: the map it memorises on the training level."""
        return env.agent

    def features(self, env: GridWorldEnv) -> np.ndarray:
        """``(2 + WINDOW**2,)``: row, column and the symbol codes it sees around it (walls outside)."""
        view = np.frombuffer(env.observation_key(), dtype=np.uint8).reshape(env.observation_space.shape)
        r = WINDOW // 2
        pad = np.pad(view, r, constant_values=int(env.code("#")))
        row, col = env.agent
        window = pad[row : row + WINDOW, col : col + WINDOW]
        return np.concatenate([[row, col], window.ravel()]).astype(np.float64)

    def preferred(self, env: GridWorldEnv, features: np.ndarray | None, order: list[int]) -> list[int]:
        """A demonstrated move first, where the human answered in this state."""
        demo = None if features is None else self.demos.get(features.tobytes())
        return order if demo is None else [demo, *(a for a in order if a != demo)]

    def on_ask(
        self, env: GridWorldEnv, action: int, verdict: Verdict, features: np.ndarray | None
    ) -> int | None:
        """An ASK because the state is unlike the training data: the simulated human demonstrates (while
        ``max_asks`` lasts); past the budget, ``action`` is taken when the theories alone allow it. An
        ASK because the theories disagree about ``action``: it is not taken."""
        assert self.guard is not None
        if verdict.support is None or verdict.support["in_support"] or features is None:
            return None
        self.asked.append((env.state_key(), features))
        if self.n_answers >= self.config.max_asks:
            return action if verdict.harm_estimate <= verdict.threshold else None
        self.demonstrate(env)
        answer = self.demos[features.tobytes()]
        state = env.state_key()
        ctx, mkey = self.context(env, features)
        if self.verdicts(self.guard, ctx, mkey)[answer].decision is Decision.REJECT:
            self.log_reject(state, answer)
            return None
        return None if self.is_blocked(state, answer) else answer

    def demonstrate(self, env: GridWorldEnv) -> None:
        """One answer: the human shows the safe path from here to the goal (the world's ``safe_policy``,
        played on a snapshot of the simulator, which is then restored); every state on it becomes a
        demonstration and joins the support."""
        from ..envs.gridworlds.lava import safe_policy

        snap = env.clone_state()
        rows = []
        try:
            while not env.done:
                f, a = self.features(env), int(safe_policy(env))
                self.demos[f.tobytes()] = a
                rows.append(f)
                env.step(a)
        finally:
            env.restore_state(snap)
        self.n_answers += 1
        self.demo_steps += len(rows)
        self._flush(np.array(rows))


@register("island-navigation")
def make_island(config: GuardedConfig | None = None, seed: int = 0) -> IslandAgent:
    """The guarded agent of island navigation."""
    return IslandAgent(config, seed)


@register("distributional-shift")
def make_lava(config: GuardedConfig | None = None, seed: int = 0) -> LavaAgent:
    """The guarded agent of the lava world (train on level 0, act on levels 1 and 2)."""
    return LavaAgent(config, seed)


from . import guarded_foe  # noqa: E402,F401  (registers friend-foe)

__all__ = [
    "WINDOW",
    "CellTypeAgent",
    "IslandAgent",
    "LavaAgent",
    "RobustAgent",
    "make_island",
    "make_lava",
    "play_guarded",
]
