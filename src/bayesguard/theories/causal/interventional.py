"""The BGe and BDeu scores with perfect interventions: experiments orient edges that observations cannot.

When a row was produced under ``do(A = a)``, the value of ``A`` in that row says nothing about ``A``'s
own causal mechanism, while every other variable's mechanism is unchanged. So the likelihood of a DAG
factorises over nodes with each node scored only on the rows where it was *not* set (Cooper & Yoo 1999;
Eaton & Murphy 2007):

    log p(D | G) = sum_j local_j(j, pa_j),   local_j = BGe local score on R_j = {rows where j was not set}

Nodes that share a row set share one :class:`~.scores.BGeScore`; usually only the intervened variables get
their own. Markov-equivalent graphs no longer tie once some variable has been set: under ``A -> H``
the rows with ``do(A)`` are scored by ``H``'s mechanism, under ``H -> A`` they are not.

The parameter posterior of node ``j`` comes from the same rows (its group's ``R``, mean and row count;
for BDeu, its counts). :class:`InterventionalBDeuScore` does the same for categorical data.
"""

from __future__ import annotations

import numpy as np

from ..._validate import as_float_array
from .scores import BDeuScore, BGeScore


class _RowGroups:
    """Local scores of nodes scored on different row sets: one inner score per distinct row set.

    Subclasses set ``group`` (``(d,)`` the row set of each node) and ``scores`` (one score per set).
    """

    group: np.ndarray
    scores: list

    def node_score(self, node: int):
        """The score of the rows where ``node`` was not set."""
        return self.scores[int(self.group[node])]

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Local scores: ``nodes (m,)``, ``masks (m,)`` int64 -> ``(m,)``, each node on its own rows."""
        nodes = np.asarray(nodes, dtype=np.int64)
        masks = np.asarray(masks, dtype=np.int64)
        out = np.empty(nodes.shape[0])
        g_of = self.group[nodes]
        for g in np.unique(g_of):  # a loop over row groups, not over pairs
            sel = g_of == g
            out[sel] = self.scores[int(g)].local_many(nodes[sel], masks[sel])
        return out

    def local(self, node: int, parent_mask: int) -> float:
        return float(self.local_many(np.array([node]), np.array([parent_mask]))[0])


class InterventionalBGeScore(_RowGroups):
    """BGe local scores from observational and interventional rows.

    Args:
        values: ``(N, d)`` the data.
        intervened: ``(N, d)`` bool, True where the cell was set by ``do()``.
        alpha_mu, alpha_w, mu0: the BGe hyperparameters (as :class:`~.scores.BGeScore`).
    """

    def __init__(
        self,
        values: np.ndarray,
        intervened: np.ndarray,
        alpha_mu: float = 1.0,
        alpha_w: float | None = None,
        mu0: np.ndarray | None = None,
    ) -> None:
        x = as_float_array(values, "values", ndim=2)
        iv = np.asarray(intervened, dtype=bool)
        if iv.shape != x.shape:
            raise ValueError(f"intervened: expected shape {x.shape}, got {iv.shape}")
        self.d = x.shape[1]
        self.n_rows = x.shape[0]
        kept, group = np.unique(~iv.T, axis=0, return_inverse=True)  # (G, N) row sets, (d,) group of node
        self.group = group.ravel()
        self.scores = []
        for g, rows in enumerate(kept):  # one BGe score per distinct row set (few)
            nodes = np.flatnonzero(self.group == g)
            if rows.sum() < 2:
                raise ValueError(
                    f"intervened: variable {int(nodes[0])} is set in all but {int(rows.sum())} rows; its "
                    "mechanism needs at least 2 rows where it was not set"
                )
            self.scores.append(BGeScore(x[rows], alpha_mu, alpha_w, mu0))
        self.alpha_mu = self.scores[0].alpha_mu
        self.alpha_w = self.scores[0].alpha_w

    def __repr__(self) -> str:
        return f"InterventionalBGeScore(N={self.n_rows}, d={self.d}, row groups={len(self.scores)})"


class InterventionalBDeuScore(_RowGroups):
    """BDeu local scores from observational and interventional rows of categorical data.

    Args:
        codes: ``(N, d)`` integer category codes.
        intervened: ``(N, d)`` bool, True where the cell was set by ``do()``.
        arities: ``(d,)`` number of categories per variable, counting states that never occur (as
            :class:`~.scores.BDeuScore`); required, and shared by every row group, so a state missing
            from one group's rows is still counted there.
        ess: the BDeu equivalent sample size.

    Raises:
        TypeError: ``arities`` missing (None) or not integers.
        ValueError: bad shapes or values (see :class:`~.scores.BDeuScore`).
    """

    def __init__(
        self, codes: np.ndarray, intervened: np.ndarray, arities: np.ndarray | None = None, ess: float = 1.0
    ) -> None:
        full = BDeuScore(codes, arities, ess)  # validates the codes and the declared arities
        iv = np.asarray(intervened, dtype=bool)
        if iv.shape != full.codes.shape:
            raise ValueError(f"intervened: expected shape {full.codes.shape}, got {iv.shape}")
        self.d, self.n_rows = full.d, full.n_rows
        self.arities, self.ess, self.codes = full.arities, full.ess, full.codes
        kept, group = np.unique(~iv.T, axis=0, return_inverse=True)
        self.group = group.ravel()
        self.scores = []
        for g, rows in enumerate(kept):  # one BDeu score per distinct row set (few)
            if rows.sum() < 2:
                node = int(np.flatnonzero(self.group == g)[0])
                raise ValueError(
                    f"intervened: variable {node} is set in all but {int(rows.sum())} rows; its "
                    "mechanism needs at least 2 rows where it was not set"
                )
            self.scores.append(BDeuScore(full.codes[rows], full.arities, ess))

    def __repr__(self) -> str:
        return f"InterventionalBDeuScore(N={self.n_rows}, d={self.d}, row groups={len(self.scores)})"
