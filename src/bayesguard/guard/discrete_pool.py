"""The pool of discrete causal theories: graphs weighted by BDeu, each graph's harm exact.

Weights, the cautious set and what a sampled pool means are as in :mod:`.causal_pool`. A graph's harm
``P(H | x, a, G, D)`` integrates its Dirichlet parameter posterior exactly (posterior-mean tables, see
:mod:`bayesguard.theories.causal.discrete_harm`), so no parameter draws are needed; the harm of graphs
the search visits is cached per (action, graph) over every context configuration.
"""

from __future__ import annotations

import numpy as np

from ..graphs.keys import packed_keys
from ..theories.causal.discrete_harm import DiscreteHarmModel
from ..theories.causal.harm import HarmSpec
from ..theories.causal.scores import BDeuScore
from ..theories.causal.structure import StructureScore
from .causal_pool import PoolBase
from .information import discrete_eig


class DiscreteGraphPool(PoolBase):
    """The pool for discrete theories (BDeu weights, exact per-graph harm).

    Args:
        spec: the harm question (discrete).
        score: the structure posterior (BDeu + prior) that weighs every graph.
        bdeu: the BDeu score whose counts give each graph's posterior-mean tables.
        alpha: the cautious rule's alpha.
        max_members: at most this many of the most probable posterior members get a harm model.
    """

    def __init__(
        self,
        spec: HarmSpec,
        score: StructureScore,
        bdeu: BDeuScore,
        *,
        alpha: float,
        max_members: int | None,
    ) -> None:
        super().__init__(spec, score, alpha=alpha, max_members=max_members)
        self.bdeu = bdeu
        self.model: DiscreteHarmModel | None = None
        # per action: sorted graph keys (bytes) and their harm over every context configuration
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _build(self) -> None:
        self.model = DiscreteHarmModel(self.spec, self.bdeu, self.graphs[self.members])

    def member_harm(self, x: np.ndarray, actions: list[int] | None = None) -> np.ndarray:
        """``(n_members, n_actions)`` exact harm of the members in context ``x`` (``actions``: those
        columns; raises ValueError where a selected action is refused for a member)."""
        return self._model().harm(x, actions)

    def _model(self) -> DiscreteHarmModel:
        if self.model is None:
            raise RuntimeError("DiscreteGraphPool: call refresh() before asking for harm")
        return self.model

    def graph_harm(self, graphs: np.ndarray, x: np.ndarray, action: int) -> np.ndarray:
        """Exact harm of arbitrary graphs ``(n, d, d)`` for one action: ``(n,)``."""
        model = self._model()
        g = np.asarray(graphs, dtype=bool)
        keys = packed_keys(g)
        known, rows = self._cache.get(action, (keys[:0], np.zeros((0, model.n_configs))))
        new = np.ones(keys.size, dtype=bool)
        if known.size:
            new = known[np.minimum(np.searchsorted(known, keys), known.size - 1)] != keys
        if new.any():  # only graphs never seen for this action are computed
            fresh_keys, first = np.unique(keys[new], return_index=True)
            fresh = DiscreteHarmModel(self.spec.restrict(action), self.bdeu, g[new][first])
            all_keys = np.concatenate([known, fresh_keys])
            all_rows = np.concatenate([rows, fresh.table[0, fresh.inverse]])
            order = np.argsort(all_keys, kind="stable")
            known, rows = all_keys[order], all_rows[order]
            self._cache[action] = (known, rows)
        cfg = int(model.config(np.asarray(x, dtype=np.float64)))
        return rows[np.searchsorted(known, keys), cfg]

    def information_gain(
        self, top: np.ndarray, weights: np.ndarray, action: int, x: np.ndarray, rng: np.random.Generator
    ) -> float:
        """Exact bits about which of the members ``top`` (positions in ``members``) holds, from one run
        of ``action`` in context ``x``."""
        return discrete_eig(weights, self._model().outcome_probs(top, action, x))
