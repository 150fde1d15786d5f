"""The guarded gridworld agents' shared contract (issue 13): protocol, config, registry, simulated human.

Every bayesguard agent for the AI Safety Gridworlds implements :class:`GuardedAgent`:

- ``train(env_factory, n_episodes, seed)`` prepares the agent (it may build a model of the world from
  the simulator's ``clone_state``/``restore_state``, ask the simulated human questions, learn from
  episodes); every human answer is counted in ``n_answers``;
- ``act(env) -> action`` for the env's current state: every proposed action goes through
  ``self.guard.check(context, action)`` first; a REJECTed action is never returned (the agent takes its
  next-best allowed action, or its documented fallback); an ASK is counted in ``n_asks`` and resolved
  by the simulated human (counted in ``n_answers``) or by the fallback;
- ``rejected`` / ``executed``: lists of ``(state_key, action)``. A rejection is *sticky*: once ``a`` is
  rejected in state ``s`` the agent never returns ``a`` in ``s`` again, so ``set(executed) &
  set(rejected)`` is empty (:func:`log_violations` checks it). An agent whose verdicts change as the
  human answers may extend the key (the specification agents use ``(state_key, answers so far)``);
- ``describe()``: the theories in words (the family's ``describe`` of the most probable ones).

:data:`GUARDED` maps a world's short name (``bayesguard.envs.gridworlds.WORLDS``) to a factory
``(config: GuardedConfig, seed: int) -> GuardedAgent``. The worlds register themselves from
``agents/guarded_spec.py`` (the specification worlds) and ``agents/guarded_robust.py`` (the robustness
worlds) with :func:`register`; both are imported on the first read of :data:`GUARDED`. A world without a
principled bayesguard answer registers :func:`no_principled_answer`, whose factory raises
:class:`NoPrincipledAnswer` with the reason (the bench prints it instead of numbers).

The world model (reachable states by ``clone_state``/``restore_state`` and ``state_key``, a
:class:`~bayesguard.theories.reward.TabularMDP` of it, finite-horizon planning batched over theories)
is in :mod:`.world_model`, re-exported here.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from .._validate import positive_int, unit_interval
from ..guard.reward_rules import RewardRule, RewardRuleConfig
from ..guard.rules import Rule
from ..theories.reward import Preferences
from ..worlds.simulated_human import SimulatedHuman
from .world_model import (
    END,
    FeatureFn,
    ModelTooLarge,
    WorldModel,
    build_world_model,
    optimal_policies,
    policy_feature_sums,
    policy_values,
    q_features,
    q_values,
)

if TYPE_CHECKING:
    from ..envs.gridworlds import GridWorldEnv

EnvFactory = Callable[[], "GridWorldEnv"]


class NoPrincipledAnswer(Exception):
    """Raised by the factory of a world where bayesguard has no principled agent; ``reason`` says why."""

    def __init__(self, world: str, reason: str) -> None:
        super().__init__(f"{world}: no principled bayesguard answer: {reason}")
        self.world = world
        self.reason = reason


@dataclass(frozen=True)
class GuardedConfig:
    """Budgets and rules of a guarded agent (every world reads the fields it needs; defaults in brackets).

    Attributes:
        n_questions: human answers the agent may use while training [8].
        max_asks: ASK verdicts the human resolves while acting, over the agent's life [10]; after that
            an ASK falls back to the world's documented fallback.
        beta: the simulated human's rationality on hidden-performance units: ``P(prefer A over B) =
            sigmoid(beta (perf_A - perf_B))`` [1.0]; the agent knows it (and ``eps``).
        eps: the human's mistake rate in [0, 1] [0.0].
        guard_rule: the guard's harm rule (:class:`~bayesguard.guard.rules.Rule` name) ["cautious"].
        alpha: the cautious rule's ``M_alpha`` parameter, also the worst-case reward rule's [0.01].
        threshold: the guard's harm threshold C in [0, 1) [0.5]. Regret harm is 0/1 per theory, so an
            action is ALLOWed when no plausible theory says it wastes more than ``regret_tol``,
            REJECTed when theories holding more than C of the posterior say so, ASKed in between.
        regret_tol: regret (hidden-performance units) tolerated before an action is a harm [1.0].
        reward_rule: the conservative rule choosing a policy among candidates
            (:class:`~bayesguard.guard.reward_rules.RewardRule` name) ["worst-case"].
        cvar_q: the tail fraction of ``cvar``/``broil`` [0.1].
        n_plan: posterior draws whose optimal policies are candidates [12].
        pool_size: trajectories in the pool questions are drawn from [32].
        max_states: the largest reachable state space a world model may have [60000].
        n_samples: draws per state-action pair whose step uses randomness, in a world model [32].
        n_rollouts: Monte Carlo rollouts where an expectation is not exact [32].
        train_episodes: learning episodes, for agents that learn from experience [300].
    """

    n_questions: int = 8
    max_asks: int = 10
    beta: float = 1.0
    eps: float = 0.0
    guard_rule: str = "cautious"
    alpha: float = 0.01
    threshold: float = 0.5
    regret_tol: float = 1.0
    reward_rule: str = "worst-case"
    cvar_q: float = 0.1
    n_plan: int = 12
    pool_size: int = 32
    max_states: int = 60_000
    n_samples: int = 32
    n_rollouts: int = 32
    train_episodes: int = 300

    def __post_init__(self) -> None:
        for name in ("n_questions", "max_asks"):
            positive_int(getattr(self, name), name, minimum=0)
        for name in ("n_plan", "pool_size", "max_states", "n_samples", "n_rollouts", "train_episodes"):
            positive_int(getattr(self, name), name)
        for name in ("beta", "regret_tol"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
        unit_interval(self.eps, "eps")
        unit_interval(self.alpha, "alpha", open_left=True)
        unit_interval(self.cvar_q, "cvar_q", open_left=True)
        if not 0.0 <= float(self.threshold) < 1.0:
            raise ValueError(f"threshold: expected a number in [0, 1), got {self.threshold!r}")
        Rule.parse(self.guard_rule)
        RewardRule.parse(self.reward_rule)

    def rule_config(self) -> RewardRuleConfig:
        """The conservative policy-selection rule as a :class:`RewardRuleConfig`."""
        return RewardRuleConfig(self.reward_rule, alpha=self.alpha, q=self.cvar_q)


@runtime_checkable
class GuardedAgent(Protocol):
    """What every guarded gridworld agent offers (see the module docstring for the guarantees)."""

    guard: Any
    n_asks: int
    n_answers: int
    rejected: list[tuple[Hashable, int]]
    executed: list[tuple[Hashable, int]]

    def train(self, env_factory: EnvFactory, n_episodes: int, seed: int) -> None:
        """Prepare the agent on fresh environments from ``env_factory`` (human answers are counted)."""
        ...

    def act(self, env: GridWorldEnv) -> int:
        """An action for ``env``'s current state that the guard did not reject there."""
        ...

    def describe(self) -> str:
        """The agent's theories and decision rule, in words."""
        ...


class GuardedLog:
    """Counters and the sticky rejection log every guarded agent keeps (mix in, call ``_init_log``)."""

    def _init_log(self) -> None:
        self.n_asks = 0
        self.n_answers = 0
        self.rejected: list[tuple[Hashable, int]] = []
        self.executed: list[tuple[Hashable, int]] = []
        self._blocked: set[tuple[Hashable, int]] = set()

    def is_blocked(self, key: Hashable, action: int) -> bool:
        """Whether ``action`` was ever rejected in state ``key``."""
        return (key, int(action)) in self._blocked

    def log_reject(self, key: Hashable, action: int) -> None:
        """Record a REJECT of ``action`` in ``key`` (it stays blocked there)."""
        pair = (key, int(action))
        if pair not in self._blocked:
            self._blocked.add(pair)
            self.rejected.append(pair)

    def log_execute(self, key: Hashable, action: int) -> int:
        """Record that ``action`` is returned in ``key``; raises RuntimeError if it was rejected there."""
        if self.is_blocked(key, action):
            raise RuntimeError(f"guarded agent: action {action} was rejected in this state")
        self.executed.append((key, int(action)))
        return int(action)


def log_violations(agent: Any) -> list[tuple[Hashable, int]]:
    """Executed ``(state_key, action)`` pairs that were also rejected (empty for a correct agent)."""
    bad = set(agent.rejected)
    return [pair for pair in agent.executed if pair in bad]


# ---------------------------------------------------------------------------------------- the human
class TrajectoryHuman:
    """A simulated human who watches two trajectories and prefers the one with the higher HIDDEN
    performance, with Bradley-Terry noise: ``P(left) = (1 - eps) sigmoid(beta (perf_l - perf_r)) +
    eps / 2`` (:class:`~bayesguard.worlds.simulated_human.SimulatedHuman` with the one "feature"
    performance and weight 1). ``n_answers`` counts every answer given.

    The answer is returned as a :class:`~bayesguard.theories.reward.Preferences` record over the
    agent's own features of the two trajectories, so a reward family conditions on it directly; if the
    hidden reward is ``w* . phi`` per step, the learner's model with this ``beta`` is exactly right.
    """

    def __init__(self, beta: float, eps: float = 0.0) -> None:
        self.oracle = SimulatedHuman(np.ones(1), float(beta), float(eps))
        self.n_answers = 0

    @property
    def model(self) -> Any:
        """The learner's (correct) :class:`~bayesguard.theories.reward.HumanModel` of this human."""
        return self.oracle.model

    def prefers_left(self, perf_left: float, perf_right: float, rng: np.random.Generator) -> bool:
        """One answer: True when the human prefers the left trajectory (counted)."""
        ans = self.oracle.answer([[float(perf_left)]], [[float(perf_right)]], rng)
        self.n_answers += 1
        return int(ans.answer[0]) == 0

    def compare(
        self,
        left: np.ndarray,
        right: np.ndarray,
        perf_left: float,
        perf_right: float,
        rng: np.random.Generator,
    ) -> Preferences:
        """One answer about trajectories with features ``left``, ``right`` ``(f,)`` and hidden
        performances ``perf_left``, ``perf_right``, as a one-answer Preferences record (counted)."""
        first = self.prefers_left(perf_left, perf_right, rng)
        return Preferences(
            np.asarray(left, float)[None], np.asarray(right, float)[None], np.array([0 if first else 1])
        )


# ---------------------------------------------------------------------------------------- episodes
class EpisodeOutcome(NamedTuple):
    """One guarded episode: visible return, hidden performance, steps."""

    visible: float
    performance: float
    steps: int


def play_episode(
    agent: Any, env: GridWorldEnv, seed: int | None = None, options: dict[str, Any] | None = None
) -> EpisodeOutcome:
    """Reset ``env`` (``seed``, ``options``), call ``agent.begin_episode(env)`` if it has one, then step
    ``agent.act(env)`` to the end, calling ``agent.observe(env, action, reward, terminated, truncated,
    info)`` after every step when the agent has it (an agent that learns while it acts); the performance
    is ``info["performance"]``."""
    env.reset(seed=seed, options=options)
    begin, observe = getattr(agent, "begin_episode", None), getattr(agent, "observe", None)
    if begin is not None:
        begin(env)
    term = trunc = False
    info: dict[str, Any] = {}
    while not (term or trunc):
        action = agent.act(env)
        _, reward, term, trunc, info = env.step(action)
        if observe is not None:
            observe(env, action, float(reward), bool(term), bool(trunc), info)
    return EpisodeOutcome(float(info["visible_return"]), float(info["performance"]), int(env.t))


# ---------------------------------------------------------------------------------------- registry
#: Modules that register guarded agents, imported on the first read of :data:`GUARDED`.
GUARDED_MODULES: tuple[str, ...] = ("guarded_spec", "spec_tomato", "guarded_robust")
_FACTORIES: dict[str, Callable[..., Any]] = {}


def register(world: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: register ``factory(config, seed) -> GuardedAgent`` for world short name ``world``."""

    def deco(factory: Callable[..., Any]) -> Callable[..., Any]:
        _FACTORIES[world] = factory
        return factory

    return deco


def no_principled_answer(world: str, reason: str) -> Callable[..., Any]:
    """Register for ``world`` a factory that raises :class:`NoPrincipledAnswer` with ``reason``."""

    def factory(config: GuardedConfig | None = None, seed: int = 0) -> Any:
        raise NoPrincipledAnswer(world, reason)

    factory.reason = reason  # type: ignore[attr-defined]
    return register(world)(factory)


class _LazyRegistry(Mapping[str, Callable[..., Any]]):
    """World short name -> factory; imports :data:`GUARDED_MODULES` on first use (a module that does
    not exist yet is skipped; an error inside one is raised)."""

    def __init__(self) -> None:
        self._loaded = False

    def _load(self) -> dict[str, Callable[..., Any]]:
        if not self._loaded:
            self._loaded = True
            for mod in GUARDED_MODULES:
                full = f"{__package__}.{mod}"
                try:
                    importlib.import_module(full)
                except ModuleNotFoundError as exc:
                    if exc.name != full:
                        raise
        return _FACTORIES

    def __getitem__(self, world: str) -> Callable[..., Any]:
        return self._load()[world]

    def __iter__(self) -> Iterator[str]:
        return iter(dict(self._load()))

    def __len__(self) -> int:
        return len(self._load())


GUARDED: Mapping[str, Callable[..., Any]] = _LazyRegistry()


def make_guarded(world: str, config: GuardedConfig | None = None, seed: int = 0) -> Any:
    """The guarded agent of ``world`` (raises :class:`NoPrincipledAnswer` where there is none)."""
    if world not in GUARDED:
        raise ValueError(f"world: expected one of {sorted(GUARDED)}, got {world!r}")
    return GUARDED[world](config or GuardedConfig(), seed)


__all__ = [
    "END",
    "GUARDED",
    "GUARDED_MODULES",
    "EnvFactory",
    "EpisodeOutcome",
    "FeatureFn",
    "GuardedAgent",
    "GuardedConfig",
    "GuardedLog",
    "ModelTooLarge",
    "NoPrincipledAnswer",
    "TrajectoryHuman",
    "WorldModel",
    "build_world_model",
    "log_violations",
    "make_guarded",
    "no_principled_answer",
    "optimal_policies",
    "play_episode",
    "policy_feature_sums",
    "policy_values",
    "q_values",
    "q_features",
    "register",
]
