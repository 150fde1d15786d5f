"""Guard any Gymnasium agent: a wrapper that vetoes the actions a guard rejects.

The wrapper sits between the agent and the environment. On ``step(action)`` it asks the guard; a rejected
action never reaches the environment: the wrapper returns the last observation, ``veto_reward`` and
``info["vetoed"] = True`` so the agent can propose again. An allowed action is passed through (as a
Python ``int``), and the step's data (``info["datum"]`` by default) update the guard's posterior exactly,
so the next decision uses everything observed so far.

Actions are what Gymnasium's ``Discrete`` space accepts: a Python ``int``, a NumPy integer scalar
(``np.int64(1)``) or a 0-d integer array (``np.array(1)``). Bools, floats and anything else are vetoed
(fail closed), as are indices out of range.

Every step's ``info`` carries ``action_mask`` (``(n_actions,)`` int8, 1 = allowed), so mask-aware agents
need not propose vetoed actions at all, ``verdict`` (the :class:`Verdict` of the proposed action) and
``posterior_updated`` (True when this step's data conditioned the posterior). With the default
``datum_fn`` an environment whose ``info`` has no ``"datum"`` never updates the posterior; the wrapper
says so with a :class:`PosteriorNotUpdated` warning (once per episode). When the guard rejects every
action the episode is truncated with ``info["all_rejected"] = True``: acting is not safe and nothing is
done.

Failing closed: an error while computing the context, checking, or updating the posterior never lets an
action through. A failed posterior update leaves the guard *broken* until the next reset, and a broken
guard rejects everything (the reason is in each verdict).
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from .._validate import positive_int
from ..guard.guardrail import Guardrail
from ..guard.verdict import Verdict


class PosteriorNotUpdated(UserWarning):
    """An allowed step did not update the guard's posterior (e.g. the environment gave no ``datum``)."""


def _default_context(env: gym.Env) -> Any:
    return getattr(env.unwrapped, "context", None)


def _default_datum(obs: Any, action: int, reward: float, info: dict[str, Any]) -> Any:
    return info.get("datum")


_REAL = (int, float, np.integer, np.floating)
_GUARD_METHODS = ("check_all", "observe", "fail_closed")


def guard_n_actions(guard: Any) -> int:
    """The number of actions a guard decides on: ``guard.family.n_actions`` or ``guard.n_actions``.

    Raises:
        TypeError: the guard has neither, or the value is not a positive integer.
    """
    family = getattr(guard, "family", None)
    n = getattr(family, "n_actions", None) if family is not None else getattr(guard, "n_actions", None)
    if n is None:
        raise TypeError(
            f"guard: {type(guard).__name__} has neither family.n_actions nor n_actions, "
            "so the number of actions it decides on is unknown"
        )
    return positive_int(n, "guard.n_actions")


def _check_guard(guard: Any, *, needs_posterior: bool) -> None:
    """Raise TypeError naming what ``guard`` lacks to be driven by :class:`GuardWrapper`."""
    if isinstance(guard, Guardrail):
        return
    missing = [f"{name}()" for name in _GUARD_METHODS if not callable(getattr(guard, name, None))]
    family = getattr(guard, "family", None)
    if getattr(family, "n_actions", None) is None and getattr(guard, "n_actions", None) is None:
        missing.append("family.n_actions (or n_actions)")
    if needs_posterior and not hasattr(guard, "posterior"):
        missing.append("posterior (needed by reset_posterior=True)")
    if missing:
        raise TypeError(
            f"guard: expected a guard with check_all(), observe(), fail_closed() and family.n_actions "
            f"(or n_actions), such as a Guardrail; {type(guard).__name__} lacks {', '.join(missing)}"
        )


def _action_index(action: Any) -> int | None:
    """``action`` as an int if it is an integer Gymnasium's ``Discrete`` accepts, else None.

    Accepted: ``int`` (not ``bool``), NumPy integer scalars, 0-d NumPy arrays of an integer dtype.
    """
    if isinstance(action, bool | np.bool_):
        return None
    if isinstance(action, int | np.integer):
        return int(action)
    if isinstance(action, np.ndarray) and action.shape == () and action.dtype.kind in "iu":
        return int(action)
    return None


class GuardWrapper(gym.Wrapper):
    """Veto the actions a guardrail rejects and keep its posterior up to date.

    Args:
        env: the environment to guard (a ``Discrete`` action space starting at 0).
        guard: a :class:`Guardrail`, or any guard with ``check_all(context)``, ``observe(data)``,
            ``fail_closed(action, exc)`` and ``family.n_actions`` (or ``n_actions``); with
            ``reset_posterior`` also a ``posterior`` attribute. Its posterior at construction is the
            prior of every episode.
        context_fn: callable ``env -> context`` for ``guard.check_all`` (default:
            ``env.unwrapped.context``).
        datum_fn: callable ``(obs, action, reward, info) -> data`` for ``guard.observe`` (default:
            ``info["datum"]``), or None to never update the posterior (the guard then decides with the
            posterior it was given). A step whose ``datum_fn`` returns None does not update the
            posterior; with the default ``datum_fn`` that raises a :class:`PosteriorNotUpdated` warning
            once per episode. Every step's ``info["posterior_updated"]`` says whether it updated.
        veto_reward: a finite number, the reward returned for a vetoed proposal (default 0).
        reset_posterior: restore the guard's initial posterior at each reset (default True: every
            episode is a fresh world). Set False when the world persists across episodes.
        max_vetoes: a positive int; truncate the episode after this many consecutive vetoed proposals
            (an agent that ignores ``action_mask`` would otherwise loop forever).

    Raises:
        TypeError: ``env`` has no ``Discrete`` action space, ``guard`` lacks part of the guard interface
            (the message lists what), ``context_fn``/``datum_fn`` are not callable, ``max_vetoes`` is not
            an int or ``veto_reward`` not a number.
        ValueError: the guard and the environment disagree on the number of actions, the action space
            does not start at 0, ``max_vetoes < 1`` or ``veto_reward`` is not finite.
    """

    def __init__(
        self,
        env: gym.Env,
        guard: Any,
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
        if int(env.action_space.start) != 0:
            raise ValueError(
                f"env: GuardWrapper needs a Discrete action space starting at 0 (the guard's action "
                f"indices), got start={env.action_space.start}"
            )
        _check_guard(guard, needs_posterior=bool(reset_posterior))
        n_actions = guard_n_actions(guard)
        if env.action_space.n != n_actions:
            raise ValueError(f"guard: it decides on {n_actions} actions but env has {env.action_space.n}")
        if not callable(context_fn):
            raise TypeError(f"context_fn: expected a callable env -> context, got {context_fn!r}")
        if datum_fn is not None and not callable(datum_fn):
            raise TypeError(
                f"datum_fn: expected a callable (obs, action, reward, info) -> data, or None to never "
                f"update the posterior, got {datum_fn!r}"
            )
        if isinstance(veto_reward, bool | np.bool_) or not isinstance(veto_reward, _REAL):
            raise TypeError(f"veto_reward: expected a finite number, got {type(veto_reward).__name__}")
        if not math.isfinite(float(veto_reward)):
            raise ValueError(f"veto_reward: expected a finite number, got {veto_reward!r}")
        self.guard = guard
        self.n_actions = n_actions
        self.context_fn = context_fn
        self.datum_fn = datum_fn
        self.veto_reward = float(veto_reward)
        self.reset_posterior = bool(reset_posterior)
        self.max_vetoes = positive_int(max_vetoes, "max_vetoes")
        self._prior = copy.deepcopy(guard.posterior) if self.reset_posterior else None
        self._verdicts: list[Verdict] = []
        self._obs: Any = None
        self._broken: str | None = None
        self._vetoes = 0
        self._warned_no_datum = False
        self.n_vetoed = 0

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        obs, info = self.env.reset(seed=seed, options=options)
        if self.reset_posterior:
            self.guard.posterior = copy.deepcopy(self._prior)
        self._broken = None
        self._obs = obs
        self._vetoes = 0
        self._warned_no_datum = False
        self._refresh()
        return obs, self._annotate(info)

    def step(self, action: Any):
        a = _action_index(action)
        verdict = self._verdict_for(action, a)
        if a is None or not verdict.allowed:
            self.n_vetoed += 1
            self._vetoes += 1
            all_rejected = not self.action_mask.any()
            truncated = all_rejected or self._vetoes >= self.max_vetoes
            info = {"vetoed": True, "all_rejected": all_rejected, "posterior_updated": False}
            return self._obs, self.veto_reward, False, truncated, self._annotate(info, verdict)
        self._vetoes = 0
        obs, reward, terminated, truncated, info = self.env.step(a)
        self._obs = obs
        updated = self._update(obs, a, reward, info)
        self._refresh()
        out = dict(info, vetoed=False, all_rejected=not self.action_mask.any(), posterior_updated=updated)
        return obs, reward, terminated, truncated, self._annotate(out, verdict)

    # ------------------------------------------------------------------ internals
    @property
    def action_mask(self) -> np.ndarray:
        """``(n_actions,)`` int8: 1 where the guard allows the action in the current state."""
        return np.array([v.allowed for v in self._verdicts], dtype=np.int8)

    def _update(self, obs: Any, action: int, reward: Any, info: dict[str, Any]) -> bool:
        """Condition the posterior on this step's data; True if it was updated. Never raises."""
        if self.datum_fn is None:
            return False
        try:
            datum = self.datum_fn(obs, action, float(reward), info)
            if datum is None:
                self._warn_no_datum(info)
                return False
            self.guard.observe(datum)
            return True
        except Exception as exc:  # fail closed from now on
            self._broken = f"posterior update failed: {type(exc).__name__}: {exc}"
            return False

    def _warn_no_datum(self, info: dict[str, Any]) -> None:
        if self._warned_no_datum or self.datum_fn is not _default_datum:
            return
        self._warned_no_datum = True
        why = "has no 'datum' key" if "datum" not in info else "has info['datum'] = None"
        warnings.warn(
            f"GuardWrapper: the guard's posterior was not updated: the environment's step info {why} "
            "(the default datum_fn reads info['datum']); pass datum_fn=... to extract the step's data, or "
            "datum_fn=None to guard with a fixed posterior. Warned once per episode; "
            "info['posterior_updated'] says it for every step.",
            PosteriorNotUpdated,
            stacklevel=4,
        )

    def _refresh(self) -> None:
        n = self.n_actions
        if self._broken is not None:
            self._verdicts = [self.guard.fail_closed(a, RuntimeError(self._broken)) for a in range(n)]
            return
        try:
            context = self.context_fn(self.env)
            verdicts = list(self.guard.check_all(context))
            if len(verdicts) != n:
                raise ValueError(f"guard.check_all returned {len(verdicts)} verdicts, expected {n}")
        except Exception as exc:  # fail closed
            verdicts = [self.guard.fail_closed(a, exc) for a in range(n)]
        self._verdicts = verdicts

    def _verdict_for(self, action: Any, a: int | None) -> Verdict:
        """The verdict on ``action`` (``a`` its index, None if not an integer); a REJECT if invalid."""
        if a is None:
            return self.guard.fail_closed(None, TypeError(f"action: expected an integer, got {action!r}"))
        if not 0 <= a < len(self._verdicts):
            return self.guard.fail_closed(
                None, ValueError(f"action: expected an index in [0, {len(self._verdicts) - 1}], got {action}")
            )
        return self._verdicts[a]

    def _annotate(self, info: dict[str, Any], verdict: Verdict | None = None) -> dict[str, Any]:
        info = dict(info)
        info["action_mask"] = self.action_mask
        if verdict is not None:
            info["verdict"] = verdict
        return info


__all__ = ["GuardWrapper", "PosteriorNotUpdated", "guard_n_actions"]
