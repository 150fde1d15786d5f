"""A small neural reward ``r(x) = v . h(x)`` for features too rich for a linear model: an ensemble of MLPs
trained on preferences, and a last-layer Laplace posterior, as a theory family the guard accepts.

**Theories.** A theory is one member ``m`` of the ensemble with one last layer ``v``: a row
``(member, v_1, ..., v_H)`` of shape ``(1 + hidden,)``, so a batch is ``(n_theories, 1 + hidden)``. The
ensemble's own theories are its trained heads (:meth:`NeuralRewardFamily.ensemble_posterior`); the
last-layer Laplace theories are draws of ``v`` from each member's Gaussian
(:meth:`NeuralRewardFamily.laplace_posterior`). Rewards, the regret harm and the likelihood of new
preferences are computed for the whole batch at once (a loop runs over the ``M`` members, never over
theories); the forward pass is NumPy, so a trained family needs no PyTorch.

**Last-layer Laplace.** With the features ``h_m`` of member ``m`` fixed, the head is a linear reward over
``h_m(x)``: its posterior under the Gaussian prior and the human model is exactly the posterior of a
:class:`~.linear.LinearRewardFamily` over those features, and its Laplace approximation is the one of
:func:`~bayesguard.inference.reward_posterior.laplace_fit` (the MAP of the head refitted given the
features, the exact Hessian of the log posterior by differences of its analytic gradient; the
Bradley-Terry log-likelihood is concave in ``v``, so the mode is unique). Why not laplace-torch: its
``reward_modeling`` likelihood is a two-way softmax (``beta = 1``, no mistake rate, no "equal" answer),
it brings torchvision, asdl, backpack, curvlinops and torchmetrics (torchvision must match the pinned
CPU torch), and for a last layer it approximates the Hessian that is available here exactly.

**What it means.** Ensemble members are independently trained MAP estimates, not posterior draws; the
Laplace draws are a local Gaussian around each member's head. Their spread is a heuristic of epistemic
uncertainty (it grows off the training distribution, where members extrapolate differently), not a
calibrated posterior; both are recorded with an unknown sampler error.

**Artefact.** :meth:`NeuralRewardFamily.save` writes a :mod:`bayesguard.artefact` file of kind
``"neural-reward"`` (version 1; checksummed, no pickle): arrays ``w0..``, ``b0..``, ``head``,
``train_inputs`` and, when fitted, ``laplace_mean`` ``(M, H)`` and ``laplace_cov`` ``(M, H, H)``; its
meta holds the human model, the config and the regret tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from ..._validate import as_float_array, positive_int
from ...artefact import ArtefactError, load_arrays, require, save_arrays
from ...posterior import Posterior, SamplerError
from ..base import select_action
from .feedback import Preferences, as_feedback
from .human import HumanModel
from .likelihoods import log_likelihood
from .linear import LinearRewardFamily
from .neural_train import NeuralRewardConfig, check_model, train_members

ARTEFACT = "neural-reward"
VERSION = 1


@dataclass(frozen=True, eq=False)
class NeuralRewardFamily:
    """An ensemble of ``M`` MLP rewards over input features ``x`` ``(n_inputs,)``, as theories.

    Build one with :meth:`train`. Attributes:
        weights: ``M``-batched hidden layers, ``weights[k]`` ``(M, in_k, hidden)``; biases: ``(M, hidden)``.
        head: ``(M, hidden)`` the trained last layers.
        n_actions: number of options in a guard context ``(n_actions, n_inputs)``.
        model: the :class:`~.human.HumanModel` (fixed ``beta``).
        config: the :class:`~.neural_train.NeuralRewardConfig` it was trained with.
        tolerance: regret ``tau >= 0`` above which an action counts as a harm.
        train_inputs: ``(n, n_inputs)`` the inputs of the training answers (the guard's support), or None.
        laplace_mean: ``(M, hidden)``, laplace_cov: ``(M, hidden, hidden)``: the last-layer Laplace
            posteriors, or None before :meth:`with_laplace`.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    head: np.ndarray
    n_actions: int
    model: HumanModel = field(default_factory=HumanModel)
    config: NeuralRewardConfig = field(default_factory=NeuralRewardConfig)
    tolerance: float = 0.0
    train_inputs: np.ndarray | None = None
    laplace_mean: np.ndarray | None = None
    laplace_cov: np.ndarray | None = None
    name: str = "neural-reward"

    def __post_init__(self) -> None:
        positive_int(self.n_actions, "n_actions")
        check_model(self.model)
        ws = tuple(as_float_array(w, f"weights[{k}]", ndim=3) for k, w in enumerate(self.weights))
        bs = tuple(as_float_array(b, f"biases[{k}]", ndim=2) for k, b in enumerate(self.biases))
        if not ws or len(bs) != len(ws):
            raise ValueError(f"biases: expected one per layer ({len(ws)}), got {len(bs)}")
        m, h = ws[0].shape[0], ws[-1].shape[2]
        for k, (w, b) in enumerate(zip(ws, bs, strict=True)):
            prev = ws[0].shape[1] if k == 0 else ws[k - 1].shape[2]
            if w.shape[:2] != (m, prev) or b.shape != (m, w.shape[2]):
                raise ValueError(f"weights[{k}], biases[{k}]: shapes {w.shape}, {b.shape} do not chain")
        head = as_float_array(self.head, "head", ndim=2)
        if head.shape != (m, h):
            raise ValueError(f"head: expected shape ({m}, {h}), got {head.shape}")
        tau = float(as_float_array(self.tolerance, "tolerance", ndim=0))
        if tau < 0:
            raise ValueError(f"tolerance: expected a regret tolerance >= 0, got {self.tolerance!r}")
        if self.train_inputs is not None:
            x = as_float_array(self.train_inputs, "train_inputs", ndim=2)
            if x.shape[1] != ws[0].shape[1]:
                raise ValueError(f"train_inputs: expected shape (n, {ws[0].shape[1]}), got {x.shape}")
            object.__setattr__(self, "train_inputs", x)
        if (self.laplace_mean is None) != (self.laplace_cov is None):
            raise ValueError("laplace_mean, laplace_cov: give both or neither")
        if self.laplace_mean is not None:
            mu = as_float_array(self.laplace_mean, "laplace_mean", ndim=2)
            cov = as_float_array(self.laplace_cov, "laplace_cov", ndim=3)
            if mu.shape != (m, h) or cov.shape != (m, h, h):
                raise ValueError(f"laplace_mean, laplace_cov: expected ({m}, {h}), ({m}, {h}, {h})")
            object.__setattr__(self, "laplace_mean", mu)
            object.__setattr__(self, "laplace_cov", cov)
        object.__setattr__(self, "weights", ws)
        object.__setattr__(self, "biases", bs)
        object.__setattr__(self, "head", head)
        object.__setattr__(self, "tolerance", tau)

    # ------------------------------------------------------------------ construction
    @classmethod
    def train(
        cls,
        prefs: Preferences,
        n_actions: int,
        model: HumanModel | None = None,
        config: NeuralRewardConfig | None = None,
        *,
        tolerance: float = 0.0,
        laplace: bool = True,
    ) -> NeuralRewardFamily:
        """Train the ensemble on ``prefs`` (inputs ``(m, n_inputs)`` left and right) and, with
        ``laplace``, fit each member's last-layer Laplace posterior (needs PyTorch)."""
        if not isinstance(prefs, Preferences) or len(prefs) == 0:
            raise ValueError("prefs: expected Preferences with at least one answer")
        model = HumanModel() if model is None else model
        cfg = NeuralRewardConfig() if config is None else config
        if not isinstance(cfg, NeuralRewardConfig):
            raise TypeError(f"config: expected a NeuralRewardConfig, got {type(cfg).__name__}")
        ws, bs, head = train_members(prefs, check_model(model), cfg)
        fam = cls(
            tuple(ws), tuple(bs), head, n_actions, model, cfg, tolerance, np.vstack([prefs.left, prefs.right])
        )
        return fam.with_laplace(prefs) if laplace else fam

    def with_laplace(self, prefs: Preferences) -> NeuralRewardFamily:
        """The family with each member's last-layer Laplace posterior given ``prefs`` (module docstring)."""
        from ...inference.laplace import fit_laplace

        means, covs = [], []
        for m in range(self.n_members):  # over members (each a convex problem of its own)
            head = self.head_family(m, prefs)
            fit = fit_laplace(head.log_density, head.grad_log_density, self.head[m])
            means.append(fit.mode)
            covs.append(fit.cov)
        return replace(self, laplace_mean=np.array(means), laplace_cov=np.array(covs))

    def head_family(self, member: int, prefs: Preferences) -> LinearRewardFamily:
        """The last layer of ``member`` as a :class:`~.linear.LinearRewardFamily` over its features,
        holding ``prefs`` mapped through them."""
        h_l, h_r = self.features(prefs.left)[member], self.features(prefs.right)[member]
        data = Preferences(h_l, h_r, prefs.answer)
        return LinearRewardFamily(
            self.hidden, self.n_actions, scale=self.config.prior_scale, model=self.model, data=data
        )

    # ------------------------------------------------------------------ shapes and forward pass
    @property
    def n_members(self) -> int:
        return int(self.head.shape[0])

    @property
    def hidden(self) -> int:
        return int(self.head.shape[1])

    @property
    def n_inputs(self) -> int:
        return int(self.weights[0].shape[1])

    def _inputs(self, x: object, field: str) -> np.ndarray:
        arr = as_float_array(x, field, ndim=2)
        if arr.shape[1] != self.n_inputs:
            raise ValueError(f"{field}: expected shape (n, {self.n_inputs}), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{field}: contains NaN or infinite values")
        return arr

    def features(self, x: object) -> np.ndarray:
        """Last hidden layer of every member: ``(n, n_inputs) -> (M, n, hidden)``."""
        h = self._inputs(x, "features")  # (n, n_inputs); the first layer broadcasts it over members
        for w, b in zip(self.weights, self.biases, strict=True):  # over layers
            h = np.tanh(h @ w + b[:, None, :])
        return h

    def member_rewards(self, x: object) -> np.ndarray:
        """Each member's trained reward: ``(n, n_inputs) -> (M, n)``."""
        return np.einsum("mnh,mh->mn", self.features(x), self.head)

    def _split(self, theories: object) -> tuple[np.ndarray, np.ndarray]:
        th = as_float_array(theories, "theories", ndim=2)
        if th.shape[1] != 1 + self.hidden:
            raise ValueError(f"theories: expected shape (n_theories, {1 + self.hidden}), got {th.shape}")
        idx = th[:, 0]
        if np.any(idx != np.round(idx)) or np.any(idx < 0) or np.any(idx >= self.n_members):
            raise ValueError(f"theories: column 0 must be a member index in 0..{self.n_members - 1}")
        return idx.astype(np.int64), th[:, 1:]

    def reward(self, theories: object, features: object) -> np.ndarray:
        """``v . h_m(x)`` of each option under each theory: ``(n_theories, 1 + hidden), (n_options,
        n_inputs) -> (n_theories, n_options)``."""
        idx, v = self._split(theories)
        h = self.features(features)  # (M, n_options, hidden)
        return np.einsum("th,toh->to", v, h[idx])

    def preference_probs(self, theories: object, left: object, right: object) -> np.ndarray:
        """``P(left preferred | theory)`` (Bradley-Terry, no mistakes, no "equal"): ``(n_theories, q)``."""
        lt = self._inputs(left, "left")
        rt = self._inputs(right, "right")
        if lt.shape != rt.shape:
            raise ValueError(f"right: expected shape {lt.shape} like left, got {rt.shape}")
        r = self.reward(theories, np.vstack([lt, rt]))
        return expit(float(self.model.beta) * (r[:, : len(lt)] - r[:, len(lt) :]))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ the TheoryFamily protocol
    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """``log(1 / M) + log N(v; 0, s^2 I)`` of each theory: ``(n_theories,)``."""
        _, v = self._split(theories)
        s = self.config.prior_scale
        return (
            -np.log(self.n_members)
            - 0.5 * np.sum(v * v, axis=1) / s**2
            - self.hidden * (np.log(s) + 0.5 * np.log(2 * np.pi))
        )

    def log_likelihood(self, theories: np.ndarray, data: Any) -> np.ndarray:
        """``log p(preferences | theory)`` under the human model, features fixed: ``(n_theories,)``.

        ``data``: :class:`~.feedback.Preferences` (or a :class:`~.feedback.FeedbackData` holding only
        preferences) whose ``left``/``right`` are input features ``(m, n_inputs)``.
        """
        prefs = self._preferences(data)
        idx, v = self._split(theories)
        out = np.zeros(idx.size)
        h_l, h_r = self.features(prefs.left), self.features(prefs.right)
        for m in np.unique(idx):  # over members; vectorised over each member's theories
            rows = idx == m
            out[rows] = log_likelihood(v[rows], Preferences(h_l[m], h_r[m], prefs.answer), self.model)
        return out

    def harm_prob(self, theories: np.ndarray, context: Any, action: int | None = None) -> np.ndarray:
        """The regret harm, as for linear rewards: 1 where ``max_b r(x_b) - r(x_a) > tolerance``.

        Args:
            theories: ``(n_theories, 1 + hidden)``; context: ``(n_actions, n_inputs)`` option inputs.

        Returns:
            ``(n_theories, n_actions)`` (or ``(n_theories,)`` for one action) in {0, 1}.
        """
        x = self._inputs(context, "context (option inputs)")
        if x.shape[0] != self.n_actions:
            raise ValueError(
                f"context (option inputs): expected shape ({self.n_actions}, {self.n_inputs}), got {x.shape}"
            )
        r = self.reward(theories, x)
        harm = (r.max(axis=1, keepdims=True) - r > self.tolerance).astype(np.float64)
        return select_action(harm, action, self.n_actions)

    def describe(self, theory: np.ndarray) -> str:
        """``member 2: |v| = 1.3, v = (+0.41, -0.20, ...)``."""
        idx, v = self._split(np.asarray(theory, dtype=np.float64).reshape(1, -1))
        head = ", ".join(f"{x:+.2f}" for x in v[0, :4]) + (", ..." if self.hidden > 4 else "")
        return f"member {idx[0]}: |v| = {np.linalg.norm(v[0]):.3g}, v = ({head})"

    # ------------------------------------------------------------------ the guard's support check
    def support_data(self) -> np.ndarray | None:
        """``(n, n_inputs)`` the training inputs (a context unlike them is ASKed, never ALLOWed)."""
        return self.train_inputs

    def support_features(self, context: Any) -> np.ndarray:
        """The option inputs of a context: ``(n_actions, n_inputs)``."""
        return self._inputs(context, "context (option inputs)")

    def support_contexts(self, data: Any) -> np.ndarray:
        """The inputs of observed preferences ``(2 m, n_inputs)``."""
        prefs = self._preferences(data)
        return np.vstack([prefs.left, prefs.right])

    def _preferences(self, data: Any) -> Preferences:
        fb = as_feedback(data)
        if set(fb.records) != {"preferences"}:
            raise ValueError("data: the neural reward takes Preferences only")
        prefs: Preferences = fb.preferences  # type: ignore[assignment]
        self._inputs(prefs.left, "Preferences.left")
        return prefs

    # ------------------------------------------------------------------ posteriors
    def ensemble_posterior(self) -> Posterior:
        """The members with their trained heads, equal weights: ``(M, 1 + hidden)`` theories."""
        th = np.column_stack([np.arange(self.n_members, dtype=np.float64), self.head])
        err = SamplerError.unknown("deep ensemble: independently trained MAP estimates, not posterior draws")
        return Posterior.from_samples(
            th, self.name, method="deep-ensemble", sampler_error=err, independent=True
        )

    def laplace_posterior(self, n_per_member: int = 200, seed: int = 0) -> Posterior:
        """``n_per_member`` draws of the head from each member's last-layer Laplace Gaussian, equal
        weights: ``(M * n_per_member, 1 + hidden)`` theories (a mixture of ``M`` Gaussians)."""
        if self.laplace_mean is None or self.laplace_cov is None:
            raise ValueError(
                "laplace_mean: fit the last-layer Laplace first (with_laplace or train(laplace=True))"
            )
        n = positive_int(n_per_member, "n_per_member")
        rng = np.random.default_rng(positive_int(seed, "seed", minimum=0))
        roots = np.linalg.cholesky(self.laplace_cov)  # (M, H, H)
        z = rng.standard_normal((self.n_members, n, self.hidden))
        v = self.laplace_mean[:, None, :] + np.einsum("mij,mnj->mni", roots, z)
        idx = np.repeat(np.arange(self.n_members, dtype=np.float64), n)
        th = np.column_stack([idx, v.reshape(-1, self.hidden)])
        err = SamplerError.unknown(
            "last-layer Laplace around each ensemble member (features fixed); not measured"
        )
        return Posterior.from_samples(
            th, self.name, method="last-layer-laplace", sampler_error=err, independent=True
        )

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the documented artefact (module docstring); returns the path written."""
        arrays: dict[str, np.ndarray] = {"head": self.head}
        for k, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            arrays[f"w{k}"], arrays[f"b{k}"] = w, b
        if self.train_inputs is not None:
            arrays["train_inputs"] = self.train_inputs
        if self.laplace_mean is not None:
            arrays["laplace_mean"], arrays["laplace_cov"] = self.laplace_mean, self.laplace_cov  # type: ignore[assignment]
        meta = {
            "layers": len(self.weights),
            "n_actions": self.n_actions,
            "tolerance": self.tolerance,
            "model": {
                "beta": float(self.model.beta),  # type: ignore[arg-type]
                "eps": self.model.eps,
                "indifference": self.model.indifference,
            },
            "config": asdict(self.config),
        }
        return save_arrays(path, ARTEFACT, VERSION, arrays, family=self.name, meta=meta)

    @classmethod
    def load(cls, path: str | Path) -> NeuralRewardFamily:
        """Read a file written by :meth:`save` (checksum checked, no pickle); raises
        :class:`~bayesguard.artefact.ArtefactError` naming the file when it is not a valid one."""
        arrays, head = load_arrays(path, ARTEFACT, (VERSION,))
        meta = head["meta"]
        try:
            k = int(meta["layers"])
            require(arrays, path, head=("f", 2), **{f"w{i}": ("f", 3) for i in range(k)})
            require(arrays, path, **{f"b{i}": ("f", 2) for i in range(k)})
            return cls(
                tuple(arrays[f"w{i}"] for i in range(k)),
                tuple(arrays[f"b{i}"] for i in range(k)),
                arrays["head"],
                int(meta["n_actions"]),
                HumanModel(**meta["model"]),
                NeuralRewardConfig(**meta["config"]),
                float(meta["tolerance"]),
                arrays.get("train_inputs"),
                arrays.get("laplace_mean"),
                arrays.get("laplace_cov"),
                head["family"] or "neural-reward",
            )
        except ArtefactError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtefactError(f"{path}: not a valid neural reward ({exc})") from exc

    def __repr__(self) -> str:
        return (
            f"NeuralRewardFamily(M={self.n_members}, inputs={self.n_inputs}, hidden={self.hidden}, "
            f"laplace={self.laplace_mean is not None})"
        )
