"""The configuration of a fitted guard, read from TOML and written back as TOML.

A guard is fitted from one TOML file (``bayesguard fit CONFIG``). ``family`` picks the kind of theories:
``"causal"`` (the default; DAGs learned from a CSV, below), ``"bandit"`` (the exploding bandit) or
``"finite"`` (a table of theories written in the config); the last two are described in
:mod:`.config_families`. Every family shares ``[rule]`` (``threshold`` = C, ``alpha``, ``delta``) and
``[sampler] seed``. A causal guard::

    family = "causal"

    [data]
    csv = "plant.csv"                  # relative to the config file; header row = variable names
    kind = "continuous"                # or "discrete" (then categories may be declared)
    # categories = { status = ["ok", "critical"] }

    [harm]
    event = "pressure > 2.5"           # the harm, as text (HarmEvent.parse)
    actions = [{}, { valve = 3.0 }]    # interventions; {} is "do nothing"
    action_names = ["do nothing", "open the valve"]
    context = []                       # variables observed before acting

    [rule]
    threshold = 0.05                   # C
    alpha = 0.01
    delta = 0.05

    [prior]
    kind = "uniform"                   # or "erdos-renyi" with expected_edges

    [sampler]
    method = "exact"                   # "exact" (enumeration, d <= 5), "dp" (exact order-DP draws,
                                       # reweighted), "mcmc", "order-mcmc" or "gflownet"
    seed = 0
    n_steps = 20000                    # mcmc / order-mcmc: steps per chain; gflownet: gradient steps
    # seconds = 60.0                   # and/or a wall-clock budget (whichever comes first)
    n_chains = 4
    # max_parents = 3                  # in-degree bound (dp / order-mcmc default: none up to d = 15, else 3)
    # n_draws = 1000                   # dp / gflownet: graphs drawn
    n_theories = 1000                  # Monte-Carlo theories behind the 1 - delta bound
    n_param_draws = 16

    [amortised]                        # optional, continuous data only: a harm network trained at fit
    hidden = 64                        # time, validated against Monte Carlo (its error margin is part of
    layers = 2                         # the bound), saved in the bundle as amortised.npz
    steps = 3000                       # and/or seconds = 60.0
    seed = 0

Which ``[sampler]`` keys each method takes, and the ``[amortised]`` keys, are in
:mod:`.config_sampler`; the posterior keeps the provenance its sampler reports (only ``exact`` is
exact; ``dp`` draws are exact draws reweighted, their error measured against the structure DP up to
d = 14; a GFlowNet's trained policy is saved in the bundle as ``gflownet.npz``).

Every field is checked; an unknown, missing or ill-typed field raises ValueError naming it
(``"harm.event: ..."``). ``to_toml`` writes a configuration back (the bundle's ``config.toml``), and
:func:`parse_config` of that text gives an equal configuration.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import toml_fields as tf
from .config_families import BanditConfig, FiniteConfig, parse_bandit, parse_finite
from .config_sampler import (
    AMORTISED_KEYS,
    SAMPLER_KEYS,
    AmortisedConfig,
    Sampler,
    parse_amortised,
    parse_sampler,
    sampler_table,
)

__all__ = [
    "FAMILIES",
    "AmortisedConfig",
    "CausalConfig",
    "FitConfig",
    "GuardConfig",
    "Sampler",
    "load_config",
    "parse_config",
]

#: The families a guard may be fitted for.
FAMILIES = ("causal", "bandit", "finite")
_SECTIONS = {
    "data": {"csv", "kind", "categories", "source"},
    "harm": {"event", "actions", "action_names", "context"},
    "rule": {"threshold", "alpha", "delta"},
    "prior": {"kind", "expected_edges"},
    "sampler": SAMPLER_KEYS,
    "amortised": AMORTISED_KEYS,
}


@dataclass(frozen=True)
class FitConfig:
    """A causal guard's configuration as given (see the module docstring for each field).

    ``csv`` is resolved against the config file's directory; ``source`` is where the data came from
    (informative only: a bundle's copy is ``data.csv``).
    """

    csv: Path
    harm: str
    actions: tuple[dict[str, Any], ...]
    action_names: tuple[str, ...] | None = None
    context: tuple[str, ...] = ()
    kind: str = "continuous"
    categories: dict[str, tuple[Any, ...]] | None = None
    source: str | None = None
    threshold: float = 0.05
    alpha: float = 0.01
    delta: float = 0.05
    prior: str = "uniform"
    expected_edges: float | None = None
    sampler: Sampler = Sampler.EXACT
    seed: int = 0
    n_steps: int = 20_000
    n_chains: int = 4
    n_theories: int = 1000
    n_param_draws: int = 16
    seconds: float | None = None
    max_parents: int | None = None
    n_draws: int = 1000
    sampler_hidden: int = 128
    sampler_layers: int = 2
    amortised: AmortisedConfig | None = None
    family: str = "causal"

    def to_toml(self, csv: str | None = None) -> str:
        """The configuration as TOML text, with ``[data] csv`` set to ``csv`` (default: as given)."""
        data: dict[str, Any] = {"csv": csv or str(self.csv), "kind": self.kind}
        if self.source is not None or csv is not None:
            data["source"] = self.source or str(self.csv)
        if self.categories is not None:
            data["categories"] = {k: list(v) for k, v in self.categories.items()}
        harm: dict[str, Any] = {
            "event": self.harm,
            "actions": list(self.actions),
            "context": list(self.context),
        }
        if self.action_names is not None:
            harm["action_names"] = list(self.action_names)
        prior: dict[str, Any] = {"kind": self.prior}
        if self.expected_edges is not None:
            prior["expected_edges"] = self.expected_edges
        sections = {
            "data": data,
            "harm": harm,
            "rule": {"threshold": self.threshold, "alpha": self.alpha, "delta": self.delta},
            "prior": prior,
            "sampler": sampler_table(self),
        }
        if self.amortised is not None:
            sections["amortised"] = self.amortised.to_table()
        return tf.toml_document(self.family, sections)


#: A causal guard's configuration (the name the other families' configs pair with).
CausalConfig = FitConfig
#: Any family's configuration.
GuardConfig = FitConfig | BanditConfig | FiniteConfig


def parse_config(raw: Mapping[str, Any], base: str | Path = ".") -> GuardConfig:
    """Check a parsed TOML document and return its configuration: a :class:`FitConfig` (causal), a
    :class:`~.config_families.BanditConfig` or a :class:`~.config_families.FiniteConfig` (``data.csv``
    resolved against ``base``). Raises ValueError naming the first bad field."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"config: expected a TOML table, got {type(raw).__name__}")
    family = tf.get(raw, "config", "family", (str,), "causal")
    if family not in FAMILIES:
        raise ValueError(f"config.family: expected one of {FAMILIES}, got {family!r}")
    if family == "bandit":
        return parse_bandit(raw, Path(base))
    if family == "finite":
        return parse_finite(raw, Path(base))
    return _parse_causal(raw, Path(base))


def _parse_causal(raw: Mapping[str, Any], base: Path) -> FitConfig:
    sec = tf.sections(raw, "causal", _SECTIONS)
    data, harm, rule, prior, smp = (sec[k] for k in ("data", "harm", "rule", "prior", "sampler"))
    csv = Path(tf.get(data, "data", "csv", (str,), tf.REQUIRED))
    kind = tf.get(data, "data", "kind", (str,), "continuous")
    if kind not in ("continuous", "discrete"):
        raise ValueError(f"data.kind: expected 'continuous' or 'discrete', got {kind!r}")
    cats = tf.get(data, "data", "categories", (dict,), None)
    if cats is not None:
        if kind != "discrete":
            raise ValueError("data.categories: only a discrete table declares categories")
        for k, v in cats.items():
            if not isinstance(v, list) or not all(isinstance(x, str | int | float) for x in v):
                raise ValueError(
                    f"data.categories.{k}: expected a list of labels (strings or numbers), got {v!r}"
                )
        cats = {str(k): tuple(v) for k, v in cats.items()}
    event = tf.get(harm, "harm", "event", (str,), tf.REQUIRED)
    actions = tf.get(harm, "harm", "actions", (list,), tf.REQUIRED)
    if not actions or not all(isinstance(a, dict) for a in actions):
        raise ValueError(
            f"harm.actions: expected a non-empty list of tables {{variable = value}}, got {actions!r}"
        )
    names = harm.get("action_names")
    action_names = None if names is None else tf.strings(names, "harm.action_names", distinct=True)
    context = tf.strings(harm.get("context", []), "harm.context")
    prior_kind = tf.get(prior, "prior", "kind", (str,), "uniform")
    if prior_kind not in ("uniform", "erdos-renyi"):
        raise ValueError(f"prior.kind: expected 'uniform' or 'erdos-renyi', got {prior_kind!r}")
    edges = tf.get(prior, "prior", "expected_edges", (int, float), None)
    if (prior_kind == "erdos-renyi") != (edges is not None):
        raise ValueError("prior.expected_edges: give it exactly when prior.kind = 'erdos-renyi'")
    source = tf.get(data, "data", "source", (str,), None)
    threshold, alpha, delta = tf.rule(rule)
    return FitConfig(
        csv=csv if csv.is_absolute() else Path(base) / csv,
        harm=event,
        actions=tuple(dict(a) for a in actions),
        action_names=action_names,
        context=context,
        kind=kind,
        categories=cats,
        source=source,
        threshold=threshold,
        alpha=alpha,
        delta=delta,
        prior=prior_kind,
        expected_edges=None if edges is None else float(edges),
        amortised=parse_amortised(raw, kind, context),
        **parse_sampler(smp),
    )


def load_config(path: str | Path) -> GuardConfig:
    """Read and check the TOML file ``path`` (``data.csv`` relative to its directory)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config: {path} is not a file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"config: {path} is not valid TOML ({exc})") from exc
    return parse_config(raw, path.parent)
