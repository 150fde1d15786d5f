"""bayesguard: a Bayesian harm guardrail between an AI agent and the world.

Before an action runs, estimate the probability that it causes harm, marginalised over every theory of
the world that still explains the data, and ALLOW it, REJECT it or ASK.
"""

from .guard import (
    BoundConfig,
    Decision,
    Guard,
    Guardrail,
    Rule,
    SearchConfig,
    SuggestConfig,
    UpdateConfig,
    Verdict,
    harm_estimate,
)
from .inference import exact_posterior
from .posterior import Posterior
from .theories import (
    BanditData,
    FiniteData,
    FiniteFamily,
    LinearBanditFamily,
    TheoryFamily,
)

__version__ = "0.1.0"

__all__ = [
    "BoundConfig",
    "Guard",
    "SearchConfig",
    "SuggestConfig",
    "UpdateConfig",
    "BanditData",
    "Decision",
    "FiniteData",
    "FiniteFamily",
    "Guardrail",
    "LinearBanditFamily",
    "Posterior",
    "Rule",
    "TheoryFamily",
    "Verdict",
    "exact_posterior",
    "harm_estimate",
]


def __getattr__(name: str) -> type:
    """``bayesguard.Client`` (the HTTP service's guard) is imported on first use: it needs httpx, from
    the ``[service]`` extra, which ``import bayesguard`` does not (so it is not in ``__all__`` either:
    ``from bayesguard import *`` works without the extra)."""
    if name == "Client":
        from .service.client import Client

        return Client
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
