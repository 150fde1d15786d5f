"""Small frozen settings of a :class:`~bayesguard.guard.guard.Guard`, each with documented defaults.

- :class:`BoundConfig`: how the posterior-predictive harm is bounded when the posterior is sampled;
- :class:`SearchConfig`: the harm-seeking search that challenges an action before it is allowed;
- :class:`SuggestConfig`: how an ASK picks the most informative safe action;
- :class:`UpdateConfig`: how ``observe`` keeps a sampled posterior healthy (reweight, resample, move).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .._validate import positive_int, unit_interval


def _positive_float(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{field}: expected a positive number, got {value!r}")
    if not (math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{field}: expected a positive finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class BoundConfig:
    """The posterior-predictive harm and its ``1 - delta`` upper bound.

    Attributes:
        delta: each Monte Carlo bound fails with probability at most ``delta``, in (0, 1).
        n_theories: Monte Carlo theories drawn from an exact posterior whose per-theory harm is not
            exact (linear-Gaussian graphs); a sampled posterior uses its own draws, at most this many.
        sampler_error: a bound on ``TV(sampler, posterior)`` that you state; None (default) takes the
            posterior's own :class:`~bayesguard.posterior.SamplerError` (unknown: not guaranteed).
        amortised: a trained and validated :class:`~bayesguard.marginal.amortised.AmortisedHarm` to
            use instead of Monte Carlo (its bound is its empirical error margin: never guaranteed).
    """

    delta: float = 0.05
    n_theories: int = 1000
    sampler_error: float | None = None
    amortised: Any = None

    def __post_init__(self) -> None:
        if self.delta is None or isinstance(self.delta, bool):
            raise TypeError(f"delta: expected a number in (0, 1), got {self.delta!r}")
        d = unit_interval(self.delta, "delta", open_left=True)
        if d >= 1.0:
            raise ValueError(f"delta: expected a number in (0, 1), got {self.delta!r}")
        positive_int(self.n_theories, "n_theories", minimum=2)
        if self.sampler_error is not None:
            unit_interval(self.sampler_error, "sampler_error")
        if self.amortised is not None and getattr(self.amortised, "error_margin", None) is None:
            raise ValueError("amortised: validate() the network first; its error margin is part of the bound")


@dataclass(frozen=True)
class SearchConfig:
    """The harm-seeking search: before an action is allowed, chains on ``p(theory | D) P(H)^beta``
    started from the most probable theories look for plausible harmful theories, which join the
    posterior with source ``"search"`` (and stay for later checks).

    Attributes:
        enabled: run the search (default False).
        steps: Metropolis-Hastings steps per chain.
        chains: chains, started from theories drawn by posterior weight.
        beta: tilt exponent (> 0; larger leans harder toward harm).
        keep: distinct theories kept per search (best tilted score first).
    """

    enabled: bool = False
    steps: int = 150
    chains: int = 32
    beta: float = 1.0
    keep: int = 256

    def __post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise TypeError(f"search.enabled: expected True or False, got {self.enabled!r}")
        positive_int(self.steps, "search_steps")
        positive_int(self.chains, "search_chains")
        _positive_float(self.beta, "search_beta")
        positive_int(self.keep, "search_keep")


@dataclass(frozen=True)
class SuggestConfig:
    """What an ASK suggests: the allowed action whose outcome best separates the plausible theories.

    Attributes:
        top: the most probable members of the cautious set that the information gain is computed over.
        eig_samples: Monte Carlo draws per theory when the information gain has no closed form
            (a linear-Gaussian outcome).
    """

    top: int = 32
    eig_samples: int = 64

    def __post_init__(self) -> None:
        positive_int(self.top, "suggest_top")
        positive_int(self.eig_samples, "eig_samples")


@dataclass(frozen=True)
class UpdateConfig:
    """How ``observe`` follows new data with a sampled posterior (sequential Monte Carlo).

    Attributes:
        ess_frac: resample and move when the effective sample size falls below this fraction.
        move_steps: kernel steps per particle after resampling.
        move_every: also resample and move every this many updates (None: only on low ESS), so the
            particles can reach theories none of them held.
    """

    ess_frac: float = 0.5
    move_steps: int = 20
    move_every: int | None = None

    def __post_init__(self) -> None:
        unit_interval(self.ess_frac, "ess_frac")
        positive_int(self.move_steps, "move_steps")
        if self.move_every is not None:
            positive_int(self.move_every, "move_every")
