"""Configurations of the guards whose posterior is exact enumeration: the exploding bandit and a finite
table of theories (the causal configuration is in :mod:`.config`).

A bandit guard (:class:`~bayesguard.theories.bandit.LinearBanditFamily`)::

    family = "bandit"

    [bandit]
    n_features = 4                     # theories: every binary weight vector (2**n_features, <= 2**20)
    n_actions = 3                      # arms; a check's context is their features (n_actions, n_features)
    sigma = 1.0                        # reward noise
    harm_threshold = 4.0               # a reward above it is a harm

    [data]                             # optional: without it the posterior is the prior
    csv = "bandit.csv"                 # columns f0 .. f{n_features-1} (the pulled arm's features), reward

    [rule]
    threshold = 0.05
    alpha = 0.01

    [sampler]                          # optional
    method = "exact"                   # the only method: the posterior is enumerated
    seed = 0                           # the guard's seed

A finite guard (:class:`~bayesguard.theories.finite.FiniteFamily`), the table written inline::

    family = "finite"

    [finite]
    table = [[[1, 0, 0], [0, 1, 0]],   # (n_theories, n_actions, n_outcomes): P(outcome | action, theory)
             [[0, 1, 0], [0, 0, 1]]]
    harmful = [true, false, false]     # (n_outcomes,)
    prior = [0.5, 0.5]                 # optional (uniform)
    theory_names = ["left-kills", "left-cake"]     # optional, like action_names and outcome_names
    action_names = ["left", "right"]
    outcome_names = ["death", "cake", "nothing"]

    [data]                             # optional: columns action, outcome (names or indices)
    csv = "doors.csv"

``[rule]`` and ``[sampler]`` as for the bandit (``rule.delta`` is kept but unused: the posterior is
exact). Errors name the field (``"bandit.sigma: ..."``, ``"finite.table[1][0]: ..."``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import toml_fields as tf

#: The most features a bandit config may declare (2**n_features theories are enumerated).
MAX_FEATURES = 20
#: The most arms a bandit config may declare.
MAX_ACTIONS = 1000
#: The most entries a finite table may hold (n_theories * n_actions * n_outcomes).
MAX_TABLE = 1_000_000
_DATA = {"csv", "source"}
_SAMPLER = {"method", "seed"}
_NAMES = ("theory_names", "action_names", "outcome_names")


@dataclass(frozen=True)
class BanditConfig:
    """An exploding-bandit guard's configuration (see the module docstring for each field).

    ``csv`` (None: no data, the posterior is the prior) is resolved against the config file's directory.
    """

    n_features: int
    n_actions: int
    harm_threshold: float
    sigma: float = 1.0
    csv: Path | None = None
    source: str | None = None
    threshold: float = 0.05
    alpha: float = 0.01
    delta: float = 0.05
    seed: int = 0
    family: str = "bandit"

    def to_toml(self, csv: str | None = None) -> str:
        """The configuration as TOML text, with ``[data] csv`` set to ``csv`` (default: as given)."""
        bandit = {
            "n_features": self.n_features,
            "n_actions": self.n_actions,
            "sigma": self.sigma,
            "harm_threshold": self.harm_threshold,
        }
        return tf.toml_document(
            self.family,
            {"bandit": bandit, "data": _data(self.csv, self.source, csv), **_common(self)},
        )


@dataclass(frozen=True)
class FiniteConfig:
    """A finite guard's configuration (see the module docstring for each field).

    ``table`` is ``(n_theories, n_actions, n_outcomes)`` nested tuples of probabilities; ``harmful``
    ``(n_outcomes,)``; ``prior`` ``(n_theories,)`` or None (uniform); the names are ``()`` when not given.
    """

    table: tuple[tuple[tuple[float, ...], ...], ...]
    harmful: tuple[bool, ...]
    prior: tuple[float, ...] | None = None
    theory_names: tuple[str, ...] = ()
    action_names: tuple[str, ...] = ()
    outcome_names: tuple[str, ...] = ()
    csv: Path | None = None
    source: str | None = None
    threshold: float = 0.05
    alpha: float = 0.01
    delta: float = 0.05
    seed: int = 0
    family: str = "finite"

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_theories, n_actions, n_outcomes)``."""
        return len(self.table), len(self.table[0]), len(self.table[0][0])

    def to_toml(self, csv: str | None = None) -> str:
        """The configuration as TOML text, with ``[data] csv`` set to ``csv`` (default: as given)."""
        finite: dict[str, Any] = {"table": self.table, "harmful": self.harmful}
        if self.prior is not None:
            finite["prior"] = self.prior
        for key in _NAMES:
            if getattr(self, key):
                finite[key] = getattr(self, key)
        return tf.toml_document(
            self.family,
            {"finite": finite, "data": _data(self.csv, self.source, csv), **_common(self)},
        )


def _data(path: Path | None, source: str | None, csv: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    data: dict[str, Any] = {"csv": csv or str(path)}
    if source is not None or csv is not None:
        data["source"] = source or str(path)
    return data


def _common(cfg: BanditConfig | FiniteConfig) -> dict[str, dict[str, Any]]:
    return {
        "rule": {"threshold": cfg.threshold, "alpha": cfg.alpha, "delta": cfg.delta},
        "sampler": {"method": "exact", "seed": cfg.seed},
    }


def _shared(sec: Mapping[str, Mapping[str, Any]], family: str, base: Path) -> dict[str, Any]:
    """The fields every exact family shares: ``[data]``, ``[rule]``, ``[sampler]``."""
    data, smp = sec["data"], sec["sampler"]
    method = tf.get(smp, "sampler", "method", (str,), "exact")
    if method != "exact":
        raise ValueError(
            f"sampler.method: the {family} family's posterior is enumerated: 'exact', got {method!r}"
        )
    csv = tf.get(data, "data", "csv", (str,), None)
    source = tf.get(data, "data", "source", (str,), None)
    if source is not None and csv is None:
        raise ValueError("data.source: given without data.csv")
    path = None if csv is None else Path(csv)
    threshold, alpha, delta = tf.rule(sec["rule"])
    return {
        "csv": None if path is None else (path if path.is_absolute() else base / path),
        "source": source,
        "threshold": threshold,
        "alpha": alpha,
        "delta": delta,
        "seed": tf.count(smp, "sampler", "seed", 0, minimum=0),
    }


def parse_bandit(raw: Mapping[str, Any], base: Path) -> BanditConfig:
    """Check a ``family = "bandit"`` document (``data.csv`` resolved against ``base``)."""
    sec = tf.sections(
        raw,
        "bandit",
        {
            "bandit": {"n_features", "n_actions", "sigma", "harm_threshold"},
            "data": _DATA,
            "rule": {"threshold", "alpha", "delta"},
            "sampler": _SAMPLER,
        },
    )
    b = sec["bandit"]
    if "bandit" not in raw:
        raise ValueError("bandit: required table missing ([bandit] n_features, n_actions, harm_threshold)")
    return BanditConfig(
        n_features=tf.count(b, "bandit", "n_features", tf.REQUIRED, maximum=MAX_FEATURES),
        n_actions=tf.count(b, "bandit", "n_actions", tf.REQUIRED, maximum=MAX_ACTIONS),
        harm_threshold=tf.number(b, "bandit", "harm_threshold", tf.REQUIRED),
        sigma=tf.number(b, "bandit", "sigma", 1.0, positive=True),
        **_shared(sec, "bandit", base),
    )


def _probs(value: Any, field: str, n: int | None) -> tuple[float, ...]:
    """A list of ``n`` probabilities in [0, 1]."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"{field}: expected a non-empty list of probabilities, got {value!r}")
    if n is not None and len(value) != n:
        raise ValueError(f"{field}: expected {n} entries, got {len(value)}")
    out = []
    for k, p in enumerate(value):
        if isinstance(p, bool) or not isinstance(p, int | float) or not (0.0 <= p <= 1.0):
            raise ValueError(f"{field}[{k}]: expected a probability in [0, 1], got {p!r}")
        out.append(float(p))
    return tuple(out)


def _table(value: Any) -> tuple[tuple[tuple[float, ...], ...], ...]:
    """``finite.table``: ``(n_theories, n_actions, n_outcomes)``, each ``[t][a]`` summing to 1."""
    field = "finite.table"
    if not isinstance(value, list) or not value or not isinstance(value[0], list) or not value[0]:
        raise ValueError(f"{field}: expected nested lists (n_theories, n_actions, n_outcomes), got {value!r}")
    first = value[0][0]
    n_actions, n_outcomes = len(value[0]), len(first) if isinstance(first, list) else 0
    if len(value) * n_actions * max(n_outcomes, 1) > MAX_TABLE:
        raise ValueError(f"{field}: more than {MAX_TABLE} entries")
    rows = []
    for t, theory in enumerate(value):
        if not isinstance(theory, list) or len(theory) != n_actions:
            raise ValueError(f"{field}[{t}]: expected a list of {n_actions} outcome distributions")
        row = tuple(_probs(dist, f"{field}[{t}][{a}]", n_outcomes) for a, dist in enumerate(theory))
        for a, dist in enumerate(row):
            if not math.isclose(sum(dist), 1.0, abs_tol=1e-9):
                raise ValueError(f"{field}[{t}][{a}]: the probabilities must sum to 1, got {sum(dist)!r}")
        rows.append(row)
    return tuple(rows)


def parse_finite(raw: Mapping[str, Any], base: Path) -> FiniteConfig:
    """Check a ``family = "finite"`` document (``data.csv`` resolved against ``base``)."""
    sec = tf.sections(
        raw,
        "finite",
        {
            "finite": {"table", "harmful", "prior", *_NAMES},
            "data": _DATA,
            "rule": {"threshold", "alpha", "delta"},
            "sampler": _SAMPLER,
        },
    )
    f = sec["finite"]
    table = _table(tf.get(f, "finite", "table", (list,), tf.REQUIRED))
    n_theories, n_actions, n_outcomes = len(table), len(table[0]), len(table[0][0])
    harmful = tf.get(f, "finite", "harmful", (list,), tf.REQUIRED)
    if len(harmful) != n_outcomes or not all(isinstance(h, bool) for h in harmful):
        raise ValueError(f"finite.harmful: expected {n_outcomes} booleans (one per outcome), got {harmful!r}")
    prior = f.get("prior")
    if prior is not None:
        prior = _probs(prior, "finite.prior", n_theories)
        if not math.isclose(sum(prior), 1.0, abs_tol=1e-9):
            raise ValueError(f"finite.prior: the probabilities must sum to 1, got {sum(prior)!r}")
    names = {
        key: tf.strings(f[key], f"finite.{key}", n, distinct=True) if key in f else ()
        for key, n in zip(_NAMES, (n_theories, n_actions, n_outcomes), strict=True)
    }
    return FiniteConfig(
        table=table, harmful=tuple(harmful), prior=prior, **names, **_shared(sec, "finite", base)
    )
