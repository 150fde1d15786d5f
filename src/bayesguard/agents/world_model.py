"""A gridworld's reachable states as a finite MDP with per-step event features, and planning on it.

:func:`build_world_model` explores the simulator breadth-first from every reset scenario
(``env.scenarios``): it restores a snapshot (``clone_state``/``restore_state``), takes each action, and
keys the successor by ``env.state_key()`` (the full state without the step counter). A step that draws
no random number (the generator's state is unchanged) is deterministic and recorded once; a step that
does (whisky's drunken moves, for instance) is sampled ``n_samples`` times from fresh generator states
and its successor distribution and expected features are Monte Carlo estimates (``WorldModel.exact``
is then False). A terminated step leads to the absorbing state ``END`` (the last index; zero features).

Per state-action pair the model holds the expected event features ``features`` ``(S, A, f)`` computed
by the world's ``feature_fn(env_after, snapshot_before, action, visible_reward, info) -> (f,)``, the
expected visible reward ``visible`` ``(S, A)`` and, for tests only, the expected hidden reward
``hidden`` ``(S, A)`` (no agent reads it: agents learn about it only through a human's answers).

Planning is finite-horizon and undiscounted, like the episodes (``horizon`` = the episode's 100 steps),
batched over reward theories ``w`` ``(n, f)`` with the transitions as one sparse ``(S*A, S)`` matrix.
Policies are stationary ``(n, S)`` action indices: the greedy policy of ``Q`` with ``horizon`` steps to
go, planned with a discount of 0.99 that breaks ties toward the earlier reward (see
:func:`optimal_policies`); every return and feature sum is undiscounted.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from .._validate import as_float_array, positive_int
from ..theories.reward import TabularMDP

if TYPE_CHECKING:
    from ..envs.gridworlds import GridState, GridWorldEnv

#: ``feature_fn(env_after, snapshot_before, action, visible_reward, info) -> (f,)`` event features.
FeatureFn = Callable[["GridWorldEnv", "GridState", int, float, dict], np.ndarray]
#: Discount used to choose stationary policies (see :func:`optimal_policies`); returns are undiscounted.
PLAN_DISCOUNT = 0.99
#: The key of the absorbing terminal state.
END = ("END",)


class ModelTooLarge(RuntimeError):
    """The reachable state space exceeds ``max_states``."""


@dataclass(frozen=True, eq=False)
class WorldModel:
    """A gridworld as a finite MDP (see the module docstring).

    Attributes:
        keys: ``S`` state keys (``env.state_key()``), :data:`END` last.
        snapshots: ``S - 1`` simulator snapshots (``clone_state``) of the non-terminal states.
        transitions: ``(S*A, S)`` sparse ``P(s' | s, a)`` (row ``s*A + a``).
        features: ``(S, A, f)`` expected event features of a step.
        visible: ``(S, A)`` expected visible reward; hidden: ``(S, A)`` expected hidden reward (tests).
        start: ``(S,)`` start-state probabilities (the reset scenarios).
        feature_names: ``f`` labels; exact: whether every step was deterministic; complete: whether
            every reachable state is in the model (False after a truncated exploration).
    """

    keys: tuple[Hashable, ...]
    snapshots: tuple[Any, ...]
    transitions: sp.csr_matrix
    features: np.ndarray
    visible: np.ndarray
    hidden: np.ndarray
    start: np.ndarray
    feature_names: tuple[str, ...]
    exact: bool
    complete: bool = True
    index: dict[Hashable, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {k: i for i, k in enumerate(self.keys)})

    @property
    def n_states(self) -> int:
        return len(self.keys)

    @property
    def n_actions(self) -> int:
        return int(self.features.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[2])

    def state_of(self, env: GridWorldEnv) -> int:
        """Index of ``env``'s current state (KeyError for a state the model never reached)."""
        return self.index[END if env.done else env.state_key()]

    def tabular(self, horizon: int) -> TabularMDP:
        """The dense :class:`~bayesguard.theories.reward.TabularMDP` (``gamma = 1``, ``horizon``) of this
        model; ValueError above 4000 states (dense ``(S, A, S)`` memory)."""
        if self.n_states > 4000:
            raise ValueError(f"tabular: {self.n_states} states are too many for a dense (S, A, S) MDP")
        s, a = self.n_states, self.n_actions
        dense = self.transitions.toarray().reshape(s, a, s)
        return TabularMDP(dense, self.features, gamma=1.0, horizon=positive_int(horizon, "horizon"))

    def policy_from(self, env: GridWorldEnv, policy: Callable[[GridWorldEnv], int]) -> np.ndarray:
        """A scripted ``policy(env) -> action`` as ``(S,)`` indices (evaluated at each snapshot; END: 0).

        ``env`` is reset first: a reset sets the attributes a snapshot does not carry (box origins)."""
        env.reset(seed=0)
        out = np.zeros(self.n_states, dtype=np.int64)
        for i, snap in enumerate(self.snapshots):  # scripted policies are Python functions of the env
            env.restore_state(snap)
            out[i] = int(policy(env))
        return out


def _fresh_state(seed: Sequence[int]) -> dict[str, Any]:
    return np.random.PCG64(np.random.SeedSequence(list(seed))).state


def build_world_model(
    env: GridWorldEnv,
    feature_fn: FeatureFn,
    feature_names: Sequence[str],
    *,
    max_states: int = 60_000,
    n_samples: int = 32,
    seed: int = 0,
    scenarios: Sequence[tuple[dict[str, Any], float]] | None = None,
    truncate: bool = False,
) -> WorldModel:
    """Explore every state reachable from the reset scenarios (see the module docstring).

    With ``truncate``, exploration stops at ``max_states`` states (the nearest ones, breadth-first) and a
    step into an unexplored state leads to ``END`` (nothing more is earned: the model is *partial*,
    ``complete`` False); otherwise more than ``max_states`` reachable states raise ModelTooLarge.
    """
    max_states = positive_int(max_states, "max_states")
    n_samples = positive_int(n_samples, "n_samples")
    n_a = int(env.action_space.n)
    f = len(feature_names)
    keys: list[Hashable] = []
    snaps: list[Any] = []
    index: dict[Hashable, int] = {}
    start: dict[int, float] = {}
    cut: list[bool] = []

    def visit(e: GridWorldEnv) -> int:
        if e.done:
            return -1
        k = e.state_key()
        if k not in index:
            if len(keys) >= max_states:
                if truncate:
                    cut.append(True)
                    return -1
                raise ModelTooLarge(f"more than {max_states} reachable states")
            index[k] = len(keys)
            keys.append(k)
            snaps.append(e.clone_state()._replace(t=0))
        return index[k]

    for opts, p in scenarios if scenarios is not None else env.scenarios:
        env.reset(seed=seed, options=dict(opts))
        i = visit(env)
        start[i] = start.get(i, 0.0) + float(p)
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    phi: list[np.ndarray] = []
    vis: list[float] = []
    hid: list[float] = []
    exact = True
    s = 0
    while s < len(keys):  # breadth-first: keys grows while it is read
        snap = snaps[s]
        for a in range(n_a):
            env.restore_state(snap)
            outcomes = [_step(env, snap, a, feature_fn, visit)]
            if env.np_random.bit_generator.state != snap.rng:  # the step drew random numbers
                exact = False
                outcomes = []
                for j in range(n_samples):
                    env.restore_state(snap)
                    env.np_random.bit_generator.state = _fresh_state((seed, s, a, j))
                    outcomes.append(_step(env, snap, a, feature_fn, visit))
            w = 1.0 / len(outcomes)
            for nxt, *_ in outcomes:
                rows.append(s * n_a + a)
                cols.append(nxt)
                vals.append(w)
            phi.append(np.mean([o[1] for o in outcomes], axis=0))
            vis.append(float(np.mean([o[2] for o in outcomes])))
            hid.append(float(np.mean([o[3] for o in outcomes])))
        s += 1
    n = len(keys) + 1  # + END
    end = n - 1
    cols_arr = np.where(np.asarray(cols) < 0, end, np.asarray(cols))
    rows_arr = np.concatenate([np.asarray(rows), end * n_a + np.arange(n_a)])
    cols_arr = np.concatenate([cols_arr, np.full(n_a, end)])
    vals_arr = np.concatenate([np.asarray(vals), np.ones(n_a)])
    trans = sp.csr_matrix((vals_arr, (rows_arr, cols_arr)), shape=(n * n_a, n))  # duplicates are summed
    feats = np.zeros((n, n_a, f))
    feats[:end] = np.asarray(phi, dtype=np.float64).reshape(end, n_a, f)
    visible, hidden = np.zeros((n, n_a)), np.zeros((n, n_a))
    visible[:end] = np.asarray(vis).reshape(end, n_a)
    hidden[:end] = np.asarray(hid).reshape(end, n_a)
    p0 = np.zeros(n)
    for i, p in start.items():
        p0[i] += p
    return WorldModel(
        (*keys, END),
        tuple(snaps),
        trans,
        feats,
        visible,
        hidden,
        p0 / p0.sum(),
        tuple(feature_names),
        exact,
        not cut,
    )


def _step(
    env: GridWorldEnv, snap: Any, action: int, feature_fn: FeatureFn, visit: Callable[[Any], int]
) -> tuple[int, np.ndarray, float, float]:
    _, reward, _, _, info = env.step(action)
    phi = np.asarray(feature_fn(env, snap, action, float(reward), info), dtype=np.float64)
    return visit(env), phi, float(reward), float(info["hidden_reward"])


# ---------------------------------------------------------------------------------------- planning
def _theories(model: WorldModel, w: object) -> np.ndarray:
    arr = as_float_array(w, "theories")
    arr = arr[None] if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[1] != model.n_features:
        raise ValueError(f"theories: expected shape (n, {model.n_features}), got {arr.shape}")
    return arr


def _backup(model: WorldModel, values: np.ndarray) -> np.ndarray:
    """``sum_s' P(s'|s,a) X(s', ...)``: ``(S, k) -> (S, A, k)``."""
    out = model.transitions @ values
    return np.asarray(out).reshape(model.n_states, model.n_actions, -1)


def q_values(model: WorldModel, theories: object, horizon: int, discount: float = 1.0) -> np.ndarray:
    """``Q`` with ``horizon`` steps to go, for each theory ``w``: ``(n, S, A)``; rewards ``discount``ed
    per step (1: the episodes' own undiscounted sum)."""
    w = _theories(model, theories)
    h = positive_int(horizon, "horizon")
    g = float(discount)
    if not 0.0 < g <= 1.0:
        raise ValueError(f"discount: expected a number in (0, 1], got {discount!r}")
    r = np.einsum("saf,nf->san", model.features, w)  # (S, A, n)
    v = np.zeros((model.n_states, w.shape[0]))
    q = r
    for _ in range(h):  # a loop over steps to go; every theory at once
        q = r + g * _backup(model, v)
        v = q.max(axis=1)
    return np.moveaxis(q, 2, 0)


def optimal_policies(
    model: WorldModel, theories: object, horizon: int, discount: float = PLAN_DISCOUNT
) -> np.ndarray:
    """Stationary greedy policies of ``Q`` with ``horizon`` steps to go: ``(n, S)`` (lowest action on
    ties). Planned with ``discount`` (default :data:`PLAN_DISCOUNT`): undiscounted, a wasted step is
    often free (the boat race's 100-step optimum survives one bump into a wall), and a stationary policy
    greedy on such ties can waste every step; a discount just below 1 prefers the earlier reward."""
    return q_values(model, theories, horizon, discount).argmax(axis=2)


def _policy_rows(model: WorldModel, policies: np.ndarray) -> np.ndarray:
    pol = np.asarray(policies)
    if pol.ndim != 2 or pol.shape[1] != model.n_states or not np.issubdtype(pol.dtype, np.integer):
        raise ValueError(
            f"policies: expected integer actions of shape (n, {model.n_states}), got {pol.shape}"
        )
    if pol.size and (pol.min() < 0 or pol.max() >= model.n_actions):
        raise ValueError(f"policies: expected actions in [0, {model.n_actions - 1}]")
    return np.arange(model.n_states)[None, :] * model.n_actions + pol  # (n, S) rows of transitions


def policy_feature_sums(
    model: WorldModel, policies: object, horizon: int, start: object | None = None
) -> np.ndarray:
    """Expected sum over ``horizon`` steps of the features of each policy: ``(n, f)``.

    Forward propagation of the state distribution (from ``start`` ``(S,)``, default ``model.start``),
    all policies at once: one sparse product a step.
    """
    rows = _policy_rows(model, np.asarray(policies))
    n, s_n, a_n = rows.shape[0], model.n_states, model.n_actions
    d = np.tile(model.start if start is None else as_float_array(start, "start", ndim=1), (n, 1))
    phi_flat = model.features.reshape(s_n * a_n, -1)
    total = np.zeros((n, model.n_features))
    pt = model.transitions.T.tocsr()  # (S, S*A)
    for _ in range(positive_int(horizon, "horizon")):
        flat = np.zeros((n, s_n * a_n))
        np.put_along_axis(flat, rows, d, axis=1)
        total += flat @ phi_flat
        d = np.asarray(pt @ flat.T).T
    return total


def policy_values(model: WorldModel, policy: object, horizon: int) -> np.ndarray:
    """Feature sums of following ``policy`` ``(S,)`` from each state, for 0..horizon steps to go:
    ``(horizon + 1, S, f)`` (float32 to halve memory)."""
    rows = _policy_rows(model, np.asarray(policy)[None])[0]
    h = positive_int(horizon, "horizon")
    phi_flat = model.features.reshape(model.n_states * model.n_actions, -1)
    p_pi = model.transitions[rows]  # (S, S)
    out = np.zeros((h + 1, model.n_states, model.n_features), dtype=np.float32)
    v = np.zeros((model.n_states, model.n_features))
    for k in range(1, h + 1):
        v = phi_flat[rows] + p_pi @ v
        out[k] = v
    return out


def q_features(model: WorldModel, values: np.ndarray, state: int, steps_to_go: int) -> np.ndarray:
    """Features of taking each action in ``state`` and then following the policy whose
    :func:`policy_values` are ``values``, for ``steps_to_go >= 1`` steps in all: ``(A, f)``."""
    k = positive_int(steps_to_go, "steps_to_go")
    k = min(k, values.shape[0] - 1)
    rows = state * model.n_actions + np.arange(model.n_actions)
    nxt = model.transitions[rows] @ values[k - 1].astype(np.float64)  # (A, f)
    return model.features[state] + np.asarray(nxt)
