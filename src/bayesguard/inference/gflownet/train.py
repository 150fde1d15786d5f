"""Training and sampling of the DAG-GFlowNet.

**Loss** (modified detailed balance, Deleu et al. 2022, eq. 6). Every state is terminal, so for each
transition ``G -> G'`` (adding one edge) the flow condition reads

    log R(G') + log P_B(G | G') + log P_F(stop | G) = log R(G) + log P_F(G' | G) + log P_F(stop | G'),

with ``P_B`` uniform over the edges of ``G'`` that can be removed (those not required by the prior).
``log R(G') - log R(G)`` is the change of one local score. The loss is the Huber loss of the residual,
averaged over a minibatch of transitions drawn from a replay buffer. At zero loss the sampler draws a
graph with probability proportional to ``R(G) = p(G) p(D | G)``, the posterior.

**Exploration** (off-policy, as in the talk): trajectories are run by a behaviour policy that takes a
uniformly random valid action with probability ``epsilon`` and otherwise samples from the current
policy tempered by ``temperature`` (logits divided by it); the first ``warmup`` transitions are fully
random. The behaviour policy only decides which transitions are seen: the loss is the same for all.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ...posterior import Posterior
from ...theories.causal.dag import closure_add_edge
from ...theories.causal.structure import FAMILY, StructureScore
from .buffer import ReplayBuffer
from .env import DAGEnv
from .policy import EdgePolicy


@dataclass(frozen=True)
class GFlowNetConfig:
    """Hyperparameters of the DAG-GFlowNet (defaults tuned on d = 5, 2 CPU cores).

    For larger graphs two settings keep exploration from building near-complete graphs (a uniform
    choice among ``d^2`` actions stops with probability ``~1/d^2``): ``explore_stop``, the probability
    that the uniform exploration component stops (None: stop is one valid action among the others), and
    ``stop_bias``, the initial bias of the policy's stop logit (``log d`` gives initial trajectories of
    about ``d`` edges). Neither changes the loss or its optimum.

    ``device`` is where the policy network runs (``"cpu"``, ``"cuda"`` or ``"cuda:N"``); the environment,
    the replay buffer and the rewards stay in NumPy on the CPU.
    """

    hidden: int = 128
    layers: int = 2
    lr: float = 1e-3
    batch_size: int = 256
    n_envs: int = 64
    buffer_size: int = 200_000
    warmup: int = 2_000
    epsilon: float = 0.1
    temperature: float = 1.0
    huber_delta: float = 1.0
    explore_stop: float | None = None
    stop_bias: float = 0.0
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "batch_size", "n_envs", "buffer_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        if not 0 <= self.epsilon <= 1:
            raise ValueError(f"epsilon: expected a number in [0, 1], got {self.epsilon!r}")
        if not (self.lr > 0 and self.temperature > 0 and self.huber_delta > 0):
            raise ValueError("lr, temperature, huber_delta: expected positive numbers")
        if self.explore_stop is not None and not 0 < self.explore_stop < 1:
            raise ValueError(f"explore_stop: expected None or a number in (0, 1), got {self.explore_stop!r}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device: {self.device!r} was asked for but PyTorch sees no CUDA device")


class DAGGFlowNet:
    """An amortised sampler of DAGs from the structure posterior.

    Args:
        score: the structure score (local scores + prior) defining the reward.
        config: hyperparameters.
    """

    def __init__(self, score: StructureScore, config: GFlowNetConfig | None = None) -> None:
        self.score = score
        self.config = config or GFlowNetConfig()
        self.env = DAGEnv(score)
        self.d = score.d
        torch.manual_seed(self.config.seed)
        self.device = torch.device(self.config.device)
        self.policy = EdgePolicy(self.d, self.config.hidden, self.config.layers).to(self.device)
        with torch.no_grad():
            self.policy.stop_head.bias.fill_(self.config.stop_bias)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.lr)
        self.rng = np.random.default_rng(self.config.seed)
        self.buffer = ReplayBuffer(self.d, self.config.buffer_size)
        self._states = self.env.reset(self.config.n_envs)
        self._n_required = int(self.env.start_adj.sum())
        self.steps = 0
        self.train_seconds = 0.0
        self.history: list[dict[str, float]] = []

    # ------------------------------------------------------------------ policy
    @torch.no_grad()
    def _log_probs(self, adj: np.ndarray, valid: np.ndarray) -> np.ndarray:
        lp = self.policy(self._tensor(np.array(adj, dtype=bool)), self._tensor(np.array(valid, dtype=bool)))
        return lp.cpu().numpy()

    def _tensor(self, arr: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(arr).to(self.device)

    def _choose(self, logp: np.ndarray, valid: np.ndarray, epsilon: float, temperature: float) -> np.ndarray:
        """Sample actions ``(K,)`` from tempered ``logp`` mixed with uniform-over-valid."""
        k = logp.shape[0]
        with np.errstate(invalid="ignore", over="ignore"):
            p = np.exp((logp - logp.max(axis=1, keepdims=True)) / temperature)
        p = np.where(valid, p, 0.0)
        p /= p.sum(axis=1, keepdims=True)
        uni = valid / valid.sum(axis=1, keepdims=True)
        if self.config.explore_stop is not None:  # stop with a fixed probability, else a uniform edge
            edges = valid[:, :-1]
            n_edges = edges.sum(axis=1, keepdims=True)
            q = self.config.explore_stop
            uni = np.concatenate(
                [np.where(n_edges > 0, (1 - q) * edges / np.maximum(n_edges, 1), 0.0), np.zeros((k, 1))],
                axis=1,
            )
            uni[:, -1] = 1.0 - uni[:, :-1].sum(axis=1)
        mix = (1 - epsilon) * p + epsilon * uni
        cdf = np.cumsum(mix, axis=1)
        u = self.rng.random((k, 1)) * cdf[:, -1:]
        a = (cdf < u).sum(axis=1)
        return np.minimum(a, valid.shape[1] - 1)

    # ------------------------------------------------------------------ exploration
    def _explore(self) -> None:
        """Advance every exploring trajectory by one action; store the additions in the buffer."""
        env, s = self.env, self._states
        valid = env.valid_actions(s)
        if self.buffer.size < self.config.warmup:
            eps = 1.0
            logp = np.zeros(valid.shape)
        else:
            eps = self.config.epsilon
            logp = self._log_probs(s.adj, valid)
        actions = self._choose(logp, valid, eps, self.config.temperature)
        stop = actions == env.stop
        add = np.flatnonzero(~stop)
        if add.size:
            sub = env.subset(s, add)
            i, j = np.divmod(actions[add], self.d)
            delta = env.delta_scores(sub, i, j)
            before_adj, before_valid = sub.adj.copy(), valid[add]
            env.step(sub, actions[add], delta)
            self.buffer.add(
                before_adj,
                before_valid,
                actions[add],
                delta,
                env.valid_actions(sub),
                sub.adj.sum(axis=(1, 2)),
            )
            env.assign(s, add, sub)
        if stop.any():
            env.assign(s, np.flatnonzero(stop), env.reset(int(stop.sum())))

    # ------------------------------------------------------------------ learning
    def loss(self, batch: dict[str, np.ndarray]) -> torch.Tensor:
        """Mean Huber loss of the modified detailed-balance residuals of a minibatch."""
        n = batch["action"].shape[0]
        adj = self._tensor(np.concatenate([batch["adj"], batch["adj_next"]]))
        valid = self._tensor(np.concatenate([batch["valid"], batch["valid_next"]]))
        logp = self.policy(adj, valid)
        lp_t, lp_next = logp[:n], logp[n:]
        action = self._tensor(batch["action"])
        stop = self.env.stop
        log_pb = -torch.log(self._tensor(batch["n_edges_next"] - self._n_required).double())
        residual = (
            self._tensor(batch["delta"])
            + log_pb
            + lp_t[:, stop].double()
            - lp_t.gather(1, action[:, None])[:, 0].double()
            - lp_next[:, stop].double()
        )
        return torch.nn.functional.huber_loss(
            residual, torch.zeros_like(residual), delta=self.config.huber_delta
        )

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
        a minibatch from the replay buffer. ``callback(self)`` runs every ``callback_every`` seconds
        of training (its time is not counted) and its returned dict is added to :attr:`history`.

        Returns:
            the history: dicts with ``step``, ``seconds``, ``loss`` and the callback's entries.
        """
        if steps is None and seconds is None:
            raise ValueError("steps/seconds: give a step budget, a time budget, or both")
        total = steps if steps is not None else None
        bar = tqdm(total=total, desc="GFlowNet", disable=not progress, unit="step", mininterval=0.5)
        start = time.perf_counter()
        spent_callbacks = 0.0
        next_cb = callback_every
        done = 0
        losses: list[float] = []
        while True:
            elapsed = time.perf_counter() - start - spent_callbacks
            if (steps is not None and done >= steps) or (seconds is not None and elapsed >= seconds):
                break
            self._explore()
            if self.buffer.size >= min(self.config.warmup, self.config.buffer_size):
                batch = self.buffer.sample(self.config.batch_size, self.rng)
                loss = self.loss(batch)
                self.optimizer.zero_grad()
                loss.backward()
                self.optimizer.step()
                losses.append(float(loss.detach()))
                done += 1
                self.steps += 1
                if done % 100 == 0:
                    bar.update(100)
                    bar.set_postfix(loss=f"{np.mean(losses[-100:]):.3g}")
            if callback is not None and elapsed >= next_cb:
                t = time.perf_counter()
                entry = {"step": self.steps, "seconds": self.train_seconds + elapsed}
                entry["loss"] = float(np.mean(losses[-100:])) if losses else float("nan")
                entry.update(callback(self) or {})
                self.history.append(entry)
                next_cb += callback_every
                spent_callbacks += time.perf_counter() - t
        bar.close()
        self.train_seconds += time.perf_counter() - start - spent_callbacks
        return self.history

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample(self, n: int, *, seed: int | None = None, batch: int = 4096) -> np.ndarray:
        """``n`` graphs from the trained forward policy: ``(n, d, d)`` bool."""
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        out = []
        for start in range(0, n, batch):
            k = min(batch, n - start)
            s = self.env.reset(k)
            live = np.arange(k)
            while live.size:
                sub = self.env.subset(s, live)
                valid = self.env.valid_actions(sub)
                logp = self._log_probs(sub.adj, valid)
                cdf = np.cumsum(np.exp(logp), axis=1)
                u = rng.random((live.size, 1)) * cdf[:, -1:]
                a = np.minimum((cdf < u).sum(axis=1), self.env.stop)
                go = a != self.env.stop
                if go.any():
                    idx = live[go]
                    i, j = np.divmod(a[go], self.d)
                    s.adj[idx, i, j] = True
                    s.closure[idx] = closure_add_edge(s.closure[idx], i, j)
                live = live[go]
            out.append(s.adj)
        return np.concatenate(out)

    def posterior(self, n: int, *, seed: int | None = None) -> Posterior:
        """An equal-weight :class:`Posterior` of ``n`` sampled graphs."""
        return Posterior.from_samples(self.sample(n, seed=seed), FAMILY)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the policy weights and the config to ``path`` (a ``.pt`` file)."""
        path = Path(path)
        torch.save(
            {
                "format": "bayesguard.dag-gflownet",
                "version": 1,
                "d": self.d,
                "names": list(self.score.names),
                "config": asdict(self.config),
                "state_dict": {k: v.cpu() for k, v in self.policy.state_dict().items()},
                "steps": self.steps,
                "train_seconds": self.train_seconds,
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | Path, score: StructureScore, device: str = "cpu") -> DAGGFlowNet:
        """Load a sampler saved by :meth:`save` for the same variables (``score`` gives the rewards),
        its policy on ``device``."""
        blob: dict[str, Any] = torch.load(Path(path), weights_only=True, map_location="cpu")
        if blob.get("format") != "bayesguard.dag-gflownet":
            raise ValueError(f"{path}: not a bayesguard DAG-GFlowNet file")
        if blob["d"] != score.d or list(score.names) != blob["names"]:
            raise ValueError(
                f"score: the saved sampler is for variables {blob['names']}, got {list(score.names)}"
            )
        model = cls(score, GFlowNetConfig(**{**blob["config"], "device": device}))
        model.policy.load_state_dict(blob["state_dict"])
        model.steps = int(blob["steps"])
        model.train_seconds = float(blob["train_seconds"])
        return model

    def describe(self) -> str:
        return json.dumps({"d": self.d, "steps": self.steps, "config": asdict(self.config)})
