"""Amortised marginaliser: a network ``q(H | x, a)`` trained from one posterior theory at a time.

Each training example pairs a context ``x`` with a *single* theory ``theta ~ p(theta | D)`` and the
target ``P(H | x, a, theta)`` for every action. The loss is the binary cross-entropy with these soft
targets, a proper scoring rule: for each ``(x, a)`` its expectation over ``theta`` is minimised by
``q = E_theta P(H | x, a, theta) = P(H | x, a, D)``, the posterior-predictive harm. So the network
learns the marginal without ever summing over theories, and a check costs one small forward pass.

Contexts are drawn from a pool (by default the observed rows of the context variables) with Gaussian
jitter of ``jitter`` column standard deviations, so the network also sees contexts between the rows.

**Its uncertainty.** The network has no finite-sample guarantee. :meth:`AmortisedHarm.validate`
compares it with a Monte Carlo estimate over many theories at held-out contexts and records
``error_margin = max |q - MC| + max MC half-width``; ``upper = q + error_margin`` is an empirical
margin valid on contexts like the validation ones, and the verdict labels it so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..theories.causal.harm import HarmSpec
from ..theories.causal.harm_model import GaussianHarmModel
from ..theories.causal.linear_gaussian import LinearGaussianTheories
from .bounds import bernstein_width

TheoryDraw = Callable[[np.random.Generator, int], LinearGaussianTheories]


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("the amortised marginaliser needs PyTorch: pip install 'bayesguard[gfn]'") from exc
    return torch


class AmortisedHarm:
    """``q(H | x, a)`` for every action of ``spec`` from the context values ``x``.

    Args:
        spec: the harm event, actions and context variables.
        hidden: width of each hidden layer.
        layers: number of hidden layers.
        seed: seeds the network's initialisation and the training draws.
    """

    def __init__(self, spec: HarmSpec, hidden: int = 64, layers: int = 2, seed: int = 0) -> None:
        torch = _torch()
        self.spec = spec
        self.seed = seed
        torch.manual_seed(seed)
        m, a = len(spec.context), spec.n_actions
        mods: list = []
        width = m
        for _ in range(layers):
            mods += [torch.nn.Linear(width, hidden), torch.nn.SiLU()]
            width = hidden
        mods.append(torch.nn.Linear(width, a))
        self.net = torch.nn.Sequential(*mods).double()
        self.x_mean = np.zeros(m)
        self.x_std = np.ones(m)
        self.error_margin: float | None = None
        self.history: list[dict[str, float]] = []
        self._numpy_weights()

    # ------------------------------------------------------------------ training
    def fit(
        self,
        draw: TheoryDraw,
        contexts: np.ndarray,
        *,
        steps: int = 3000,
        seconds: float | None = None,
        batch: int = 512,
        lr: float = 3e-3,
        jitter: float = 0.5,
        progress: bool = False,
    ) -> AmortisedHarm:
        """Train on ``steps`` batches (or for ``seconds``) of one theory per example.

        Args:
            draw: ``draw(rng, n)`` returns ``n`` theories drawn from the posterior.
            contexts: ``(N, n_context)`` pool of context values (e.g. the observed rows).
            steps: optimiser steps (the learning rate decays linearly to 5 % over them).
            seconds: a wall-clock budget instead (the decay then follows elapsed time).
            batch: examples (theory, context) per step.
            lr: Adam's initial learning rate.
            jitter: Gaussian noise added to pool contexts, in column standard deviations.
            progress: show a progress bar.
        """
        torch = _torch()
        pool = self.spec.context_values(np.asarray(contexts, dtype=np.float64))
        if pool.ndim != 2 or pool.shape[0] < 1:
            raise ValueError(f"contexts: expected a (N, {len(self.spec.context)}) pool, got {pool.shape}")
        self.x_mean = pool.mean(axis=0)
        self.x_std = np.where(pool.std(axis=0) > 0, pool.std(axis=0), 1.0)
        rng = np.random.default_rng(self.seed)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=steps if seconds is None else None, desc="amortised harm", unit="step")
        start = time.perf_counter()
        step = 0
        while True:
            elapsed = time.perf_counter() - start
            frac = elapsed / seconds if seconds is not None else step / steps
            if frac >= 1.0:
                break
            for group in opt.param_groups:
                group["lr"] = lr * (1.0 - 0.95 * frac)
            theories = draw(rng, batch)
            x = pool[rng.integers(0, pool.shape[0], batch)]
            x = x + jitter * self.x_std * rng.standard_normal(x.shape)
            target = GaussianHarmModel(self.spec, theories).harm_pairs(np.arange(batch), x)
            logits = self.net(torch.from_numpy((x - self.x_mean) / self.x_std))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(target))
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % 50 == 0 or step == 1:
                self.history.append({"step": step, "seconds": elapsed, "loss": float(loss.detach())})
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        self._numpy_weights()
        return self

    def _numpy_weights(self) -> None:
        """Copy the layers into NumPy for a fast single-context forward pass."""
        self._layers = [
            (m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy())
            for m in self.net
            if hasattr(m, "weight")
        ]

    # ------------------------------------------------------------------ prediction
    def predict(self, context: object) -> np.ndarray:
        """``q(H | x, a)`` per action: one context -> ``(n_actions,)``, ``(B, m)`` -> ``(B, n_actions)``."""
        x = self.spec.context_values(context)
        h = (x - self.x_mean) / self.x_std
        last = len(self._layers) - 1
        for k, (w, b) in enumerate(self._layers):
            h = h @ w + b
            if k < last:
                h = h / (1.0 + np.exp(-h))  # SiLU
        return 1.0 / (1.0 + np.exp(-h))

    def validate(
        self, draw: TheoryDraw, contexts: np.ndarray, n_theories: int = 5000, delta: float = 0.05
    ) -> dict[str, float]:
        """Compare with Monte Carlo over ``n_theories`` fresh posterior theories at ``contexts (B, m)``.

        Sets :attr:`error_margin` and returns ``max_abs_error``, ``rmse``, ``mc_width`` (the largest
        empirical-Bernstein half-width of the Monte Carlo reference) and ``error_margin``.
        """
        x = self.spec.context_values(np.asarray(contexts, dtype=np.float64))
        rng = np.random.default_rng(self.seed + 1)
        per_theory = GaussianHarmModel(self.spec, draw(rng, n_theories)).harm_batch(x)  # (B, n, A)
        mc = per_theory.mean(axis=1)
        width = float(bernstein_width(np.swapaxes(per_theory, 0, 1), delta).max())
        err = np.abs(self.predict(x) - mc)
        self.error_margin = float(err.max()) + width
        return {
            "max_abs_error": float(err.max()),
            "rmse": float(np.sqrt(np.mean(err**2))),
            "mc_width": width,
            "error_margin": self.error_margin,
        }

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        """Write the network, the input scaling and the error margin to a ``.pt`` file."""
        torch = _torch()
        path = Path(path)
        torch.save(
            {
                "state": self.net.state_dict(),
                "x_mean": self.x_mean,
                "x_std": self.x_std,
                "error_margin": self.error_margin,
                "shape": [len(self.spec.context), self.spec.n_actions],
            },
            path,
        )
        return path

    def load(self, path: str | Path) -> AmortisedHarm:
        """Load weights saved by :meth:`save` into this network (same spec and sizes)."""
        torch = _torch()
        blob = torch.load(Path(path), weights_only=False)
        if blob["shape"] != [len(self.spec.context), self.spec.n_actions]:
            raise ValueError(f"{path}: saved for (n_context, n_actions) = {blob['shape']}, not this spec")
        self.net.load_state_dict(blob["state"])
        self.x_mean, self.x_std = blob["x_mean"], blob["x_std"]
        self.error_margin = blob["error_margin"]
        self._numpy_weights()
        return self
