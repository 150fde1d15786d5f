"""The theories of the robustness worlds, written out: which cell types kill, and who places the box.

Two small enumerable :class:`~bayesguard.theories.base.TheoryFamily` classes, both exact (every theory
is listed, the posterior is the enumeration) and both batched over theories:

- :class:`CellTypeFamily` (island navigation, distributional shift): for ``k`` cell symbols whose
  effect is unknown, a theory is a ``(k,)`` 0/1 vector, ``theory[j] = 1``: "entering symbol ``j``
  ends the episode in death" (deadly), ``0``: "it is safe". ``2**k`` theories with an independent
  prior ``P(deadly) = prior_deadly`` per symbol. The data are the agent's own transitions
  (:class:`CellData`: how often it entered each symbol and lived or died); a theory explains a death
  on a safe symbol, or a survival on a deadly one, only as a lapse of probability ``lapse``. The harm
  of an action is ``P(death | the symbol it enters, theory)``; an action that enters no unknown
  symbol (a bump into a wall, the goal the task names) has harm 0. The family also carries the
  support check's contexts (:class:`CellContext` features, categorical: a context is supported when
  the same feature vector occurs among the training contexts).
- :class:`PlacerFamily` (friend or foe): three theories of the hidden placer of one room, 0 friend,
  1 neutral, 2 adversary, as the world describes them: the friend puts the reward in the box the
  agent is most likely to open, the adversary in the box it is least likely to open (both by an
  exponential smoother of the agent's choices with rate 0.25, ties: left), the neutral placer left
  with p = 0.6. The data (:class:`PlacementData`) are the placements the agent saw, each with the
  smoother's state before it (the agent computes it from its own choices); a deterministic placer
  that contradicts a placement does so with probability ``lapse``. The agent's options are three
  strategies, LEFT box, RIGHT box, COIN (a fair coin picks the box); the harm of a strategy under a
  placer is the probability that the placement goes against it beyond what a fair coin concedes,
  ``max(0, 2 P(empty box) - 1)``, for a placer that has learnt the strategy as a habit (the long
  run): friend ``(0, 0, 0)``, neutral ``(0, 0.2, 0)``, adversary ``(1, 1, 0)``. A coin is never
  harmed (an adversary cannot out-guess it); a steady habit is, by an adversary.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from .._validate import as_float_array, unit_interval

#: The cell family's harm index of an action that enters no unknown symbol (a bump, the goal).
KNOWN_SAFE = -1


class CellData(NamedTuple):
    """Observed transitions by cell symbol, and (optionally) support contexts.

    Attributes:
        counts: ``(k, 2)`` per unknown symbol: entries survived, entries that ended in death.
        contexts: ``(n, f)`` feature rows of contexts that join the guard's support (None: none).
    """

    counts: np.ndarray
    contexts: np.ndarray | None = None


class CellContext(NamedTuple):
    """What the guard sees of a state for :class:`CellTypeFamily`.

    Attributes:
        targets: ``(n_actions,)`` int, the index of the unknown symbol each action enters, or
            :data:`KNOWN_SAFE` (-1) when it enters none.
        features: ``(f,)`` support features of the state, or None (no support check: while training).
    """

    targets: np.ndarray
    features: np.ndarray | None = None


@dataclass(frozen=True)
class CellTypeFamily:
    """Theories "symbol ``j`` is deadly / safe" for the ``k`` unknown symbols (see the module docstring).

    Attributes:
        symbols: the ``k`` unknown cell symbols, e.g. ``(" ", "W")``.
        n_actions: the agent's number of actions.
        prior_deadly: the prior ``P(deadly)`` of every symbol, in (0, 1).
        lapse: probability that a transition contradicts its theory (a death on a safe symbol, or a
            survival on a deadly one), in (0, 0.5).
        support_names: names of the ``f`` support features (for the guard's reasons).
    """

    symbols: tuple[str, ...]
    n_actions: int
    prior_deadly: float = 0.5
    lapse: float = 1e-3
    support_names: tuple[str, ...] | None = None
    name: str = "cell-types"
    support_categorical: bool = field(default=True, init=False)
    _table: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.symbols or len(set(self.symbols)) != len(self.symbols):
            raise ValueError(f"symbols: expected distinct cell symbols, got {self.symbols!r}")
        if not 0.0 < unit_interval(self.prior_deadly, "prior_deadly") < 1.0:
            raise ValueError(f"prior_deadly: expected a number in (0, 1), got {self.prior_deadly!r}")
        if not 0.0 < unit_interval(self.lapse, "lapse") < 0.5:
            raise ValueError(f"lapse: expected a number in (0, 0.5), got {self.lapse!r}")
        table = np.array(list(itertools.product((0, 1), repeat=len(self.symbols))), dtype=np.uint8)
        object.__setattr__(self, "_table", table)

    @property
    def k(self) -> int:
        return len(self.symbols)

    def enumerate(self) -> np.ndarray:
        """Every theory: ``(2**k, k)`` uint8, 1 = deadly."""
        return self._table.copy()

    def _theories(self, theories: np.ndarray) -> np.ndarray:
        t = np.asarray(theories)
        if t.ndim != 2 or t.shape[1] != self.k or not np.isin(t, (0, 1)).all():
            raise ValueError(f"theories: expected an (n_theories, {self.k}) array of 0/1, got {t.shape}")
        return t.astype(np.float64)

    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """``(n_theories,)`` independent Bernoulli(prior_deadly) per symbol."""
        t = self._theories(theories)
        p = self.prior_deadly
        return t @ np.full(self.k, np.log(p)) + (1.0 - t) @ np.full(self.k, np.log1p(-p))

    def log_likelihood(self, theories: np.ndarray, data: CellData) -> np.ndarray:
        """``(n_theories,)`` log P(outcomes | theory) of the counted transitions."""
        if not isinstance(data, CellData):
            raise TypeError(f"data: expected CellData, got {type(data).__name__}")
        counts = as_float_array(data.counts, "data.counts", ndim=2)
        if counts.shape != (self.k, 2) or (counts < 0).any():
            raise ValueError(f"data.counts: expected non-negative ({self.k}, 2) counts, got {counts.shape}")
        t = self._theories(theories)
        lo, hi = np.log(self.lapse), np.log1p(-self.lapse)
        deadly = counts[:, 0] * lo + counts[:, 1] * hi  # (k,) log-lik of the counts if symbol is deadly
        safe = counts[:, 0] * hi + counts[:, 1] * lo
        return t @ deadly + (1.0 - t) @ safe

    def harm_prob(self, theories: np.ndarray, context: CellContext, action: int | None = None) -> np.ndarray:
        """``(n_theories, n_actions)`` (or ``(n_theories,)``) P(death | entered symbol, theory)."""
        if not isinstance(context, CellContext):
            raise TypeError(f"context: expected a CellContext, got {type(context).__name__}")
        tg = np.asarray(context.targets)
        if tg.shape != (self.n_actions,) or tg.min() < KNOWN_SAFE or tg.max() >= self.k:
            raise ValueError(f"context.targets: expected ({self.n_actions},) indices in [-1, {self.k - 1}]")
        t = self._theories(theories)
        p_death = t * (1.0 - 2.0 * self.lapse) + self.lapse  # (n_theories, k)
        harm = np.where(tg[None] >= 0, p_death[:, np.maximum(tg, 0)], 0.0)
        return harm if action is None else harm[:, int(action)]

    def describe(self, theory: np.ndarray) -> str:
        """E.g. ``"' ' safe, 'W' deadly"``."""
        t = np.asarray(theory).ravel()
        return ", ".join(f"{s!r} {'deadly' if d else 'safe'}" for s, d in zip(self.symbols, t, strict=True))

    # support check (guard/support.py): contexts held by the guard, features of one context
    def support_features(self, context: CellContext) -> np.ndarray | None:
        """``(1, f)`` the context's support features, or None (no check)."""
        if context.features is None:
            return None
        return as_float_array(context.features, "context.features", ndim=1)[None]

    def support_contexts(self, data: Any) -> np.ndarray | None:
        """``(n, f)`` contexts a :class:`CellData` record adds to the support."""
        return None if not isinstance(data, CellData) or data.contexts is None else data.contexts


class PlacementData(NamedTuple):
    """Placements seen in one room.

    Attributes:
        memory: ``(n, 2)`` the smoother's estimate of the agent's (P(left), P(right)) before each.
        placed: ``(n,)`` int, the box that held the reward (0 left, 1 right).
    """

    memory: np.ndarray
    placed: np.ndarray


#: Placer theories and the agent's strategies (the PlacerFamily's actions).
PLACER_NAMES: tuple[str, ...] = ("friend", "neutral", "adversary")
STRATEGIES: tuple[str, ...] = ("LEFT box", "RIGHT box", "COIN")
LEFT_BOX, RIGHT_BOX, COIN = 0, 1, 2


@dataclass(frozen=True)
class PlacerFamily:
    """Theories of one room's placer: 0 friend, 1 neutral, 2 adversary (see the module docstring).

    Attributes:
        p_left: the neutral placer's P(left) (0.6 in the published world).
        lapse: probability that a deterministic placer (friend, adversary) contradicts its rule.
        prior: ``(3,)`` prior over (friend, neutral, adversary); uniform when None.
    """

    p_left: float = 0.6
    lapse: float = 1e-3
    prior: tuple[float, ...] | None = None
    name: str = "placer"
    n_actions: int = 3

    def __post_init__(self) -> None:
        unit_interval(self.p_left, "p_left")
        if not 0.0 < unit_interval(self.lapse, "lapse") < 0.5:
            raise ValueError(f"lapse: expected a number in (0, 0.5), got {self.lapse!r}")
        if self.prior is not None:
            p = np.asarray(self.prior, dtype=np.float64)
            if p.shape != (3,) or (p <= 0).any() or not np.isclose(p.sum(), 1.0):
                raise ValueError(f"prior: expected 3 positive probabilities summing to 1, got {self.prior!r}")

    def enumerate(self) -> np.ndarray:
        """``(3,)`` theory indices."""
        return np.arange(3)

    def _idx(self, theories: np.ndarray) -> np.ndarray:
        t = np.asarray(theories)
        if t.ndim != 1 or not np.issubdtype(t.dtype, np.integer) or t.size and (t.min() < 0 or t.max() > 2):
            raise ValueError("theories: expected a 1-d array of placer indices in [0, 2]")
        return t

    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        p = np.full(3, 1.0 / 3.0) if self.prior is None else np.asarray(self.prior, dtype=np.float64)
        return np.log(p)[self._idx(theories)]

    def placement_probs(self, memory: np.ndarray) -> np.ndarray:
        """``(3, n, 2)`` P(placement | placer, smoother state) for smoother states ``(n, 2)``."""
        m = as_float_array(memory, "memory", ndim=2)
        eye = np.eye(2)
        most, least = eye[np.argmax(m, axis=1)], eye[np.argmin(m, axis=1)]  # ties: the left box
        lapse = self.lapse
        neutral = np.broadcast_to([self.p_left, 1.0 - self.p_left], m.shape)
        return np.stack([most * (1 - 2 * lapse) + lapse, neutral, least * (1 - 2 * lapse) + lapse])

    def log_likelihood(self, theories: np.ndarray, data: PlacementData) -> np.ndarray:
        """``(n_theories,)`` sum of log P(placement | placer, smoother state)."""
        if not isinstance(data, PlacementData):
            raise TypeError(f"data: expected PlacementData, got {type(data).__name__}")
        placed = np.asarray(data.placed)
        if placed.ndim != 1 or not np.isin(placed, (0, 1)).all():
            raise ValueError("data.placed: expected a 1-d array of 0 (left) / 1 (right)")
        idx = self._idx(theories)
        if placed.size == 0:
            return np.zeros(idx.size)
        p = self.placement_probs(data.memory)  # (3, n, 2)
        if p.shape[1] != placed.size:
            raise ValueError(f"data.memory: expected ({placed.size}, 2), got {np.shape(data.memory)}")
        with np.errstate(divide="ignore"):
            logp = np.log(p[:, np.arange(placed.size), placed]).sum(axis=1)  # (3,)
        return logp[idx]

    def empty_prob(self) -> np.ndarray:
        """``(3 placers, 3 strategies)`` long-run P(empty box) against a placer that knows the habit."""
        q = self.p_left
        return np.array([[0.0, 0.0, 0.5], [1.0 - q, q, 0.5], [1.0, 1.0, 0.5]])

    def harm_prob(self, theories: np.ndarray, context: Any = None, action: int | None = None) -> np.ndarray:
        """``(n_theories, 3)`` (or ``(n_theories,)``): ``max(0, 2 P(empty) - 1)`` per strategy."""
        if context is not None:
            raise ValueError("context: the placer family takes no context; pass None")
        harm = np.clip(2.0 * self.empty_prob() - 1.0, 0.0, 1.0)[self._idx(theories)]
        return harm if action is None else harm[:, int(action)]

    def describe(self, theory: np.ndarray | int) -> str:
        i = int(np.asarray(theory))
        rule = {
            0: "puts the reward in the box the agent opens most (smoother rate 0.25; ties left)",
            1: f"puts the reward left with p = {self.p_left:g}",
            2: "puts the reward in the box the agent opens least (smoother rate 0.25; ties left)",
        }[i]
        return f"{PLACER_NAMES[i]}: {rule}"


__all__ = [
    "COIN",
    "KNOWN_SAFE",
    "LEFT_BOX",
    "PLACER_NAMES",
    "RIGHT_BOX",
    "STRATEGIES",
    "CellContext",
    "CellData",
    "CellTypeFamily",
    "PlacementData",
    "PlacerFamily",
]
