"""Exact posteriors by enumeration: the ground truth for families small enough to list."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..posterior import Posterior
from ..theories.base import EnumerableFamily


def exact_posterior(family: EnumerableFamily, data: Any = None) -> Posterior:
    """p(theory | data) ∝ p(theory) p(data | theory) over every theory of ``family``.

    Args:
        family: a family with ``enumerate()``.
        data: the family's data record, or None for the prior.

    Returns:
        A :class:`Posterior` of kind ``"exact"`` over ``family.enumerate()`` (``n_theories`` rows).
    """
    if not hasattr(family, "enumerate"):
        raise TypeError(f"family: {type(family).__name__} cannot enumerate its theories")
    theories = family.enumerate()
    log_w = np.asarray(family.log_prior(theories), dtype=np.float64)
    if data is not None:
        log_w = log_w + family.log_likelihood(theories, data)
    return Posterior.from_log_weights(theories, log_w, "exact", family.name)
