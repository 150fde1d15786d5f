"""Human feedback about rewards: validated, immutable records, and a bundle that grows online.

Each record holds ``m`` answers; its arrays are copied and made read-only. Features are the ``phi`` of
the things compared (trajectory feature sums, option features), so the reward of each is ``w . phi``.

- :class:`Preferences`: "which of these two do you prefer?" (left, right or equal);
- :class:`Rankings`: "order these ``L`` items, best first";
- :class:`Demonstrations`: state-action pairs of a human acting in a :class:`~.mdp.TabularMDP`;
- :class:`Corrections`: stop signals and corrections of the agent's proposal (see the class);
- :class:`FeedbackData`: any subset of these, with :meth:`FeedbackData.append` for new answers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import Any

import numpy as np

from ..._validate import as_float_array
from .mdp import TabularMDP


class Answer(IntEnum):
    """The answer to a pairwise preference query."""

    LEFT = 0
    RIGHT = 1
    EQUAL = 2


def _frozen(arr: np.ndarray) -> np.ndarray:
    out = np.array(arr, copy=True)
    out.flags.writeable = False
    return out


def _indices(value: object, field: str, shape: tuple[int, ...], low: int, high: int) -> np.ndarray:
    """Integer indices in ``[low, high]`` of the given shape."""
    arr = np.asarray(value)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.shape != shape:
        raise ValueError(f"{field}: expected shape {shape}, got {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{field}: expected integer indices, got dtype {arr.dtype}")
    if arr.size and (arr.min() < low or arr.max() > high):
        raise ValueError(
            f"{field}: expected integers in [{low}, {high}], found {arr[(arr < low) | (arr > high)][0]}"
        )
    return _frozen(arr.astype(np.int64))


class _Record:
    """Equality by array contents, concatenation along the answers."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(_same(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))  # type: ignore[arg-type]

    __hash__ = None  # type: ignore[assignment]  # arrays are mutable in general

    def __len__(self) -> int:
        return int(getattr(self, fields(self)[-1].name).shape[0])  # type: ignore[arg-type]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and bool(np.array_equal(a, b))
    return a is b or a == b


@dataclass(frozen=True, eq=False)
class Preferences(_Record):
    """Pairwise comparisons.

    Attributes:
        left: ``(m, f)`` features of the first option of each query.
        right: ``(m, f)`` features of the second option.
        answer: ``(m,)`` :class:`Answer` codes: 0 left preferred, 1 right preferred, 2 equal.
    """

    left: np.ndarray
    right: np.ndarray
    answer: np.ndarray

    def __post_init__(self) -> None:
        left = as_float_array(self.left, "Preferences.left", ndim=2)
        right = as_float_array(self.right, "Preferences.right", ndim=2)
        if right.shape != left.shape:
            raise ValueError(f"Preferences.right: expected shape {left.shape} like left, got {right.shape}")
        answer = _indices(self.answer, "Preferences.answer", (left.shape[0],), 0, 2)
        object.__setattr__(self, "left", _frozen(left))
        object.__setattr__(self, "right", _frozen(right))
        object.__setattr__(self, "answer", answer)

    @classmethod
    def from_trajectories(
        cls, left: object, right: object, answer: object, discount: float = 1.0
    ) -> Preferences:
        """Compare trajectories given per-step features ``(m, T, f)`` each: the features of a trajectory
        are ``sum_t discount^t phi_t`` (its return under ``w`` is ``w`` dot that)."""
        sums = []
        for name, x in (("left", left), ("right", right)):
            arr = as_float_array(x, f"Preferences.{name}", ndim=3)
            sums.append(np.einsum("t,mtf->mf", float(discount) ** np.arange(arr.shape[1]), arr))
        return cls(sums[0], sums[1], answer)  # type: ignore[arg-type]

    @property
    def n_features(self) -> int:
        return int(self.left.shape[1])

    def concat(self, other: Preferences) -> Preferences:
        """These answers followed by ``other``'s."""
        _check_concat(self, other)
        return Preferences(
            np.vstack([self.left, other.left]),
            np.vstack([self.right, other.right]),
            np.concatenate([self.answer, other.answer]),
        )


@dataclass(frozen=True, eq=False)
class Rankings(_Record):
    """Full rankings of ``L >= 2`` items.

    Attributes:
        items: ``(m, L, f)`` features of the items shown in each query.
        order: ``(m, L)`` each row a permutation of ``0..L-1``: the item indices, best first.
    """

    items: np.ndarray
    order: np.ndarray

    def __post_init__(self) -> None:
        items = as_float_array(self.items, "Rankings.items", ndim=3)
        m, n_items, _ = items.shape
        if n_items < 2:
            raise ValueError(f"Rankings.items: expected at least 2 items per query, got shape {items.shape}")
        order = _indices(self.order, "Rankings.order", (m, n_items), 0, n_items - 1)
        if m and not np.all(np.sort(order, axis=1) == np.arange(n_items)):
            raise ValueError("Rankings.order: each row must be a permutation of 0..L-1 (best first)")
        object.__setattr__(self, "items", _frozen(items))
        object.__setattr__(self, "order", order)

    @property
    def n_features(self) -> int:
        return int(self.items.shape[2])

    def concat(self, other: Rankings) -> Rankings:
        """These rankings followed by ``other``'s (same number of items per query)."""
        _check_concat(self, other)
        if other.items.shape[1] != self.items.shape[1]:
            raise ValueError(
                f"other.items: expected {self.items.shape[1]} items per query, got {other.items.shape[1]}"
            )
        return Rankings(np.concatenate([self.items, other.items]), np.vstack([self.order, other.order]))


@dataclass(frozen=True, eq=False)
class Demonstrations(_Record):
    """State-action pairs of a Boltzmann-rational demonstrator in ``mdp``.

    Attributes:
        mdp: the :class:`~.mdp.TabularMDP` the human acted in.
        states: ``(m,)`` state indices; actions: ``(m,)`` the action taken in each.
    """

    mdp: TabularMDP
    states: np.ndarray
    actions: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.mdp, TabularMDP):
            raise TypeError(f"Demonstrations.mdp: expected a TabularMDP, got {type(self.mdp).__name__}")
        st = np.asarray(self.states)
        if st.ndim != 1:
            raise ValueError(f"Demonstrations.states: expected a 1-d array (m,), got shape {st.shape}")
        states = _indices(st, "Demonstrations.states", st.shape, 0, self.mdp.n_states - 1)
        actions = _indices(self.actions, "Demonstrations.actions", st.shape, 0, self.mdp.n_actions - 1)
        object.__setattr__(self, "states", states)
        object.__setattr__(self, "actions", actions)

    @classmethod
    def from_trajectories(cls, mdp: TabularMDP, states: object, actions: object) -> Demonstrations:
        """Every (state, action) step of trajectories ``(n, T or T+1)``, ``(n, T)``."""
        st, ac = np.asarray(states), np.asarray(actions)
        if ac.ndim != 2 or st.ndim != 2 or st.shape[0] != ac.shape[0] or st.shape[1] < ac.shape[1]:
            raise ValueError(
                f"states, actions: expected (n, T or T+1) and (n, T), got {st.shape}, {ac.shape}"
            )
        return cls(mdp, st[:, : ac.shape[1]].ravel(), ac.ravel())

    @property
    def n_features(self) -> int:
        return self.mdp.n_features

    def concat(self, other: Demonstrations) -> Demonstrations:
        """These pairs followed by ``other``'s; both must come from the same MDP object."""
        if not isinstance(other, Demonstrations):
            raise TypeError(f"other: expected Demonstrations, got {type(other).__name__}")
        if other.mdp is not self.mdp:
            raise ValueError("other.mdp: demonstrations can only be joined when they come from the same MDP")
        return Demonstrations(
            self.mdp,
            np.concatenate([self.states, other.states]),
            np.concatenate([self.actions, other.actions]),
        )


@dataclass(frozen=True, eq=False)
class Corrections(_Record):
    """Stop signals and corrections: the human watches the agent's proposal and lets it run, stops it,
    or stops it and says what to do instead.

    The model (see :func:`~.likelihoods.correction_log_likelihood`): at each point the human chooses,
    Boltzmann-rationally, among ``K >= 2`` options, option 0 being the agent's proposal and options
    ``1..K-1`` the alternatives open to the human (continuing differently, doing nothing, ...):
    ``P(j) = exp(beta r_j) / sum_k exp(beta r_k)``. Letting the proposal run is choosing option 0; a
    correction is choosing ``j >= 1``; a bare stop (the human halts the proposal without saying what
    instead) is the event "not option 0", of probability ``1 - P(0)``.

    Attributes:
        options: ``(m, K, f)`` features of the options at each point (option 0: the agent's proposal).
        chosen: ``(m,)`` the option taken: 0 (the proposal ran), ``j >= 1`` (a correction), or ``-1`` (a
            bare stop).
        stopped: ``(m,)`` bool, True when the human halted the proposal; it must equal ``chosen != 0``.
    """

    options: np.ndarray
    chosen: np.ndarray
    stopped: np.ndarray

    def __post_init__(self) -> None:
        opts = as_float_array(self.options, "Corrections.options", ndim=3)
        m, k, _ = opts.shape
        if k < 2:
            raise ValueError(
                f"Corrections.options: expected K >= 2 options per point, got shape {opts.shape}"
            )
        chosen = _indices(self.chosen, "Corrections.chosen", (m,), -1, k - 1)
        stopped = np.asarray(self.stopped)
        if stopped.shape != (m,) or (stopped.size and stopped.dtype != bool):
            raise ValueError(
                f"Corrections.stopped: expected ({m},) booleans, got {stopped.dtype} {stopped.shape}"
            )
        if np.any(stopped.astype(bool) != (chosen != 0)):
            raise ValueError(
                "Corrections.stopped: must be True exactly where chosen != 0 (chosen 0: the proposal ran; "
                "j >= 1: a correction; -1: a bare stop)"
            )
        object.__setattr__(self, "options", _frozen(opts))
        object.__setattr__(self, "chosen", chosen)
        object.__setattr__(self, "stopped", _frozen(stopped.astype(bool)))

    @classmethod
    def stops(cls, options: object, stopped: object) -> Corrections:
        """Bare stop signals: ``stopped`` ``(m,)`` bool, True where the human halted the proposal."""
        s = np.asarray(stopped)
        if s.size == 0:
            s = s.astype(bool)
        if s.dtype != bool:
            raise ValueError(f"Corrections.stopped: expected booleans, got dtype {s.dtype}")
        return cls(options, np.where(s, -1, 0), s)  # type: ignore[arg-type]

    @property
    def n_features(self) -> int:
        return int(self.options.shape[2])

    def concat(self, other: Corrections) -> Corrections:
        """These points followed by ``other``'s (same number of options per point)."""
        _check_concat(self, other)
        if other.options.shape[1] != self.options.shape[1]:
            raise ValueError(
                f"other.options: expected {self.options.shape[1]} options per point, "
                f"got {other.options.shape[1]}"
            )
        return Corrections(
            np.concatenate([self.options, other.options]),
            np.concatenate([self.chosen, other.chosen]),
            np.concatenate([self.stopped, other.stopped]),
        )


def _check_concat(a: Any, b: Any) -> None:
    if type(b) is not type(a):
        raise TypeError(f"other: expected {type(a).__name__}, got {type(b).__name__}")
    if b.n_features != a.n_features:
        raise ValueError(f"other: expected {a.n_features} features, got {b.n_features}")


RECORDS = {
    Preferences: "preferences",
    Rankings: "rankings",
    Demonstrations: "demonstrations",
    Corrections: "corrections",
}


@dataclass(frozen=True, eq=False)
class FeedbackData(_Record):
    """Any subset of the feedback kinds (None where there is none), about the same features.

    Attributes:
        preferences, rankings, demonstrations, corrections: the records, or None.
    """

    preferences: Preferences | None = None
    rankings: Rankings | None = None
    demonstrations: Demonstrations | None = None
    corrections: Corrections | None = None

    def __post_init__(self) -> None:
        n_f = set()
        for cls, name in RECORDS.items():
            rec = getattr(self, name)
            if rec is not None:
                if not isinstance(rec, cls):
                    raise TypeError(f"FeedbackData.{name}: expected {cls.__name__}, got {type(rec).__name__}")
                n_f.add(rec.n_features)
        if len(n_f) > 1:
            raise ValueError(
                f"FeedbackData: every record must have the same number of features, got {sorted(n_f)}"
            )

    @classmethod
    def of(cls, *records: Any) -> FeedbackData:
        """A bundle of records (several of one kind are concatenated in order)."""
        out = cls()
        for rec in records:
            out = out.append(rec)
        return out

    @property
    def records(self) -> dict[str, Any]:
        """The records present, by kind name."""
        return {name: getattr(self, name) for name in RECORDS.values() if getattr(self, name) is not None}

    @property
    def n_features(self) -> int | None:
        """Number of features, or None when empty."""
        recs = list(self.records.values())
        return recs[0].n_features if recs else None

    def __len__(self) -> int:
        """Total number of answers over every kind."""
        return sum(len(r) for r in self.records.values())

    @property
    def is_empty(self) -> bool:
        return len(self) == 0

    def append(self, new: Any) -> FeedbackData:
        """A new bundle with ``new`` (a record or a :class:`FeedbackData`) after these answers."""
        if isinstance(new, FeedbackData):
            return self.concat(new)
        name = RECORDS.get(type(new))
        if name is None:
            kinds = ", ".join(c.__name__ for c in RECORDS)
            raise TypeError(f"new: expected one of {kinds} or FeedbackData, got {type(new).__name__}")
        old = getattr(self, name)
        return replace(self, **{name: new if old is None else old.concat(new)})

    def concat(self, other: FeedbackData) -> FeedbackData:
        """These answers followed by ``other``'s, kind by kind."""
        if not isinstance(other, FeedbackData):
            raise TypeError(f"other: expected FeedbackData, got {type(other).__name__}")
        out = self
        for rec in other.records.values():
            out = out.append(rec)
        return out


def as_feedback(data: Any) -> FeedbackData:
    """A :class:`FeedbackData` from a bundle, a single record, or None (empty)."""
    if data is None:
        return FeedbackData()
    if isinstance(data, FeedbackData):
        return data
    if type(data) in RECORDS:
        return FeedbackData().append(data)
    raise TypeError(
        "data: expected FeedbackData, Preferences, Rankings, Demonstrations or Corrections, "
        f"got {type(data).__name__}"
    )
