"""Exact posteriors by enumeration: the ground truth for families small enough to list (any enumerable
family, and every DAG on ``d <= 5`` nodes under a structure score)."""

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


def exact_structure_posterior(score: Any) -> Posterior:
    """The exact posterior over every DAG on ``d <= 5`` nodes (29,281 DAGs at ``d = 5``).

    Args:
        score: a :class:`~bayesguard.theories.causal.structure.StructureScore` (local score + prior).

    Returns:
        a :class:`Posterior` of kind ``"exact"`` whose theories are ``(n_dags, d, d)`` bool adjacency
        matrices in the order of :func:`~bayesguard.graphs.dag.enumerate_dags`.
    """
    from ..graphs.dag import enumerate_dags
    from ..theories.causal.structure import FAMILY

    dags = enumerate_dags(score.d)
    return Posterior.from_log_weights(dags, score.log_posterior(dags), "exact", FAMILY)
