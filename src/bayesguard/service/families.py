"""Fitting each family's guard from its configuration, and rebuilding it from a bundle's files.

- causal: the CSV is a validated table; the posterior over graphs comes from the sampler the config
  names (exact enumeration, ``d <= 5``; DP draws; structure or order MCMC; a GFlowNet: see
  :mod:`.fit_samplers`), with an optional amortised harm network; the guard is
  :func:`~bayesguard.guard.causal_guard.CausalGuard` (with ``amortised=`` the network).
- bandit: :class:`~bayesguard.theories.bandit.LinearBanditFamily`, the exact posterior over its
  ``2**n_features`` weight vectors given the pulls (or the prior); the pulled arms' features are the
  guard's support contexts.
- finite: :class:`~bayesguard.theories.finite.FiniteFamily` from the table, the exact posterior given the
  (action, outcome) pairs (or the prior).

A rebuilt guard uses the saved posterior (and the saved amortised network): nothing is refitted. For
the exact families the saved posterior is compared with the one the config and data give (they must
agree), for an exact causal posterior the guard does the same against the family's score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..artefact import load_arrays
from ..datasets.tables import validate_table
from ..guard.causal_guard import CausalGuard
from ..guard.configs import BoundConfig
from ..guard.guard import Guard
from ..guard.support import SupportConfig
from ..inference.exact import exact_posterior
from ..posterior import VERSION as POSTERIOR_VERSION
from ..posterior import Posterior
from ..theories.bandit import LinearBanditFamily
from ..theories.causal.graph_family import CausalFamily
from ..theories.causal.harm import HarmSpec
from ..theories.causal.prior import StructurePrior
from ..theories.finite import FiniteFamily
from .config import FitConfig, GuardConfig, Sampler, load_config, parse_config
from .config_families import BanditConfig, FiniteConfig
from .data_files import read_bandit_csv, read_finite_csv
from .fit_samplers import causal_posterior, load_amortised, train_amortised

#: A bundle's file holding a GFlowNet-sampled guard's trained policy.
GFLOWNET = "gflownet.npz"
#: A bundle's file holding the amortised harm network.
AMORTISED = "amortised.npz"


@dataclass(frozen=True)
class Fitted:
    """A guard fitted from a config: the guard, its posterior as saved (causal: plain graphs
    ``(n, d, d)``; bandit: weight vectors ``(2**n_features, n_features)``; finite: theory indices
    ``(n_theories,)``), the config it came from, and a causal guard's trained networks: its GFlowNet
    sampler (``sampler.method = "gflownet"``) and its amortised harm network (``[amortised]``), else
    None."""

    guard: Guard
    posterior: Posterior
    config: GuardConfig
    gflownet: Any = None
    amortised: Any = None


def artefact_files(cfg: GuardConfig) -> tuple[str, ...]:
    """The optional files a bundle of ``cfg`` holds: :data:`GFLOWNET` for a GFlowNet-sampled causal
    guard, :data:`AMORTISED` for one with ``[amortised]``."""
    if not isinstance(cfg, FitConfig):
        return ()
    return tuple(
        name
        for name, present in (
            (GFLOWNET, cfg.sampler is Sampler.GFLOWNET),
            (AMORTISED, cfg.amortised is not None),
        )
        if present
    )


def as_config(config: GuardConfig | dict[str, Any] | str | Path, base: str | Path = ".") -> GuardConfig:
    """A configuration from a config object, a parsed TOML mapping (paths relative to ``base``) or the
    path of a TOML file (relative to its directory)."""
    if isinstance(config, FitConfig | BanditConfig | FiniteConfig):
        return config
    if isinstance(config, str | Path):
        return load_config(config)
    if isinstance(config, dict):
        return parse_config(config, base)
    raise TypeError(f"config: expected a config, a TOML mapping or a path, got {type(config).__name__}")


def fit_guard(config: GuardConfig | dict[str, Any] | str | Path, base: str | Path = ".") -> Fitted:
    """Fit the guard a config describes (any family; see the module docstring).

    Args:
        config: a config object, a parsed TOML mapping (``data.csv`` relative to ``base``) or the path
            of a TOML file (relative to its directory).
    """
    cfg = as_config(config, base)
    if cfg.csv is not None and not cfg.csv.is_file():
        raise ValueError(f"data.csv: no CSV file at {cfg.csv}")
    if isinstance(cfg, FitConfig):
        return _fit_causal(cfg)
    family, data = _exact_family(cfg, cfg.csv)
    try:
        posterior = exact_posterior(family, data)
    except ValueError as exc:
        raise ValueError(f"data.csv: {exc}") from exc
    return Fitted(_exact_guard(cfg, family, data, posterior), posterior, cfg)


def rebuild_guard(
    cfg: GuardConfig, data_csv: Path | None, posterior_npz: Path, amortised_npz: Path | None = None
) -> Guard:
    """The guard of a bundle from its config, its data file (``data_csv``; None when it has none), its
    saved posterior (``posterior_npz``, checksummed, no pickle) and, for a causal config with
    ``[amortised]``, its saved network (``amortised_npz``). Raises ValueError when they do not fit
    together.

    The saved posterior of a bandit or finite guard must equal (to 1e-9 in the log-weights, ``-inf``
    included: theories the data rule out) the exact posterior the config and data give; that posterior
    is then the guard's.
    """
    if (cfg.csv is None) != (data_csv is None):
        raise ValueError("config.toml: [data] csv and the bundle's data.csv must come together")
    if isinstance(cfg, FitConfig):
        if data_csv is None:
            raise ValueError("config.toml: a causal guard needs its data.csv")
        spec, table = _spec_and_table(cfg, data_csv)
        if (cfg.amortised is None) != (amortised_npz is None):
            raise ValueError(f"config.toml: [amortised] and the bundle's {AMORTISED} must come together")
        posterior = Posterior.load(posterior_npz)
        if np.asarray(posterior.theories).ndim != 3:
            raise ValueError(f"{posterior_npz}: expected graphs (n, d, d)")
        net = None if amortised_npz is None else load_amortised(cfg, spec, amortised_npz)
        return _causal_guard(cfg, spec, table, _prior(cfg, spec.names), posterior, net)
    family, data = _exact_family(cfg, data_csv)
    expected = exact_posterior(family, data)
    # read with the artefact reader (its own checksum, no pickle): Posterior.load refuses -inf weights
    arrays, head = load_arrays(posterior_npz, "posterior", (POSTERIOR_VERSION,), family=family.name)
    theories, log_w = arrays.get("theories"), arrays.get("log_weights")
    try:
        same = (
            head.get("meta", {}).get("kind") == "exact"
            and theories is not None
            and log_w is not None
            and theories.shape == expected.theories.shape
            and log_w.shape == expected.log_weights.shape
            and bool(np.array_equal(theories, expected.theories))
            and bool(np.allclose(log_w, expected.log_weights, rtol=0, atol=1e-9))
        )
    except (TypeError, ValueError):  # arrays of another kind (strings, objects refused by the reader)
        same = False
    if not same:
        raise ValueError(f"{posterior_npz}: not the exact posterior that config.toml and the data give")
    return _exact_guard(cfg, family, data, expected)


# ---------------------------------------------------------------------------- bandit and finite
def _exact_family(cfg: BanditConfig | FiniteConfig, csv: Path | None) -> tuple[Any, Any]:
    """The family and its data record (None without data)."""
    if isinstance(cfg, BanditConfig):
        family: Any = LinearBanditFamily(cfg.n_features, cfg.n_actions, cfg.sigma, cfg.harm_threshold)
        return family, None if csv is None else read_bandit_csv(csv, cfg.n_features)
    try:
        family = FiniteFamily(
            np.array(cfg.table, dtype=np.float64),
            np.array(cfg.harmful, dtype=bool),
            None if cfg.prior is None else np.array(cfg.prior),
            theory_names=cfg.theory_names,
            action_names=cfg.action_names,
            outcome_names=cfg.outcome_names,
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"finite: {exc}") from exc
    _, n_actions, n_outcomes = cfg.shape
    if csv is None:
        return family, None
    return family, read_finite_csv(csv, cfg.action_names, cfg.outcome_names, n_actions, n_outcomes)


def _exact_guard(cfg: BanditConfig | FiniteConfig, family: Any, data: Any, posterior: Posterior) -> Guard:
    support = SupportConfig(contexts=data) if isinstance(cfg, BanditConfig) and data is not None else None
    return Guard(
        family,
        posterior,
        "cautious",
        cfg.threshold,
        alpha=cfg.alpha,
        bound=BoundConfig(delta=cfg.delta),
        support=support,
        seed=cfg.seed,
    )


# ---------------------------------------------------------------------------- causal
def _spec_and_table(cfg: FitConfig, csv: Path) -> tuple[HarmSpec, Any]:
    kind = "discrete" if cfg.kind == "discrete" else "continuous"
    table = validate_table(csv, kind, categories=cfg.categories)
    spec = HarmSpec(
        table.names,
        cfg.harm,
        cfg.actions,
        cfg.context,
        categories=table.categories,
        action_names=cfg.action_names,
    )
    return spec, table


def _prior(cfg: FitConfig, names: tuple[str, ...]) -> StructurePrior:
    if cfg.prior == "erdos-renyi":
        return StructurePrior.make(names, kind="erdos-renyi", expected_edges=cfg.expected_edges)
    return StructurePrior.make(names)


def _causal_guard(
    cfg: FitConfig,
    spec: HarmSpec,
    table: Any,
    prior: StructurePrior,
    posterior: Posterior,
    amortised: Any = None,
) -> Guard:
    return CausalGuard(
        spec,
        table,
        posterior,
        prior=prior,
        threshold=cfg.threshold,
        alpha=cfg.alpha,
        delta=cfg.delta,
        n_theories=cfg.n_theories,
        n_param_draws=cfg.n_param_draws,
        seed=cfg.seed,
        amortised=amortised,
        measure_error=False,  # a sampled posterior was measured once, when fitted (see _fit_causal)
    )


def _fit_causal(cfg: FitConfig) -> Fitted:
    """Read the CSV, compute the posterior over graphs with the configured sampler
    (:func:`~.fit_samplers.causal_posterior`), train and validate the amortised network when asked, build
    the guard."""
    spec, table = _spec_and_table(cfg, cfg.csv)
    prior = _prior(cfg, spec.names)
    family = CausalFamily(spec, table, prior, n_param_draws=cfg.n_param_draws, seed=cfg.seed)
    posterior, gflownet = causal_posterior(cfg, family)
    net = None
    if cfg.amortised is not None:
        net = train_amortised(cfg, spec, family, posterior, np.asarray(table.values, dtype=np.float64))
    guard = _causal_guard(cfg, spec, table, prior, posterior, net)
    return Fitted(guard, posterior, cfg, gflownet, net)
