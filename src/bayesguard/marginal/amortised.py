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

**Files.** :meth:`AmortisedHarm.save` / :meth:`AmortisedHarm.load` go through
:mod:`bayesguard.artefact` (a checksummed, pickle-free ``.npz``): the file names the harm question it
answers (its family) and every field is validated on load, so a crafted or corrupt file is refused with
an error naming the file and the field instead of running code or predicting NaN.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..artefact import ArtefactError, load_arrays, save_arrays
from ..theories.causal.harm import HarmSpec
from ..theories.causal.harm_model import GaussianHarmModel
from ..theories.causal.linear_gaussian import LinearGaussianTheories
from .bounds import bernstein_width

KIND = "amortised"
VERSION = 1

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
        if not _is_int(hidden) or hidden < 1 or not _is_int(layers) or layers < 0:
            raise ValueError(f"hidden, layers: expected integers >= 1 and >= 0, got {hidden!r}, {layers!r}")
        self.hidden = hidden
        self.layers = layers
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
    def describe_spec(self) -> dict[str, Any]:
        """The harm question this network answers, as JSON: variables, context, actions, harm event.

        Numbers keep their full precision (``repr``), so two questions that differ anywhere differ here.
        """
        return spec_description(self.spec)

    @property
    def family(self) -> str:
        """``"causal-harm:<16 hex digits>"``: a short stable hash of :meth:`describe_spec`."""
        return spec_family(self.spec)

    def save(self, path: str | Path) -> Path:
        """Write the network, the input scaling and the error margin (via :func:`.artefact.save_arrays`).

        The file (kind ``"amortised"``, family :attr:`family`) holds float64 arrays: every layer's weight
        ``(out, in)`` and bias ``(out,)`` as ``net.<state_dict name>`` (e.g. ``net.0.weight``),
        ``x_mean`` and ``x_std`` ``(n_context,)``, and ``error_margin`` ``()`` (0 when there is none:
        ``meta["has_margin"]`` says which); ``meta`` holds ``hidden``, ``layers`` and the spec
        description. No pickle: loading it never runs code.
        """
        arrays: dict[str, np.ndarray] = {
            f"net.{name}": t.detach().cpu().numpy().astype(np.float64)
            for name, t in self.net.state_dict().items()
        }
        arrays["x_mean"] = np.asarray(self.x_mean, dtype=np.float64)
        arrays["x_std"] = np.asarray(self.x_std, dtype=np.float64)
        has_margin = self.error_margin is not None
        arrays["error_margin"] = np.array(float(self.error_margin) if has_margin else 0.0)
        meta = {
            "hidden": self.hidden,
            "layers": self.layers,
            "has_margin": has_margin,
            "spec": self.describe_spec(),
        }
        return save_arrays(path, KIND, VERSION, arrays, family=self.family, meta=meta)

    def load(self, path: str | Path) -> AmortisedHarm:
        """Load a file written by :meth:`save` into this network (same harm question and sizes).

        Every field is checked before anything is changed: the format and checksum (by
        :func:`~bayesguard.artefact.load_arrays`), the family and spec against this network's,
        ``hidden`` and ``layers``, each array's name, dtype and shape, all weights and ``x_mean``
        finite, ``x_std`` finite and > 0, ``error_margin`` finite and >= 0. Raises ``ValueError`` (an
        :class:`~bayesguard.artefact.ArtefactError`) naming the file and the field otherwise.
        """
        torch = _torch()
        arrays, head = load_arrays(path, KIND, (VERSION,))
        meta = head["meta"]
        mine = self.describe_spec()
        if head["family"] != self.family or meta.get("spec") != mine:
            raise ArtefactError(
                f"{path}: spec: saved for another harm question (family {head['family']!r}, spec "
                f"{json.dumps(meta.get('spec'))}), not this spec (family {self.family!r}, spec "
                f"{json.dumps(mine)})"
            )
        for field in ("hidden", "layers"):
            value = meta.get(field)
            if not _is_int(value) or value != getattr(self, field):
                raise ArtefactError(
                    f"{path}: {field}: saved {value!r}, this network has {field} = {getattr(self, field)}"
                )
        if not isinstance(meta.get("has_margin"), bool):
            raise ArtefactError(f"{path}: has_margin: expected true or false, got {meta.get('has_margin')!r}")
        m = len(self.spec.context)
        expected = {f"net.{name}": tuple(t.shape) for name, t in self.net.state_dict().items()}
        expected |= {"x_mean": (m,), "x_std": (m,), "error_margin": ()}
        extra = sorted(set(arrays) - set(expected))
        if extra:
            raise ArtefactError(f"{path}: unexpected arrays {extra}; expected {sorted(expected)}")
        for name, shape in expected.items():
            if name not in arrays:
                raise ArtefactError(f"{path}: {name}: missing (expected a float64 array of shape {shape})")
            a = arrays[name]
            if a.dtype != np.float64 or a.shape != shape:
                raise ArtefactError(
                    f"{path}: {name}: expected a float64 array of shape {shape}, got {a.dtype} {a.shape}"
                )
            if not np.all(np.isfinite(a)):
                raise ArtefactError(f"{path}: {name}: expected finite values, found NaN or infinity")
        if not np.all(arrays["x_std"] > 0):
            scales = arrays["x_std"].tolist()
            raise ArtefactError(f"{path}: x_std: expected every input scale > 0, got {scales}")
        margin = float(arrays["error_margin"])
        if margin < 0:
            raise ArtefactError(f"{path}: error_margin: expected a number >= 0, got {margin!r}")
        state = {name: torch.from_numpy(arrays[f"net.{name}"].copy()) for name in self.net.state_dict()}
        self.net.load_state_dict(state)
        self.x_mean, self.x_std = arrays["x_mean"].copy(), arrays["x_std"].copy()
        self.error_margin = margin if meta["has_margin"] else None
        self._numpy_weights()
        return self


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _exact(value: object) -> object:
    """A number or label as JSON that keeps it exactly (floats by ``repr``)."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value)


def spec_description(spec: HarmSpec) -> dict[str, Any]:
    """JSON description of a :class:`HarmSpec`: ``names``, ``context``, ``actions`` (each a list of
    ``[variable, value]``), ``harm`` as text (``"h > 0.25"``, value by ``repr``) and ``categories``."""
    harm = spec.harm
    return {
        "names": list(spec.names),
        "context": list(spec.context),
        "actions": [[[var, _exact(val)] for var, val in act.items()] for act in spec.actions],
        "harm": f"{harm.variable} {harm.op} {_exact(harm.value)}",
        "categories": (
            None if spec.categories is None else [[_exact(c) for c in cs] for cs in spec.categories]
        ),
    }


def spec_family(spec: HarmSpec) -> str:
    """``"causal-harm:"`` + the first 16 hex digits of the SHA-256 of :func:`spec_description`."""
    text = json.dumps(spec_description(spec), sort_keys=True, separators=(",", ":"))
    return "causal-harm:" + hashlib.sha256(text.encode()).hexdigest()[:16]
