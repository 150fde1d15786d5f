"""Marginalisers: ``P(H | x, a, D) = sum_theta p(theta | D) P(H | x, a, theta)`` with its uncertainty.

- :mod:`.bounds`: confidence bounds for a mean of values in [0, 1];
- :mod:`.montecarlo`: Monte Carlo over posterior theories, with the bound and the sampler's error term;
- :mod:`.amortised`: a network ``q(H | x, a)`` trained from one sampled theory at a time;
- :mod:`.questions`: which question to put to a human next (expected information gain, baselines).
"""

from .bounds import mean_bounds
from .montecarlo import HarmEstimate, monte_carlo_harm, sampler_tv_estimate, sampler_tv_exact
from .questions import (
    QueryStrategy,
    Question,
    all_pairs,
    choose_query,
    expected_information_gain,
    next_question,
    sample_pairs,
)

__all__ = [
    "HarmEstimate",
    "QueryStrategy",
    "Question",
    "all_pairs",
    "choose_query",
    "expected_information_gain",
    "mean_bounds",
    "monte_carlo_harm",
    "next_question",
    "sample_pairs",
    "sampler_tv_estimate",
    "sampler_tv_exact",
]
