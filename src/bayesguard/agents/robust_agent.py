"""What the guarded agents of the robustness worlds share: one episode with the agent's hooks
(:func:`play_guarded`) and the :class:`RobustAgent` base (config, random stream, counters and logs of
:class:`~.guarded.GuardedLog`, the one Guard over an enumerated family, memoised verdicts).

Verdicts are memoised per (guard, posterior update, ``ask``, context key): the guard is a deterministic
function of them (rule ``cautious`` with ties ``worst``, or any rule without randomness), so a repeated
context reuses its ``check_all`` verdicts instead of recomputing them.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

import numpy as np

from ..guard.guard import Guard
from ..guard.verdict import Verdict
from ..posterior import Posterior
from .guarded import GuardedConfig, GuardedLog, play_episode

if TYPE_CHECKING:
    pass


#: One episode of a guarded agent (the same function as :func:`~.guarded.play_episode`, which calls the
#: agent's ``observe`` hook after every step).
play_guarded = play_episode


class RobustAgent(GuardedLog):
    """What the robustness agents share: config, random stream, counters, logs, memoised verdicts."""

    world = ""

    def __init__(self, config: GuardedConfig | None = None, seed: int = 0) -> None:
        self.config = GuardedConfig() if config is None else config
        if not isinstance(self.config, GuardedConfig):
            raise TypeError(f"config: expected a GuardedConfig, got {type(self.config).__name__}")
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)
        self.guard: Guard | None = None
        self._memo: dict[Hashable, list[Verdict]] = {}
        self._init_log()

    def _guard(self, family: Any, **kwargs: Any) -> Guard:
        """The one Guard over ``family``'s enumerated prior, with the config's rule, alpha and C."""
        th = family.enumerate()
        post = Posterior.from_log_weights(th, family.log_prior(th), family=family.name, method="enumeration")
        cfg = self.config
        alpha = cfg.alpha if cfg.guard_rule == "cautious" else None
        return Guard(family, post, cfg.guard_rule, cfg.threshold, alpha=alpha, seed=self.seed, **kwargs)

    def verdicts(self, guard: Guard, context: Any, key: Hashable) -> list[Verdict]:
        """``guard.check_all(context)``, memoised by ``(guard, posterior update, key)``; ``key`` must
        identify the context."""
        memo_key = (id(guard), guard.n_updates, guard.ask, key)
        out = self._memo.get(memo_key)
        if out is None:
            if len(self._memo) > 50_000:
                self._memo.clear()
            out = self._memo[memo_key] = guard.check_all(context)
        return out

    def describe(self) -> str:
        """The theories in play: the five most probable with their posterior probabilities."""
        if self.guard is None:
            return f"{self.world}: not trained yet"
        fam, post = self.guard.family, self.guard.posterior
        lines = [
            f"{self.world}: {fam.name} theories, rule {self.guard.rule.value} (C={self.guard.threshold:g})"
        ]
        lines += [f"  p={p:.4f}  {fam.describe(post.theories[i])}" for i, p in post.top(5)]
        return "\n".join(lines)


__all__ = ["RobustAgent", "play_guarded"]
