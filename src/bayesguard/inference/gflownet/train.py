"""The DAG-GFlowNet sampler: the environment, policy, replay buffer, exploration, loss and training
loop of this package put together behind one object.

- :mod:`.env`: states, rewards and the optional masks (candidate parents, an in-degree bound);
  :mod:`.policy` / :mod:`.policy_attention`: the forward policy network (``config.policy``);
- :mod:`.explore`: the off-policy behaviour policy filling :mod:`.buffer` with
  :class:`~.transitions.Transitions`;
- :mod:`.loss`: :func:`~.loss.mdb_loss`, the modified detailed-balance loss (Deleu et al. 2022), a pure
  function of the policy and a transition batch;
- :mod:`.trainer`: :func:`~.trainer.train_loop`, which alternates exploration and gradient steps;
- :mod:`.sampling`: bounded sampling from the forward policy (``FloatingPointError`` on non-finite
  probabilities, ``RuntimeError`` past ``d (d - 1) / 2`` additions);
- :mod:`.persistence`: validated, pickle-free files through :mod:`bayesguard.artefact`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...posterior import Posterior, SamplerError
from ...theories.causal.structure import FAMILY, StructureScore
from .buffer import ReplayBuffer
from .config import GFlowNetConfig
from .env import DAGEnv
from .explore import Explorer
from .loss import mdb_loss
from .persistence import (
    KIND,
    LOAD_LIMITS,
    VERSION,
    policy_shapes,
    problem_description,
    problem_family,
    read_sampler,
    write_sampler,
)
from .policy import EdgePolicy
from .policy_attention import AttentionEdgePolicy
from .sampling import draw_actions, policy_probabilities, sample_graphs
from .seeding import mixed_batch, seed_buffer
from .trainer import LoopState, train_loop
from .transitions import Transitions

__all__ = [
    "KIND",
    "LOAD_LIMITS",
    "MEASURE_MAX_D",
    "VERSION",
    "DAGGFlowNet",
    "GFlowNetConfig",
    "draw_actions",
    "policy_probabilities",
    "policy_shapes",
    "problem_description",
    "problem_family",
]

#: :meth:`DAGGFlowNet.posterior` measures its exact error by default up to this many nodes (543 DAGs at 4).
MEASURE_MAX_D = 4


class DAGGFlowNet:
    """An amortised sampler of DAGs from the structure posterior.

    Args:
        score: the structure score (local scores + prior) defining the reward.
        config: hyperparameters (``config.policy`` picks the network).
        candidates: ``(d, d)`` bool, ``candidates[i, j]``: ``i`` may be a parent of ``j`` (None: any).
        max_parents: the largest number of parents of a node (None: no bound).

    With masks the sampler targets the posterior restricted to the DAGs within them (the exact error of
    :meth:`posterior` at small ``d`` is measured against that restricted posterior). They are saved with
    the model.

    Raises:
        ValueError: invalid masks, naming ``candidates`` or ``max_parents``
            (:func:`~.env.check_constraints`).

    Attributes:
        env: the :class:`~.env.DAGEnv` of ``score`` and the masks.
        policy: the forward policy, an :class:`~.policy.EdgePolicy` or an
            :class:`~.policy_attention.AttentionEdgePolicy` (on ``config.device``).
        buffer: the :class:`~.buffer.ReplayBuffer` the exploration fills.
        explorer: the :class:`~.explore.Explorer` (behaviour policy and its trajectories).
        steps: gradient steps taken so far; train_seconds: training wall-clock so far.
        history: the checkpoints recorded by :meth:`train`.
    """

    def __init__(
        self,
        score: StructureScore,
        config: GFlowNetConfig | None = None,
        *,
        candidates: np.ndarray | None = None,
        max_parents: int | None = None,
    ) -> None:
        self.score = score
        self.config = config or GFlowNetConfig()
        self.env = DAGEnv(score, candidates=candidates, max_parents=max_parents)
        self.d = score.d
        torch.manual_seed(self.config.seed)
        self.device = torch.device(self.config.device)
        self.policy = self._build_policy().to(self.device)
        #: the target network (``config.target_every``), or None
        self.target = self._copy_target() if self.config.target_every is not None else None
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.lr)
        self.rng = np.random.default_rng(self.config.seed)
        self.buffer = ReplayBuffer(self.d, self.config.buffer_size)
        self.explorer = Explorer(self.env, self.buffer, self.config, self.rng)
        self.steps = 0
        self.train_seconds = 0.0
        self.history: list[dict[str, float]] = []
        #: trajectories to seed graphs (:meth:`seed_replay`), and the share of each minibatch they fill
        self.seeds: ReplayBuffer | None = None
        self.seed_fraction = 0.0

    # ------------------------------------------------------------------ policy
    @property
    def candidates(self) -> np.ndarray | None:
        """The candidate-parent mask ``(d, d)`` bool (read-only), or None."""
        return self.env.candidates

    @property
    def max_parents(self) -> int | None:
        """The in-degree bound, or None."""
        return self.env.max_parents

    def _build_policy(self) -> EdgePolicy | AttentionEdgePolicy:
        """The network of ``config.policy``, its stop bias set to ``config.stop_bias``."""
        c = self.config
        policy: EdgePolicy | AttentionEdgePolicy
        if c.policy == "attention":
            policy = AttentionEdgePolicy(self.d, c.hidden, c.layers, c.heads)
        else:
            policy = EdgePolicy(self.d, c.hidden, c.layers)
        policy.set_stop_bias(c.stop_bias)
        return policy

    def _copy_target(self) -> nn.Module:
        """A frozen copy of the current policy (the target network)."""
        target = copy.deepcopy(self.policy)
        for p in target.parameters():
            p.requires_grad_(False)
        return target

    @torch.no_grad()
    def _log_probs(self, adj: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """The forward policy's log-probabilities ``(K, A)`` of ``adj (K, d, d)``, ``valid (K, A)``, in NumPy
        (``A = d * d + 1``)."""
        adj_t = torch.from_numpy(np.array(adj, dtype=bool)).to(self.device)
        valid_t = torch.from_numpy(np.array(valid, dtype=bool)).to(self.device)
        return self.policy(adj_t, valid_t).cpu().numpy()

    def _explore(self) -> None:
        """Advance every exploring trajectory by one action; store the additions in the buffer.

        Raises ``FloatingPointError`` when the policy's probabilities are not finite."""
        self.explorer.step(self._log_probs)

    # ------------------------------------------------------------------ learning
    def loss(self, transitions: Transitions) -> torch.Tensor:
        """:func:`~.loss.mdb_loss` of ``transitions`` under the current policy (``config.huber_delta``;
        ``log P_F(stop | G')`` from the target network when there is one)."""
        return mdb_loss(self.policy, transitions, self.target, huber_delta=self.config.huber_delta)

    def _step_loss(self, transitions: Transitions) -> torch.Tensor:
        """:meth:`loss` for the gradient step number :attr:`steps` (counted from 0), refreshing the target
        network first every ``config.target_every`` steps."""
        every = self.config.target_every
        if self.target is not None and every is not None and self.steps % every == 0:
            self.target.load_state_dict(self.policy.state_dict())
        return self.loss(transitions)

    def seed_replay(self, graphs: np.ndarray, fraction: float = 0.25) -> None:
        """Train also on trajectories to ``graphs`` ``(n, d, d)`` (e.g. exact DP draws or MCMC draws):
        ``fraction`` of every minibatch comes from them (:mod:`.seeding`). The loss and its optimum are
        unchanged; only where the network is trained changes. Not saved with the model."""
        if not 0.0 < float(fraction) < 1.0:
            raise ValueError(f"fraction: expected a number in (0, 1), got {fraction!r}")
        self.seeds = seed_buffer(self.env, graphs, self.rng)
        self.seed_fraction = float(fraction)

    def _next_batch(self) -> Transitions | None:
        """A minibatch from the buffer once it holds ``warmup`` transitions (or is full), else None;
        ``seed_fraction`` of it from the seeded trajectories when there are any."""
        if self.buffer.size >= min(self.config.warmup, self.config.buffer_size):
            return mixed_batch(self.buffer, self.seeds, self.config.batch_size, self.seed_fraction, self.rng)
        return None

    def train(
        self,
        *,
        steps: int | None = None,
        seconds: float | None = None,
        progress: bool = True,
        callback: Callable[[DAGGFlowNet], dict[str, float] | None] | None = None,
        callback_every: float = 30.0,
    ) -> list[dict[str, float]]:
        """Train for ``steps`` gradient steps or ``seconds`` of wall-clock (whichever comes first).

        Each iteration advances the exploring trajectories by one action and takes one gradient step on
        a minibatch from the replay buffer (:func:`~.trainer.train_loop`). ``callback(self)`` runs every
        ``callback_every`` seconds of training (its time is not counted) and its returned dict is added
        to :attr:`history`.

        Returns:
            the history: dicts with ``step``, ``seconds``, ``loss`` and the callback's entries.
        """
        if steps is None and seconds is None:
            raise ValueError("steps/seconds: give a step budget, a time budget, or both")
        if not self.env.valid_actions(self.env.reset(1))[0, :-1].any():
            return self.history  # no edge can be added: one graph, nothing to learn (and no transitions)
        steps0 = self.steps
        state = LoopState()

        def step_loss(batch: Transitions) -> torch.Tensor:
            self.steps = steps0 + state.steps
            return self._step_loss(batch)

        def checkpoint(s: LoopState) -> None:
            self.steps = steps0 + s.steps
            entry = {"step": self.steps, "seconds": self.train_seconds + s.seconds, "loss": s.recent_loss}
            if callback is not None:
                entry.update(callback(self) or {})
            self.history.append(entry)

        try:
            train_loop(
                self._explore,
                self._next_batch,
                step_loss,
                self.optimizer,
                steps=steps,
                seconds=seconds,
                progress=progress,
                checkpoint=checkpoint if callback is not None else None,
                every=callback_every,
                state=state,
            )
        finally:
            self.steps = steps0 + state.steps
            self.train_seconds += state.seconds
        return self.history

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, *, seed: int | None = None, batch: int = 4096) -> np.ndarray:
        """``n`` graphs ``(n, d, d)`` bool from the trained forward policy (:func:`~.sampling.sample_graphs`).

        Raises:
            FloatingPointError: the policy's probabilities are not finite (NaN or overflowing weights).
            RuntimeError: a trajectory went past ``d (d - 1) / 2`` additions (impossible for a DAG).
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n: expected a non-negative integer, got {n!r}")
        if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
            raise ValueError(f"batch: expected a positive integer, got {batch!r}")
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        return sample_graphs(self.env, self._log_probs, int(n), rng, int(batch))

    def posterior(self, n: int, *, seed: int | None = None, measure_error: bool | None = None) -> Posterior:
        """An equal-weight :class:`Posterior` of ``n`` independent sampled graphs.

        Its sampler error is measured exactly against the enumerated posterior when ``measure_error``
        (default: when ``d <= MEASURE_MAX_D``); otherwise it is unknown, and guards built on it say their
        bounds are not guaranteed. With masks the measured error is against the posterior restricted to
        the DAGs within them, and its ``how`` says so and gives the posterior mass they exclude
        (:func:`~.exact.measured_error`).
        """
        measure = self.d <= MEASURE_MAX_D if measure_error is None else bool(measure_error)
        if measure:
            from .exact import measured_error

            error = measured_error(self)
        else:
            error = SamplerError.unknown(f"not measured (no exact posterior to compare with at d = {self.d})")
        return Posterior.from_samples(
            self.sample(n, seed=seed), FAMILY, method="gflownet", sampler_error=error
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the policy weights, the config (with the policy kind), the masks and the training
        counters (kind ``"gflownet"``, family :func:`~.persistence.problem_family`; see
        :func:`~.persistence.write_sampler`). No pickle."""
        weights = {k: v.detach().cpu().numpy() for k, v in self.policy.state_dict().items()}
        return write_sampler(
            path,
            self.score,
            self.config,
            weights,
            self.steps,
            self.train_seconds,
            candidates=self.candidates,
            max_parents=self.max_parents,
        )

    @classmethod
    def load(cls, path: str | Path, score: StructureScore, device: str = "cpu") -> DAGGFlowNet:
        """Load a sampler saved by :meth:`save` for the same structure problem (``score`` gives the
        rewards), its policy (of the saved kind) on ``device``, with the saved masks.

        Every field is validated by :func:`~.persistence.read_sampler` before any network is built
        (problem, counters, config sizes within :data:`~.persistence.LOAD_LIMITS`, the policy kind, the
        masks, every weight's name, dtype, shape and finiteness). Raises ``ValueError`` (an
        :class:`~bayesguard.artefact.ArtefactError`) naming the file and field.
        """
        saved = read_sampler(path, score, device)
        model = cls(score, saved.config, candidates=saved.candidates, max_parents=saved.max_parents)
        model.policy.load_state_dict({name: torch.from_numpy(a.copy()) for name, a in saved.weights.items()})
        if model.target is not None:  # the target network is not saved: it restarts from the policy
            model.target.load_state_dict(model.policy.state_dict())
        model.steps = saved.steps
        model.train_seconds = saved.train_seconds
        return model

    def describe(self) -> str:
        constraints = {"candidates": self.candidates is not None, "max_parents": self.max_parents}
        return json.dumps(
            {"d": self.d, "steps": self.steps, "config": asdict(self.config), "constraints": constraints}
        )
