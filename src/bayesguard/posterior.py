"""The :class:`Posterior` record: a set of theories with normalised log-weights.

File format (``Posterior.save`` / ``Posterior.load``): a NumPy ``.npz`` archive, read with
``allow_pickle=False``, holding

- ``theories``: ``(n_theories, ...)`` array, the theories in the family's own encoding;
- ``log_weights``: ``(n_theories,)`` float64, natural-log weights normalised so that
  ``logsumexp(log_weights) == 0``;
- ``meta``: a 0-d unicode array holding a JSON object with keys ``format`` (``"bayesguard.posterior"``),
  ``version`` (``1``), ``kind`` (``"exact"``, ``"samples"`` or ``"weighted"``) and ``family`` (the
  family's name, or ``null``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp

from ._validate import as_float_array
from .theories.base import TheoryFamily

FORMAT = "bayesguard.posterior"
VERSION = 1
KINDS = ("exact", "samples", "weighted")


@dataclass(frozen=True)
class Posterior:
    """Theories with normalised log-weights.

    Attributes:
        theories: ``(n_theories, ...)`` theories in the family's encoding.
        log_weights: ``(n_theories,)`` log posterior weights, ``logsumexp == 0``.
        kind: ``"exact"`` (enumeration: the weights are the posterior), ``"samples"`` (equal-weight
            draws from an approximate sampler) or ``"weighted"`` (importance-reweighted draws).
        family: name of the family the theories belong to, if known.
    """

    theories: np.ndarray
    log_weights: np.ndarray
    kind: str = "exact"
    family: str | None = None

    def __post_init__(self) -> None:
        th = np.asarray(self.theories)
        lw = np.asarray(self.log_weights, dtype=np.float64)
        if lw.ndim != 1:
            raise ValueError(f"log_weights: expected a 1-d array, got shape {lw.shape}")
        if th.ndim < 1 or th.shape[0] != lw.shape[0]:
            raise ValueError(f"theories: expected {lw.shape[0]} theories along axis 0, got shape {th.shape}")
        if lw.size == 0:
            raise ValueError("log_weights: a posterior needs at least one theory")
        if np.any(np.isnan(lw)) or np.any(lw == np.inf):
            raise ValueError("log_weights: contains NaN or +inf")
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {KINDS}, got {self.kind!r}")
        total = logsumexp(lw)
        if not np.isfinite(total):
            raise ValueError("log_weights: every theory has zero weight (the data rule out all)")
        object.__setattr__(self, "theories", th)
        object.__setattr__(self, "log_weights", lw - total)

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_log_weights(
        cls,
        theories: np.ndarray,
        log_weights: np.ndarray,
        kind: str = "exact",
        family: str | None = None,
    ) -> Posterior:
        """Build from unnormalised log-weights (they are normalised here)."""
        return cls(np.asarray(theories), np.asarray(log_weights, dtype=np.float64), kind, family)

    @classmethod
    def from_samples(cls, theories: np.ndarray, family: str | None = None) -> Posterior:
        """Equal-weight posterior from ``(n_samples, ...)`` sampled theories."""
        th = np.asarray(theories)
        return cls(th, np.zeros(th.shape[0]), "samples", family)

    # ----------------------------------------------------------------- views
    @property
    def n_theories(self) -> int:
        return int(self.log_weights.shape[0])

    @property
    def probs(self) -> np.ndarray:
        """``(n_theories,)`` posterior probabilities summing to 1."""
        return np.exp(self.log_weights)

    @property
    def ess(self) -> float:
        """Kish effective sample size ``1 / sum(p^2)``, in ``[1, n_theories]``."""
        p = self.probs
        return float(1.0 / np.sum(p * p))

    def expect(self, values: np.ndarray) -> np.ndarray:
        """Posterior expectation of per-theory values ``(n_theories, ...) -> (...)``."""
        v = as_float_array(values, "values")
        if v.ndim == 0 or v.shape[0] != self.n_theories:
            raise ValueError(f"values: expected shape ({self.n_theories}, ...), got {v.shape}")
        return np.tensordot(self.probs, v, axes=(0, 0))

    def top(self, k: int = 5) -> list[tuple[int, float]]:
        """The ``k`` most probable theories as ``(index, probability)`` pairs, best first."""
        order = np.argsort(-self.log_weights, kind="stable")[:k]
        p = self.probs
        return [(int(i), float(p[i])) for i in order]

    # ----------------------------------------------------------------- updating
    def update(self, family: TheoryFamily, data: Any) -> Posterior:
        """Condition on new data by reweighting: ``log w <- log w + log p(data | theory)``.

        This is the exact Bayesian update for an exact (enumerated) posterior. For sampled theories it
        is an importance reweighting, and the result has ``kind="weighted"`` (watch :attr:`ess`).
        """
        loglik = np.asarray(family.log_likelihood(self.theories, data), dtype=np.float64)
        if loglik.shape != (self.n_theories,):
            raise ValueError(
                f"family.log_likelihood returned shape {loglik.shape}, expected ({self.n_theories},)"
            )
        kind = "exact" if self.kind == "exact" else "weighted"
        return Posterior(self.theories, self.log_weights + loglik, kind, self.family)

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the documented ``.npz`` format; returns the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        meta = {"format": FORMAT, "version": VERSION, "kind": self.kind, "family": self.family}
        np.savez(
            path,
            theories=self.theories,
            log_weights=self.log_weights,
            meta=np.array(json.dumps(meta)),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Posterior:
        """Read a file written by :meth:`save`; raises ValueError on any other file."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                missing = {"theories", "log_weights", "meta"} - set(f.files)
                if missing:
                    raise ValueError(f"{path}: not a bayesguard posterior (missing {sorted(missing)})")
                meta = json.loads(str(f["meta"]))
                if not isinstance(meta, dict):
                    raise ValueError(f"{path}: meta must be a JSON object, got {type(meta).__name__}")
                if meta.get("format") != FORMAT:
                    raise ValueError(f"{path}: format is {meta.get('format')!r}, expected {FORMAT!r}")
                if meta.get("version") != VERSION:
                    raise ValueError(f"{path}: unsupported version {meta.get('version')!r}")
                if "kind" not in meta:
                    raise ValueError(f"{path}: meta has no 'kind'")
                return cls(f["theories"], f["log_weights"], meta["kind"], meta.get("family"))
        except FileNotFoundError:
            raise
        except ValueError:
            raise
        except Exception as exc:  # not an .npz archive, truncated, unreadable
            raise ValueError(
                f"{path}: not a readable bayesguard posterior ({type(exc).__name__}: {exc})"
            ) from exc
