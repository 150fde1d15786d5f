"""Small tabular MDPs with linear rewards: value iteration batched over reward theories, Boltzmann
policies and trajectory sampling (for simulated demonstrators).

A reward theory ``w`` ``(n_features,)`` gives the reward ``r_w(s, a) = w . phi(s, a)``; with state
features ``phi(s)`` ``(S, f)`` the reward of acting in ``s`` is ``w . phi(s)`` whatever the action.

Two planning horizons:

- **discounted** (``horizon=None``, ``0 <= gamma < 1``): ``Q*`` is the fixed point of
  ``Q(s,a) = r(s,a) + gamma * sum_s' P(s'|s,a) max_a' Q(s',a')``;
- **finite horizon** ``H`` (``0 <= gamma <= 1``): ``Q*`` is the value with ``H`` steps to go, ``H``
  backups from ``Q = 0``; a demonstrator who plans with it at every step is a receding-horizon planner.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..._validate import as_float_array, positive_int


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """A finite MDP whose reward is linear in features.

    Attributes:
        transitions: ``(S, A, S)`` ``P(s' | s, a)``, each ``[s, a, :]`` summing to 1.
        features: ``(S, f)`` state features or ``(S, A, f)`` state-action features.
        gamma: discount factor, in [0, 1) for a discounted MDP, in [0, 1] with a horizon.
        horizon: planning horizon ``H >= 1``, or None for the infinite discounted problem.
    """

    transitions: np.ndarray
    features: np.ndarray
    gamma: float = 0.95
    horizon: int | None = None

    def __post_init__(self) -> None:
        p = as_float_array(self.transitions, "transitions", ndim=3)
        s, a, s2 = p.shape
        if s == 0 or a == 0 or s2 != s:
            raise ValueError(f"transitions: expected shape (S, A, S) with S, A >= 1, got {p.shape}")
        if p.min() < 0 or not np.allclose(p.sum(axis=2), 1.0, atol=1e-9):
            raise ValueError("transitions: each [s, a, :] must be probabilities summing to 1")
        phi = as_float_array(self.features, "features")
        if phi.ndim not in (2, 3) or phi.shape[0] != s or (phi.ndim == 3 and phi.shape[1] != a):
            raise ValueError(f"features: expected shape ({s}, f) or ({s}, {a}, f), got {phi.shape}")
        if isinstance(self.gamma, bool) or not isinstance(self.gamma, int | float | np.number):
            raise TypeError(f"gamma: expected a number, got {self.gamma!r}")
        g = float(self.gamma)
        if self.horizon is None:
            if not (0.0 <= g < 1.0):
                raise ValueError(f"gamma: a discounted MDP needs 0 <= gamma < 1, got {self.gamma!r}")
        else:
            positive_int(self.horizon, "horizon")
            if not (0.0 <= g <= 1.0):
                raise ValueError(f"gamma: expected 0 <= gamma <= 1, got {self.gamma!r}")
        p, phi = p.copy(), phi.copy()  # read-only copies: the caller's arrays stay as they were
        for arr in (p, phi):
            arr.flags.writeable = False
        object.__setattr__(self, "transitions", p)
        object.__setattr__(self, "features", phi)
        object.__setattr__(self, "gamma", g)

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.transitions.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[-1])

    @property
    def sa_features(self) -> np.ndarray:
        """``(S, A, f)`` features of every state-action pair (state features repeated over actions)."""
        if self.features.ndim == 3:
            return self.features
        return np.broadcast_to(self.features[:, None, :], (self.n_states, self.n_actions, self.n_features))

    def weights(self, w: object) -> np.ndarray:
        """Validate reward theories: ``(n, f)`` float64 (a single ``(f,)`` vector becomes ``(1, f)``)."""
        arr = as_float_array(w, "w")
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != self.n_features:
            raise ValueError(f"w: expected shape (n_theories, {self.n_features}), got {arr.shape}")
        return arr

    def rewards(self, w: object) -> np.ndarray:
        """``r_w(s, a)`` for every theory: ``(n, S, A)``."""
        return np.einsum("nf,saf->nsa", self.weights(w), self.sa_features)

    def _backup(self, values: np.ndarray) -> np.ndarray:
        """``gamma * sum_s' P(s'|s,a) V(s')``: ``(n, S) -> (n, S, A)``."""
        s, a = self.n_states, self.n_actions
        return self.gamma * (values @ self.transitions.reshape(s * a, s).T).reshape(-1, s, a)

    def q_values(self, w: object, *, tol: float = 1e-10, max_iter: int = 100_000) -> np.ndarray:
        """Optimal action values ``Q*_w`` of every theory: ``(n, S, A)``.

        Value iteration vectorised over theories (the loop runs over iterations only). Discounted: it
        stops once one sweep changes ``Q`` by at most ``tol * (1 - gamma) / gamma * max(1, max|r|)``,
        which guarantees ``max|Q - Q*| <= tol * max(1, max|r|)`` for every theory (``max|r|`` over the
        whole batch); it raises RuntimeError if that takes more than ``max_iter`` sweeps. Finite
        horizon: exactly ``H`` backups.
        """
        return self._solve(w, tol, max_iter, grad=False)[0]

    def q_values_and_grad(
        self, w: object, *, tol: float = 1e-10, max_iter: int = 100_000
    ) -> tuple[np.ndarray, np.ndarray]:
        """``Q*_w`` ``(n, S, A)`` and its gradient in ``w`` ``(n, S, A, f)``.

        ``Q*`` is piecewise linear in ``w``; where the greedy policy ``pi`` is unique its gradient is the
        discounted feature expectation of taking ``a`` in ``s`` and following ``pi`` afterwards,
        ``G = phi + gamma P G[pi]`` (with the time-dependent greedy policies for a finite horizon). The
        discounted fixed point is solved exactly for the greedy policy of the returned ``Q``.
        """
        q, g = self._solve(w, tol, max_iter, grad=True)
        return q, g  # type: ignore[return-value]

    def _solve(
        self, w: object, tol: float, max_iter: int, grad: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        r = self.rewards(w)
        n, s, a = r.shape
        phi = self.sa_features
        g = np.zeros((n, s, a, self.n_features)) if grad else None
        q = np.zeros_like(r)
        if self.horizon is not None:
            for _ in range(self.horizon):
                if grad:
                    g = phi + self._feature_backup(g, q.argmax(axis=2))  # type: ignore[arg-type]
                q = r + self._backup(q.max(axis=2))
            return q, g
        if self.gamma == 0.0:
            return r, (np.broadcast_to(phi, (n, s, a, self.n_features)).copy() if grad else None)
        rel = tol * (1.0 - self.gamma) / self.gamma
        r_scale = max(1.0, float(np.abs(r).max(initial=0.0)))
        q = self._iterate(lambda x: r + self._backup(x.max(axis=2)), q, rel * r_scale, max_iter, "Q")
        if grad:
            g = self._policy_feature_values(q.argmax(axis=2))
        return q, g

    @staticmethod
    def _iterate(
        step: Callable[[np.ndarray], np.ndarray], x: np.ndarray, stop: float, max_iter: int, what: str
    ) -> np.ndarray:
        for _ in range(max_iter):
            new = step(x)
            if np.max(np.abs(new - x), initial=0.0) <= stop:
                return new
            x = new
        raise RuntimeError(f"max_iter: value iteration for {what} did not converge in {max_iter} sweeps")

    def _feature_backup(self, g: np.ndarray, pi: np.ndarray) -> np.ndarray:
        """``gamma * sum_s' P(s'|s,a) G(s', pi(s'))``: ``(n, S, A, f), (n, S) -> (n, S, A, f)``."""
        g_pi = np.take_along_axis(g, pi[:, :, None, None], axis=2)[:, :, 0]  # (n, S, f)
        return self._next_state_mean(g_pi)

    def _next_state_mean(self, per_state: np.ndarray) -> np.ndarray:
        """``gamma * sum_s' P(s'|s,a) X(s')``: ``(n, S, f) -> (n, S, A, f)``."""
        s, a = self.n_states, self.n_actions
        flat = self.transitions.reshape(s * a, s) @ per_state  # (n, S*A, f)
        return self.gamma * flat.reshape(per_state.shape[0], s, a, -1)

    def _policy_feature_values(self, pi: np.ndarray) -> np.ndarray:
        """Discounted feature expectations of following ``pi`` ``(n, S)``: ``(n, S, A, f)``, exactly.

        The state values solve ``(I - gamma P_pi) G_V = phi_pi``, one ``S x S`` system per theory
        (batched); then ``G(s, a) = phi(s, a) + gamma sum_s' P(s'|s,a) G_V(s')``.
        """
        s = self.n_states
        rows = np.arange(s)[None, :]
        p_pi = self.transitions[rows, pi]  # (n, S, S)
        phi = self.sa_features
        g_v = np.linalg.solve(np.eye(s) - self.gamma * p_pi, phi[rows, pi])  # (n, S, f)
        return phi + self._next_state_mean(g_v)


def boltzmann_policy(q: object, beta: float) -> np.ndarray:
    """``pi(a | s) = exp(beta Q(s,a)) / sum_b exp(beta Q(s,b))``: ``(..., S, A) -> (..., S, A)``.

    ``beta = inf`` gives the uniform distribution over the maximising actions.
    """
    qa = as_float_array(q, "q")
    if qa.ndim < 2:
        raise ValueError(f"q: expected shape (..., S, A), got {qa.shape}")
    b = float(beta)
    if math.isnan(b) or b < 0:
        raise ValueError(f"beta: expected a number >= 0 (or inf), got {beta!r}")
    if math.isinf(b):
        best = qa == qa.max(axis=-1, keepdims=True)
        return best / best.sum(axis=-1, keepdims=True)
    z = b * qa
    return np.exp(z - logsumexp(z, axis=-1, keepdims=True))


def sample_trajectories(
    mdp: TabularMDP,
    policy: object,
    start: int | object,
    n: int,
    length: int,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Roll out a stochastic policy: ``states`` ``(n, length + 1)`` and ``actions`` ``(n, length)``.

    Args:
        mdp: the MDP.
        policy: ``(S, A)`` action probabilities per state (e.g. :func:`boltzmann_policy` of one theory).
        start: a start state, or ``(S,)`` start-state probabilities.
        n: number of trajectories; length: steps per trajectory.
        rng: a Generator or a seed.
    """
    gen = np.random.default_rng(rng)
    s_n, a_n = mdp.n_states, mdp.n_actions
    pol = as_float_array(policy, "policy", ndim=2)
    if pol.shape != (s_n, a_n) or pol.min() < 0 or not np.allclose(pol.sum(axis=1), 1.0, atol=1e-9):
        raise ValueError(f"policy: expected ({s_n}, {a_n}) probabilities with rows summing to 1")
    n, length = positive_int(n, "n"), positive_int(length, "length", minimum=0)
    if isinstance(start, int | np.integer) and not isinstance(start, bool):
        if not 0 <= int(start) < s_n:
            raise ValueError(f"start: expected a state in [0, {s_n - 1}], got {start!r}")
        states0 = np.full(n, int(start))
    else:
        p0 = as_float_array(start, "start", ndim=1)
        if p0.shape != (s_n,) or p0.min() < 0 or not np.isclose(p0.sum(), 1.0, atol=1e-9):
            raise ValueError(f"start: expected a state index or ({s_n},) probabilities summing to 1")
        states0 = _draw(np.broadcast_to(p0, (n, s_n)), gen)
    states = np.empty((n, length + 1), dtype=np.int64)
    actions = np.empty((n, length), dtype=np.int64)
    states[:, 0] = states0
    for t in range(length):  # a loop over time steps; every trajectory moves at once
        actions[:, t] = _draw(pol[states[:, t]], gen)
        states[:, t + 1] = _draw(mdp.transitions[states[:, t], actions[:, t]], gen)
    return states, actions


def _draw(probs: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``(n, k)`` probabilities."""
    cum = np.cumsum(probs, axis=1)
    u = gen.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((cum <= u[:, None]).sum(axis=1), probs.shape[1] - 1)


def trajectory_features(
    mdp: TabularMDP, states: object, actions: object, discount: float | None = None
) -> np.ndarray:
    """``sum_t discount^t phi(s_t, a_t)`` of each trajectory: ``(n, T), (n, T) -> (n, f)``.

    ``states`` may carry one more column than ``actions`` (the final state, which earns nothing).
    ``discount=None`` uses ``mdp.gamma``. The return of a trajectory under ``w`` is ``w`` dot this sum.
    """
    st = np.asarray(states)
    ac = np.asarray(actions)
    if (
        ac.ndim != 2
        or st.ndim != 2
        or st.shape[0] != ac.shape[0]
        or st.shape[1]
        not in (
            ac.shape[1],
            ac.shape[1] + 1,
        )
    ):
        raise ValueError(f"states, actions: expected (n, T or T+1) and (n, T), got {st.shape}, {ac.shape}")
    for name, arr, hi in (("states", st, mdp.n_states), ("actions", ac, mdp.n_actions)):
        if arr.size and (not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= hi):
            raise ValueError(f"{name}: expected integer indices in [0, {hi - 1}]")
    t = ac.shape[1]
    g = mdp.gamma if discount is None else float(discount)
    disc = g ** np.arange(t)
    return np.einsum("t,ntf->nf", disc, mdp.sa_features[st[:, :t], ac])
