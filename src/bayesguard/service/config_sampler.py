"""A causal guard's ``[sampler]`` and ``[amortised]`` sections: how the posterior over graphs is computed
and the optional amortised harm network (the rest of the causal configuration is in :mod:`.config`).

``[sampler]`` keys, and which methods take them (a key given to a method that does not take it is an
error naming ``sampler.<key>``; ``seed``, ``n_theories``, ``n_param_draws``, ``n_steps`` and ``n_chains``
are accepted by every method, the last two being ignored by ``exact`` and ``dp``):

=================  ===============================  ====================================================
key                methods                          meaning
=================  ===============================  ====================================================
``method``         --                               ``exact`` | ``dp`` | ``mcmc`` | ``order-mcmc`` |
                                                    ``gflownet`` (default ``exact``)
``n_steps``        mcmc, order-mcmc, gflownet       steps per chain (MCMC) or gradient steps (GFlowNet)
``seconds``        mcmc, order-mcmc, gflownet       a wall-clock budget; the sampler stops at ``n_steps``
                                                    or after ``seconds``, whichever comes first
``n_chains``       mcmc, order-mcmc                 chains (at least 2 are run)
``max_parents``    dp, mcmc, order-mcmc, gflownet   in-degree bound (dp and order-mcmc default: none up
                                                    to d = 15, else 3; mcmc and gflownet: none)
``n_draws``        dp, gflownet                     graphs drawn from the DP / the trained policy (1000)
``hidden``,        gflownet                         the policy network's width and depth (128, 2)
``layers``
=================  ===============================  ====================================================

``[amortised]`` (continuous data only): ``hidden`` (64), ``layers`` (2), ``steps`` (3000) and/or
``seconds`` (training stops at whichever comes first), ``batch`` (512), ``seed`` (0),
``validation_contexts`` (50 data rows) and ``validation_theories`` (5000 posterior theories behind the
Monte Carlo reference its error margin is measured against).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from . import toml_fields as tf


class Sampler(StrEnum):
    """How the posterior over graphs is computed."""

    EXACT = "exact"
    DP = "dp"
    MCMC = "mcmc"
    ORDER_MCMC = "order-mcmc"
    GFLOWNET = "gflownet"


#: The ``[sampler]`` keys of a causal guard.
SAMPLER_KEYS = {
    "method",
    "seed",
    "n_steps",
    "seconds",
    "n_chains",
    "n_theories",
    "n_param_draws",
    "max_parents",
    "n_draws",
    "hidden",
    "layers",
}
#: The methods that take each key that not every method takes.
_TAKES = {
    "seconds": (Sampler.MCMC, Sampler.ORDER_MCMC, Sampler.GFLOWNET),
    "max_parents": (Sampler.DP, Sampler.MCMC, Sampler.ORDER_MCMC, Sampler.GFLOWNET),
    "n_draws": (Sampler.DP, Sampler.GFLOWNET),
    "hidden": (Sampler.GFLOWNET,),
    "layers": (Sampler.GFLOWNET,),
}
#: The ``[amortised]`` keys.
AMORTISED_KEYS = {
    "hidden",
    "layers",
    "steps",
    "seconds",
    "batch",
    "seed",
    "validation_contexts",
    "validation_theories",
}


@dataclass(frozen=True)
class AmortisedConfig:
    """The ``[amortised]`` section: an :class:`~bayesguard.marginal.amortised.AmortisedHarm` trained at fit
    time for ``steps`` optimiser steps or ``seconds`` (whichever first; ``seconds`` None: steps only), then
    validated against Monte Carlo over ``validation_theories`` posterior theories at
    ``validation_contexts`` data rows (its error margin is part of the bound)."""

    hidden: int = 64
    layers: int = 2
    steps: int = 3000
    seconds: float | None = None
    batch: int = 512
    seed: int = 0
    validation_contexts: int = 50
    validation_theories: int = 5000

    def to_table(self) -> dict[str, Any]:
        """The section as a TOML table (``seconds`` left out when None)."""
        out: dict[str, Any] = {
            "hidden": self.hidden,
            "layers": self.layers,
            "steps": self.steps,
            "batch": self.batch,
            "seed": self.seed,
            "validation_contexts": self.validation_contexts,
            "validation_theories": self.validation_theories,
        }
        if self.seconds is not None:
            out["seconds"] = self.seconds
        return out


def _seconds(section: Mapping[str, Any], where: str) -> float | None:
    if "seconds" not in section:
        return None
    value = tf.number(section, where, "seconds", None, positive=True)
    if not math.isfinite(value):
        raise ValueError(f"{where}.seconds: expected a positive finite number, got {value!r}")
    return value


def parse_sampler(smp: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[sampler]`` section as :class:`~.config.FitConfig` keyword arguments (see the module
    docstring); raises ValueError naming ``sampler.<key>``."""
    method = tf.get(smp, "sampler", "method", (str,), "exact")
    try:
        sampler = Sampler(method)
    except ValueError:
        raise ValueError(
            f"sampler.method: expected one of {[s.value for s in Sampler]}, got {method!r}"
        ) from None
    for key, methods in _TAKES.items():
        if key in smp and sampler not in methods:
            raise ValueError(
                f"sampler.{key}: the {sampler.value!r} sampler does not take it "
                f"(only {', '.join(repr(m.value) for m in methods)} do)"
            )
    max_parents = smp.get("max_parents")
    return {
        "sampler": sampler,
        "seed": tf.count(smp, "sampler", "seed", 0, minimum=0),
        "n_steps": tf.count(smp, "sampler", "n_steps", 20_000, minimum=2),
        "seconds": _seconds(smp, "sampler"),
        "n_chains": tf.count(smp, "sampler", "n_chains", 4),
        "n_theories": tf.count(smp, "sampler", "n_theories", 1000, minimum=2),
        "n_param_draws": tf.count(smp, "sampler", "n_param_draws", 16),
        "max_parents": None if max_parents is None else tf.count(smp, "sampler", "max_parents", None),
        "n_draws": tf.count(smp, "sampler", "n_draws", 1000, minimum=2),
        "sampler_hidden": tf.count(smp, "sampler", "hidden", 128, maximum=4096),
        "sampler_layers": tf.count(smp, "sampler", "layers", 2, maximum=16),
    }


def sampler_table(cfg: Any) -> dict[str, Any]:
    """A :class:`~.config.FitConfig`'s ``[sampler]`` section as a TOML table: the keys every method
    accepts, and those its method takes."""
    out: dict[str, Any] = {
        "method": cfg.sampler.value,
        "seed": cfg.seed,
        "n_steps": cfg.n_steps,
        "n_chains": cfg.n_chains,
        "n_theories": cfg.n_theories,
        "n_param_draws": cfg.n_param_draws,
    }
    if cfg.seconds is not None:
        out["seconds"] = cfg.seconds
    if cfg.max_parents is not None:
        out["max_parents"] = cfg.max_parents
    if cfg.sampler in _TAKES["n_draws"]:
        out["n_draws"] = cfg.n_draws
    if cfg.sampler is Sampler.GFLOWNET:
        out["hidden"], out["layers"] = cfg.sampler_hidden, cfg.sampler_layers
    return out


def parse_amortised(raw: Mapping[str, Any], kind: str, context: tuple[str, ...]) -> AmortisedConfig | None:
    """The ``[amortised]`` section (None when absent); refused for discrete data or without a context
    variable (the network maps context values to the harm)."""
    if "amortised" not in raw:
        return None
    sec = raw["amortised"]
    if not isinstance(sec, Mapping):
        raise ValueError(f"amortised: expected an [amortised] table, got {sec!r}")
    extra = sorted(set(sec) - AMORTISED_KEYS)
    if extra:
        raise ValueError(f"amortised.{extra[0]}: unknown field; expected one of {sorted(AMORTISED_KEYS)}")
    if kind != "continuous":
        raise ValueError(
            "amortised: the amortised harm network takes continuous (linear-Gaussian) data only; "
            f"data.kind is {kind!r} (remove [amortised])"
        )
    if not context:
        raise ValueError("amortised: the network maps context values to the harm; harm.context is empty")
    return AmortisedConfig(
        hidden=tf.count(sec, "amortised", "hidden", 64, maximum=4096),
        layers=tf.count(sec, "amortised", "layers", 2, minimum=0, maximum=16),
        steps=tf.count(sec, "amortised", "steps", 3000),
        seconds=_seconds(sec, "amortised"),
        batch=tf.count(sec, "amortised", "batch", 512),
        seed=tf.count(sec, "amortised", "seed", 0, minimum=0),
        validation_contexts=tf.count(sec, "amortised", "validation_contexts", 50),
        validation_theories=tf.count(sec, "amortised", "validation_theories", 5000, minimum=2),
    )
