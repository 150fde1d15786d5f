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

**Sampling is bounded.** A trajectory adds at most ``d (d - 1) / 2`` edges and then stops, so every
sampling loop stops with a ``RuntimeError`` past that many steps; a policy whose probabilities are not
finite (NaN or overflowing weights) raises ``FloatingPointError`` instead of drawing from them.

**Files.** :meth:`DAGGFlowNet.save` / :meth:`DAGGFlowNet.load` go through :mod:`bayesguard.artefact`
(kind ``"gflownet"``, a checksummed, pickle-free ``.npz``); the family names the structure problem
(``d``, the variable names, the local score and the prior's required / forbidden edges) and is checked
against the score given to ``load``; sizes are bounded before a network is allocated and every weight is
checked for shape and finiteness.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ...artefact import ArtefactError, load_arrays, save_arrays
from ...graphs.dag import closure_add_edge
from ...posterior import Posterior, SamplerError
from ...theories.causal.structure import FAMILY, StructureScore
from .buffer import ReplayBuffer
from .env import DAGEnv
from .policy import EdgePolicy

KIND = "gflownet"
VERSION = 1
#: Upper bounds on the sizes a saved sampler may declare, checked before anything is allocated.
#: :meth:`DAGGFlowNet.posterior` measures its exact error by default up to this many nodes (543 DAGs at 4).
MEASURE_MAX_D = 4
LOAD_LIMITS = {"hidden": 65536, "layers": 64, "batch_size": 2**20, "n_envs": 2**16, "buffer_size": 2**24}


def policy_shapes(d: int, hidden: int, layers: int) -> dict[str, tuple[int, ...]]:
    """``state_dict`` name -> shape of :class:`EdgePolicy` ``(d, hidden, layers)``, computed without
    building it (so a file's shapes are checked before a network is allocated)."""
    shapes: dict[str, tuple[int, ...]] = {}
    width = 2 * d * d
    for k in range(layers):
        shapes[f"body.{3 * k}.weight"] = (hidden, width)
        shapes[f"body.{3 * k}.bias"] = (hidden,)
        shapes[f"body.{3 * k + 1}.weight"] = (hidden,)
        shapes[f"body.{3 * k + 1}.bias"] = (hidden,)
        width = hidden
    shapes["edge_head.weight"] = (d * d, hidden)
    shapes["edge_head.bias"] = (d * d,)
    shapes["stop_head.weight"] = (1, hidden)
    shapes["stop_head.bias"] = (1,)
    return shapes


def problem_description(score: StructureScore) -> dict[str, Any]:
    """The structure problem a sampler is trained for, as JSON: ``d``, ``names``, the local score's class,
    and the prior's ``required`` and ``forbidden`` edges (``[i, j]`` lists)."""
    prior = score.prior
    return {
        "d": int(score.d),
        "names": [str(n) for n in score.names],
        "scorer": type(score.scorer).__name__,
        "required": np.argwhere(prior.required).tolist(),  # type: ignore[union-attr]
        "forbidden": np.argwhere(prior.forbidden).tolist(),  # type: ignore[union-attr]
    }


def problem_family(score: StructureScore) -> str:
    """``"dag-structure:d=<d>:<16 hex digits>"``: ``d`` and a hash of :func:`problem_description`."""
    text = json.dumps(problem_description(score), sort_keys=True, separators=(",", ":"))
    return f"dag-structure:d={score.d}:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def policy_probabilities(logp: np.ndarray, valid: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Normalised probabilities ``(K, A)`` of the tempered policy ``logp (K, A)`` over ``valid (K, A)``.

    Raises:
        FloatingPointError: when a valid action's log-probability is NaN or ``+inf``, or no valid action
            has a finite one (non-finite or overflowing weights): drawing from such a row would pick an
            arbitrary, possibly invalid, action.
    """
    lp = np.where(valid, logp, -np.inf)
    bad = np.isnan(lp) | np.isposinf(lp)
    top = lp.max(axis=1, keepdims=True)
    bad_rows = bad.any(axis=1) | ~np.isfinite(top[:, 0])
    if bad_rows.any():
        raise FloatingPointError(
            f"the policy gives non-finite probabilities for {int(bad_rows.sum())} of {lp.shape[0]} graphs "
            "(NaN, infinite or overflowing weights?); refusing to sample from them"
        )
    p = np.exp((lp - top) / temperature)
    return p / p.sum(axis=1, keepdims=True)


def draw_actions(probs: np.ndarray, valid: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``probs (K, A)`` (finite, >= 0, zero off ``valid (K, A)``): ``(K,)`` int."""
    k = probs.shape[0]
    cdf = np.cumsum(probs, axis=1)
    u = (1.0 - rng.random((k, 1))) * cdf[:, -1:]  # in (0, total]: never lands on a zero-probability action
    a = np.minimum((cdf < u).sum(axis=1), probs.shape[1] - 1)
    if not valid[np.arange(k), a].all():
        raise RuntimeError("internal error: an invalid action was drawn")
    return a


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
        """Sample actions ``(K,)`` from tempered ``logp (K, A)`` mixed with uniform-over-``valid (K, A)``.

        Raises ``FloatingPointError`` when the policy's probabilities are not finite.
        """
        k = logp.shape[0]
        p = policy_probabilities(logp, valid, temperature)
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
        return draw_actions(mix, valid, self.rng)

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
        if not self.env.valid_actions(self.env.reset(1))[0, :-1].any():
            return self.history  # no edge can be added: one graph, nothing to learn (and no transitions)
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
        """``n`` graphs from the trained forward policy: ``(n, d, d)`` bool.

        Raises:
            FloatingPointError: the policy's probabilities are not finite (NaN or overflowing weights).
            RuntimeError: a trajectory went past ``d (d - 1) / 2`` additions (impossible for a DAG).
        """
        if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
            raise ValueError(f"n: expected a non-negative integer, got {n!r}")
        if isinstance(batch, bool) or not isinstance(batch, int | np.integer) or batch < 1:
            raise ValueError(f"batch: expected a positive integer, got {batch!r}")
        rng = np.random.default_rng(seed) if seed is not None else self.rng
        max_steps = self.d * (self.d - 1) // 2 + 1  # every addition, then the stop
        out = [np.zeros((0, self.d, self.d), dtype=bool)]
        for start in range(0, n, batch):
            k = min(batch, n - start)
            s = self.env.reset(k)
            live = np.arange(k)
            for _ in range(max_steps):
                if not live.size:
                    break
                sub = self.env.subset(s, live)
                valid = self.env.valid_actions(sub)
                probs = policy_probabilities(self._log_probs(sub.adj, valid), valid)
                a = draw_actions(probs, valid, rng)
                go = a != self.env.stop
                if go.any():
                    idx = live[go]
                    i, j = np.divmod(a[go], self.d)
                    s.adj[idx, i, j] = True
                    s.closure[idx] = closure_add_edge(s.closure[idx], i, j)
                live = live[go]
            if live.size:
                raise RuntimeError(
                    f"sample: {live.size} trajectories did not stop within {max_steps} steps "
                    f"(at most d (d - 1) / 2 = {max_steps - 1} additions, then the stop)"
                )
            out.append(s.adj)
        return np.concatenate(out)

    def posterior(self, n: int, *, seed: int | None = None, measure_error: bool | None = None) -> Posterior:
        """An equal-weight :class:`Posterior` of ``n`` independent sampled graphs.

        Its sampler error is measured exactly against the enumerated posterior when ``measure_error``
        (default: when ``d <= MEASURE_MAX_D``); otherwise it is unknown, and guards built on it say their
        bounds are not guaranteed.
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
        """Write the policy weights, the config and the training counters with
        :func:`~bayesguard.artefact.save_arrays` (kind ``"gflownet"``, family :func:`problem_family`).

        Arrays: the policy's ``state_dict`` (float32, shapes of :func:`policy_shapes`). Meta: ``d``,
        ``names``, ``problem`` (:func:`problem_description`), ``config`` (without ``device``), ``steps``,
        ``train_seconds``. No pickle: loading it never runs code.
        """
        arrays = {k: v.detach().cpu().numpy() for k, v in self.policy.state_dict().items()}
        config = asdict(self.config)
        config.pop("device")
        meta = {
            "d": self.d,
            "names": [str(n) for n in self.score.names],
            "problem": problem_description(self.score),
            "config": config,
            "steps": int(self.steps),
            "train_seconds": float(self.train_seconds),
        }
        return save_arrays(path, KIND, VERSION, arrays, family=problem_family(self.score), meta=meta)

    @classmethod
    def load(cls, path: str | Path, score: StructureScore, device: str = "cpu") -> DAGGFlowNet:
        """Load a sampler saved by :meth:`save` for the same structure problem (``score`` gives the
        rewards), its policy on ``device``.

        Checked before any network is built: the format version, checksum and family (the problem:
        ``d``, names, score, prior), ``steps >= 0`` (an integer), ``train_seconds >= 0``, the config
        (known fields; ``hidden``, ``layers``, ``batch_size``, ``n_envs``, ``buffer_size`` positive
        integers within :data:`LOAD_LIMITS`); then every weight's name, dtype, shape and finiteness.
        Raises ``ValueError`` (an :class:`~bayesguard.artefact.ArtefactError`) naming the file and field.
        """
        arrays, head = load_arrays(path, KIND, (VERSION,))
        meta = head["meta"]
        mine = problem_description(score)
        if head["family"] != problem_family(score) or meta.get("problem") != mine:
            saved = meta.get("problem")
            raise ArtefactError(
                f"{path}: score: the saved sampler is for another structure problem ({json.dumps(saved)}), "
                f"got {json.dumps(mine)}"
            )
        steps = meta.get("steps")
        if not _is_int(steps) or steps < 0:
            raise ArtefactError(f"{path}: steps: expected an integer >= 0, got {steps!r}")
        seconds = meta.get("train_seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds < math.inf:
            raise ArtefactError(f"{path}: train_seconds: expected a finite number >= 0, got {seconds!r}")
        config = meta.get("config")
        if not isinstance(config, dict):
            raise ArtefactError(f"{path}: config: expected a JSON object, got {config!r}")
        known = {f.name for f in fields(GFlowNetConfig)} - {"device"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ArtefactError(f"{path}: config: unknown fields {unknown}; known: {sorted(known)}")
        for name, limit in LOAD_LIMITS.items():
            value = config.get(name)
            if not _is_int(value) or not 1 <= value <= limit:
                raise ArtefactError(
                    f"{path}: config.{name}: expected an integer in [1, {limit}], got {value!r}"
                )
        shapes = policy_shapes(score.d, config["hidden"], config["layers"])
        extra = sorted(set(arrays) - set(shapes))
        if extra:
            raise ArtefactError(f"{path}: unexpected arrays {extra} for a policy of this config")
        for name, shape in shapes.items():
            a = arrays.get(name)
            if a is None:
                raise ArtefactError(f"{path}: {name}: missing (expected a float32 array of shape {shape})")
            if a.dtype != np.float32 or a.shape != shape:
                raise ArtefactError(
                    f"{path}: {name}: expected a float32 array of shape {shape}, got {a.dtype} {a.shape}"
                )
            if not np.all(np.isfinite(a)):
                raise ArtefactError(f"{path}: {name}: expected finite weights, found NaN or infinity")
        try:
            cfg = GFlowNetConfig(**{**config, "device": device})
        except (TypeError, ValueError) as exc:
            raise ArtefactError(f"{path}: config: {exc}") from exc
        model = cls(score, cfg)
        model.policy.load_state_dict({name: torch.from_numpy(arrays[name].copy()) for name in shapes})
        model.steps = int(steps)
        model.train_seconds = float(seconds)
        return model

    def describe(self) -> str:
        return json.dumps({"d": self.d, "steps": self.steps, "config": asdict(self.config)})


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
