"""Guard any Gymnasium agent: a wrapper that vetoes the actions a :class:`Guardrail` rejects.

The wrapper sits between the agent and the environment. On ``step(action)`` it asks the guard; a rejected
action never reaches the environment: the wrapper returns the last observation, ``veto_reward`` and
``info["vetoed"] = True`` so the agent can propose again. An allowed action is passed through, and the
step's data (``info["datum"]`` by default) update the guard's posterior exactly, so the next decision
uses everything observed so far.

Every ``info`` carries ``action_mask`` (``(n_actions,)`` int8, 1 = allowed), so mask-aware agents need not
propose vetoed actions at all, and ``verdict`` (the :class:`Verdict` of the proposed action). When the
guard rejects every action the episode is truncated with ``info["all_rejected"] = True``: acting is not
safe and nothing is done.

Failing closed: an error while computing the context, checking, or updating the posterior never lets an
action through. A failed posterior update leaves the guard *broken* until the next reset, and a broken
guard rejects everything (the reason is in each verdict).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from ..guard.guardrail import Guardrail
from ..guard.verdict import Verdict


def _default_context(env: gym.Env) -> Any:
    return getattr(env.unwrapped, "context", None)


def _default_datum(obs: Any, action: int, reward: float, info: dict[str, Any]) -> Any:
    return info.get("datum")


class GuardWrapper(gym.Wrapper):
    """Veto the actions a guardrail rejects and keep its posterior up to date.

    Args:
        env: the environment to guard (discrete actions).
        guard: the :class:`Guardrail`; its posterior at construction is the prior of every episode.
        context_fn: ``env -> context`` for ``guard.check`` (default: ``env.unwrapped.context``).
        datum_fn: ``(obs, action, reward, info) -> data`` for ``guard.observe``, or None to skip the
            update (default: ``info["datum"]``).
        veto_reward: reward returned for a vetoed proposal (default 0).
        reset_posterior: restore the guard's initial posterior at each reset (default True: every
            episode is a fresh world). Set False when the world persists across episodes.
        max_vetoes: truncate the episode after this many consecutive vetoed proposals (an agent that
            ignores ``action_mask`` would otherwise loop forever).
    """

    def __init__(
        self,
        env: gym.Env,
        guard: Guardrail,
        *,
        context_fn: Callable[[gym.Env], Any] = _default_context,
        datum_fn: Callable[[Any, int, float, dict[str, Any]], Any] | None = _default_datum,
        veto_reward: float = 0.0,
        reset_posterior: bool = True,
        max_vetoes: int = 1000,
    ) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, gym.spaces.Discrete):
            raise TypeError(f"env: GuardWrapper needs a Discrete action space, got {env.action_space}")
        if not isinstance(guard, Guardrail):
            raise TypeError(f"guard: expected a Guardrail, got {type(guard).__name__}")
        if env.action_space.n != guard.family.n_actions:
            raise ValueError(
                f"guard: its family has {guard.family.n_actions} actions but env has {env.action_space.n}"
            )
        self.guard = guard
        self.context_fn = context_fn
        self.datum_fn = datum_fn
        self.veto_reward = float(veto_reward)
        self.reset_posterior = reset_posterior
        self.max_vetoes = int(max_vetoes)
        self._prior = copy.deepcopy(guard.posterior)
        self._verdicts: list[Verdict] = []
        self._obs: Any = None
        self._broken: str | None = None
        self._vetoes = 0
        self.n_vetoed = 0

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self.reset_posterior:
            self.guard.posterior = copy.deepcopy(self._prior)
        self._broken = None
        self._obs = obs
        self._vetoes = 0
        self._refresh()
        return obs, self._annotate(info)

    def step(self, action: Any):
        verdict = self._verdict_for(action)
        if not verdict.allowed:
            self.n_vetoed += 1
            self._vetoes += 1
            all_rejected = not self.action_mask.any()
            truncated = all_rejected or self._vetoes >= self.max_vetoes
            info = {"vetoed": True, "all_rejected": all_rejected}
            return self._obs, self.veto_reward, False, truncated, self._annotate(info, verdict)
        self._vetoes = 0
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._obs = obs
        if self.datum_fn is not None:
            try:
                datum = self.datum_fn(obs, int(action), float(reward), info)
                if datum is not None:
                    self.guard.observe(datum)
            except Exception as exc:  # fail closed from now on
                self._broken = f"posterior update failed: {type(exc).__name__}: {exc}"
        self._refresh()
        out = dict(info, vetoed=False, all_rejected=not self.action_mask.any())
        return obs, reward, terminated, truncated, self._annotate(out, verdict)

    # ------------------------------------------------------------------ internals
    @property
    def action_mask(self) -> np.ndarray:
        """``(n_actions,)`` int8: 1 where the guard allows the action in the current state."""
        return np.array([v.allowed for v in self._verdicts], dtype=np.int8)

    def _refresh(self) -> None:
        n = self.guard.family.n_actions
        if self._broken is not None:
            self._verdicts = [self.guard.fail_closed(a, RuntimeError(self._broken)) for a in range(n)]
            return
        try:
            context = self.context_fn(self.env)
        except Exception as exc:  # fail closed
            self._verdicts = [self.guard.fail_closed(a, exc) for a in range(n)]
            return
        self._verdicts = self.guard.check_all(context)

    def _verdict_for(self, action: Any) -> Verdict:
        if isinstance(action, bool) or not isinstance(action, int | np.integer):
            return self.guard.fail_closed(None, TypeError(f"action: expected an integer, got {action!r}"))
        if not 0 <= int(action) < len(self._verdicts):
            return self.guard.fail_closed(
                None, ValueError(f"action: expected an index in [0, {len(self._verdicts) - 1}], got {action}")
            )
        return self._verdicts[int(action)]

    def _annotate(self, info: dict[str, Any], verdict: Verdict | None = None) -> dict[str, Any]:
        info = dict(info)
        info["action_mask"] = self.action_mask
        if verdict is not None:
            info["verdict"] = verdict
        return info
