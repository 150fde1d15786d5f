"""The posterior over DAG structures: a local score (BGe / BDeu) plus a structure prior, and its exact
enumeration for small ``d``.

``log p(G | D) = sum_j [local(j, pa_j) + prior(j, pa_j)] - log Z``; :class:`StructureScore` exposes the
per-(node, parent set) sum so that exact enumeration, MCMC and GFlowNet rewards use one cached source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...graphs.dag import parent_masks
from ...posterior import Posterior
from .prior import StructurePrior
from .scores import LocalScore, ScoreCache

FAMILY = "causal-dag"


@dataclass
class StructureScore:
    """Cached decomposable log posterior over DAGs (unnormalised).

    Attributes:
        scorer: a :class:`LocalScore` (``BGeScore`` or ``BDeuScore``) on the data.
        prior: the :class:`StructurePrior` (default: uniform over DAGs on the scorer's ``d`` nodes).
    """

    scorer: LocalScore
    prior: StructurePrior | None = None
    cache: ScoreCache = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.cache = ScoreCache(self.scorer)
        if self.prior is None:
            self.prior = StructurePrior.make(int(self.scorer.d))
        if self.prior.d != self.scorer.d:
            raise ValueError(f"prior: has {self.prior.d} variables but the data have {self.scorer.d}")

    @classmethod
    def from_table(
        cls,
        data: object,
        kind: str = "continuous",
        *,
        prior_kind: str = "uniform",
        **prior_options: object,
    ) -> StructureScore:
        """Validate a DataFrame / CSV path / array and build its BGe (continuous) or BDeu (discrete) score.

        For discrete data the BDeu score counts every declared category of each variable
        (``table.arities`` from :func:`~.data.validate_table`: all categories of a pandas Categorical
        column, used or not; the observed values of other columns). ``prior_kind`` and ``prior_options``
        go to :meth:`StructurePrior.make` with the table's column names (e.g.
        ``required=[("valve", "pressure")]``).
        """
        from ...datasets import validate_table
        from .scores import BDeuScore, BGeScore

        table = validate_table(data, kind)  # type: ignore[arg-type]
        scorer: LocalScore = (
            BGeScore(table.values) if kind == "continuous" else BDeuScore(table.values, table.arities)
        )
        prior = StructurePrior.make(list(table.names), kind=prior_kind, **prior_options)  # type: ignore[arg-type]
        return cls(scorer, prior)

    @property
    def d(self) -> int:
        return self.cache.d

    @property
    def names(self) -> tuple[str, ...]:
        return self.prior.names  # type: ignore[union-attr]

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Local log score plus log prior: ``(m,) nodes, (m,) int64 masks -> (m,)``."""
        return self.cache.local_many(nodes, masks) + self.prior.local_many(nodes, masks)  # type: ignore[union-attr]

    def local_bits(self, nodes: np.ndarray, parents: np.ndarray) -> np.ndarray:
        """Local log score plus log prior of parent sets as rows of a boolean matrix (any ``d``; not
        cached): ``(m,) nodes, (m, d) bool -> (m,)``."""
        return self.scorer.local_bits(nodes, parents) + self.prior.local_bits(nodes, parents)  # type: ignore[attr-defined,union-attr]

    def log_posterior(self, adj: np.ndarray) -> np.ndarray:
        """Unnormalised ``log p(G) + log p(D | G)`` of ``(n, d, d)`` acyclic graphs -> ``(n,)``."""
        masks = parent_masks(adj)
        nodes = np.broadcast_to(np.arange(self.d), masks.shape)
        return self.local_many(nodes.ravel(), masks.ravel()).reshape(masks.shape).sum(axis=1)


def exact_structure_posterior(score: StructureScore) -> Posterior:
    """The exact posterior over every DAG on ``d <= 5`` nodes: see
    :func:`bayesguard.inference.exact.exact_structure_posterior` (enumeration lives with the samplers)."""
    from ...inference.exact import exact_structure_posterior as enumerate_posterior

    return enumerate_posterior(score)
