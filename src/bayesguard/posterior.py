"""The :class:`Posterior` record: theories with normalised log-weights, and how they were made.

A posterior knows its own honesty: ``kind`` says what the weights mean (``"exact"`` enumeration,
equal-weight ``"samples"``, importance-``"weighted"`` draws), ``method`` names what produced it
(``"enumeration"``, ``"mcmc"``, ``"gflownet"``, ``"smc"``, ...), ``independent`` says whether its draws
are independent (a GFlowNet's are; an MCMC chain's are not), and ``sampler_error`` is a
:class:`SamplerError`: the total-variation distance between the sampler and the true posterior, with
how it was obtained, or unknown. A guard uses these to decide whether a bound is *guaranteed*.

File format (``Posterior.save`` / ``Posterior.load``): a :mod:`bayesguard.artefact` file of kind
``"posterior"`` (version 2; no pickle, SHA-256 checked on load) holding the arrays ``theories``
``(n_theories, ...)`` and ``log_weights`` ``(n_theories,)`` (normalised so that
``logsumexp(log_weights) == 0``), the family's name, and in its meta ``kind``, ``method``,
``independent`` and ``sampler_error`` (``{"tv", "how", "is_bound"}``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import logsumexp

from ._validate import as_float_array
from .artefact import ArtefactError, load_arrays, save_arrays
from .theories.base import TheoryFamily


@dataclass(frozen=True)
class SamplerError:
    """How far a sampler's law may be from the true posterior, and how we know.

    Attributes:
        tv: the total-variation distance ``TV(sampler, posterior)`` in [0, 1], or None when unknown.
        how: how ``tv`` was obtained, in words (e.g. ``"exact enumeration"``, ``"exact sampler law
            against the enumerated posterior"``, ``"between-chain edge-marginal disagreement"``).
        is_bound: True only when ``tv`` is known to bound the error (computed exactly, or stated by the
            user as a bound); an estimate (between chains, from finite samples) is not a bound.
    """

    tv: float | None = None
    how: str = "unknown"
    is_bound: bool = False

    def __post_init__(self) -> None:
        if self.tv is not None:
            tv = float(self.tv)
            if not (math.isfinite(tv) and 0.0 <= tv <= 1.0):
                raise ValueError(f"sampler_error.tv: expected a TV distance in [0, 1] or None, got {tv!r}")
            object.__setattr__(self, "tv", tv)
        elif self.is_bound:
            raise ValueError("sampler_error: an unknown error (tv=None) cannot be a bound")
        if not isinstance(self.how, str) or not self.how:
            raise ValueError("sampler_error.how: say in words how the error was obtained")

    @classmethod
    def exact(cls) -> SamplerError:
        return cls(0.0, "exact enumeration", True)

    @classmethod
    def unknown(cls, why: str = "unknown") -> SamplerError:
        return cls(None, why, False)

    @property
    def known(self) -> bool:
        return self.tv is not None

    def to_dict(self) -> dict[str, Any]:
        return {"tv": self.tv, "how": self.how, "is_bound": self.is_bound}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SamplerError:
        return cls(d.get("tv"), d.get("how", "unknown"), bool(d.get("is_bound", False)))

    def __str__(self) -> str:
        if self.tv is None:
            return f"sampler error unknown ({self.how})"
        kind = "bound" if self.is_bound else "estimate, not a bound"
        return f"sampler TV {self.tv:.3g} ({self.how}; {kind})"


VERSION = 2
SOURCES = ("posterior", "search", "human")
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
        method: what produced the theories (``"enumeration"``, ``"mcmc"``, ``"gflownet"``, ``"smc"``,
            ``"given"`` when built by hand, ...).
        sampler_error: a :class:`SamplerError`; ``kind="exact"`` forces ``SamplerError.exact()``, and
            sampled posteriors default to unknown.
        independent: whether the theories are independent draws from the sampler (True for exact
            posteriors and i.i.d. samplers such as the GFlowNet; False for MCMC chains).
        source: ``(n_theories,)`` where each theory came from: ``"posterior"`` (the sampler or the
            enumeration), ``"search"`` (the harm-seeking search) or ``"human"`` (a person's theory).
            Theories not from the posterior carry weight 0 here (they were not drawn from it, so they
            take no part in posterior-predictive averages); a guard weighs them by their exact score
            when it forms the cautious set.
        labels: ``(n_theories,)`` a readable label per theory (e.g. the person's name for the theory).
    """

    theories: np.ndarray
    log_weights: np.ndarray
    kind: str = "exact"
    family: str | None = None
    method: str = "given"
    sampler_error: SamplerError = field(default_factory=SamplerError)
    independent: bool = True
    source: np.ndarray | None = None
    labels: np.ndarray | None = None

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
        n = lw.shape[0]
        src = np.full(n, "posterior") if self.source is None else np.asarray(self.source, dtype=str)
        if src.shape != (n,) or not np.isin(src, SOURCES).all():
            raise ValueError(f"source: expected {n} entries from {SOURCES}, got {np.unique(src).tolist()}")
        if np.any((src != "posterior") & np.isfinite(lw)):
            raise ValueError("log_weights: theories added by search or people must have weight 0 (-inf)")
        object.__setattr__(self, "source", src)
        labels = src.copy() if self.labels is None else np.asarray(self.labels, dtype=str)
        if labels.shape != (n,):
            raise ValueError(f"labels: expected {n} labels, got shape {labels.shape}")
        object.__setattr__(self, "labels", labels)
        if not isinstance(self.sampler_error, SamplerError):
            raise TypeError(
                f"sampler_error: expected a SamplerError, got {type(self.sampler_error).__name__}"
            )
        if self.kind == "exact":
            object.__setattr__(self, "sampler_error", SamplerError.exact())
            object.__setattr__(self, "independent", True)
            if self.method == "given":
                object.__setattr__(self, "method", "enumeration")
        if not isinstance(self.method, str) or not self.method:
            raise ValueError("method: name what produced the posterior, e.g. 'mcmc'")

    @property
    def from_posterior(self) -> np.ndarray:
        """``(n_theories,)`` True for the theories drawn from (or enumerating) the posterior."""
        return self.source == "posterior"  # type: ignore[operator]

    def with_added(self, theories: np.ndarray, source: str, labels: Sequence[str] | None = None) -> Posterior:
        """A copy with ``theories`` ``(m, ...)`` appended with ``source`` (``"search"`` or ``"human"``)
        and weight 0; they join the cautious set through their score, not the posterior average."""
        if source not in SOURCES[1:]:
            raise ValueError(f"source: expected one of {SOURCES[1:]}, got {source!r}")
        th = np.asarray(theories)
        if th.shape[1:] != self.theories.shape[1:]:
            raise ValueError(f"theories: expected shape (m, {self.theories.shape[1:]}), got {th.shape}")
        m = th.shape[0]
        lab = [source] * m if labels is None else [str(x) for x in labels]
        if len(lab) != m:
            raise ValueError(f"labels: expected {m} labels, got {len(lab)}")
        return replace(
            self,
            theories=np.concatenate([self.theories, th.astype(self.theories.dtype)]),
            log_weights=np.concatenate([self.log_weights, np.full(m, -np.inf)]),
            source=np.concatenate([self.source, np.full(m, source)]),  # type: ignore[list-item]
            labels=np.concatenate([self.labels, np.array(lab, dtype=str)]),  # type: ignore[list-item]
        )

    @property
    def is_exact(self) -> bool:
        """True when the weights are the exact posterior over every theory listed."""
        return self.kind == "exact"

    def provenance(self) -> str:
        """One line: how this posterior was made and how far it may be from the truth."""
        extra = int((~self.from_posterior).sum())
        added = f", plus {extra} theories from search or people" if extra else ""
        if self.is_exact:
            return f"exact posterior over {self.n_theories - extra} theories{added}"
        draws = "independent draws" if self.independent else "correlated draws"
        n = self.n_theories - extra
        return f"{self.kind} posterior from {self.method} ({n} {draws}; {self.sampler_error}){added}"

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_log_weights(
        cls,
        theories: np.ndarray,
        log_weights: np.ndarray,
        kind: str = "exact",
        family: str | None = None,
        **provenance: Any,
    ) -> Posterior:
        """Build from unnormalised log-weights (they are normalised here); ``provenance``: ``method``,
        ``sampler_error``, ``independent``."""
        lw = np.asarray(log_weights, dtype=np.float64)
        return cls(np.asarray(theories), lw, kind, family, **provenance)

    @classmethod
    def from_samples(
        cls,
        theories: np.ndarray,
        family: str | None = None,
        *,
        method: str = "given",
        sampler_error: SamplerError | None = None,
        independent: bool = True,
    ) -> Posterior:
        """Equal-weight posterior from ``(n_samples, ...)`` sampled theories."""
        th = np.asarray(theories)
        err = sampler_error if sampler_error is not None else SamplerError.unknown()
        return cls(th, np.zeros(th.shape[0]), "samples", family, method, err, independent)

    def with_provenance(self, **changes: Any) -> Posterior:
        """A copy with ``method``, ``sampler_error``, ``independent`` or ``family`` changed."""
        allowed = {"method", "sampler_error", "independent", "family"}
        if set(changes) - allowed:
            raise TypeError(f"with_provenance: unknown fields {sorted(set(changes) - allowed)}")
        return replace(self, **changes)

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
        if not np.all(np.isfinite(loglik) | (loglik == -np.inf)):
            raise ValueError("family.log_likelihood returned NaN or +inf")
        kind = "exact" if self.kind == "exact" else "weighted"
        return replace(self, log_weights=self.log_weights + loglik, kind=kind)

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write the documented artefact (see the module docstring); returns the path written."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        meta = {
            "kind": self.kind,
            "method": self.method,
            "independent": bool(self.independent),
            "sampler_error": self.sampler_error.to_dict(),
        }
        arrays = {
            "theories": self.theories,
            "log_weights": self.log_weights,
            "source": self.source,
            "labels": self.labels,
        }
        return save_arrays(path, "posterior", VERSION, arrays, family=self.family, meta=meta)

    @classmethod
    def load(cls, path: str | Path, family: str | None = None) -> Posterior:
        """Read a file written by :meth:`save`, checking its checksum and, when ``family`` is given, that
        it belongs to that family; raises ValueError naming the file otherwise."""
        arrays, head = load_arrays(path, "posterior", (VERSION,), family=family)
        meta = head["meta"]
        for name in ("theories", "log_weights"):
            if name not in arrays:
                raise ArtefactError(f"{path}: missing array {name!r}")
        try:
            return cls(
                arrays["theories"],
                _log_weights(arrays["log_weights"]),
                meta["kind"],
                head["family"],
                meta.get("method", "given"),
                SamplerError.from_dict(meta.get("sampler_error", {})),
                bool(meta.get("independent", True)),
                arrays.get("source"),
                arrays.get("labels"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtefactError(f"{path}: not a valid posterior ({exc})") from exc


def _log_weights(value: np.ndarray) -> np.ndarray:
    """Saved log-weights: a 1-d float array; -inf marks a theory the data or the prior rule out (and every
    theory added by search or people), so it is kept; NaN and +inf are refused by the constructor."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"log_weights: expected a 1-d array, got shape {arr.shape}")
    return arr
