"""Discrete causal theories: Dirichlet parameter posteriors under BDeu, and exact queries by variable
elimination.

**Parameters given a graph.** Under the BDeu prior with equivalent sample size ``ess`` the conditional
``P(x_j | pa_j = c)`` has prior ``Dirichlet(ess / (q_j r_j), ...)`` (``q_j`` parent configurations,
``r_j`` states); the posterior adds the counts ``N_cjk`` of the data. :func:`sample_cpts` draws
conditional probability tables from it for a batch of theories sharing one graph.

**Queries.** ``P(Y | do(A = a), X = x, theory)`` is a sum over the other variables of a product of
factors: every node's table, except that an intervened node's table is replaced by a point mass (the
mutilated graph) and each observed variable fixes its value. :func:`query` hands this to
:func:`~.elimination.eliminate`: barren nodes pruned, intervened and observed variables sliced out of the
tables, the rest summed out in a cached min-fill order, batched over theories.
Theories with different graphs are grouped by graph; the loop runs over distinct graphs, never over
theories.

Tables follow :class:`~.data.SyntheticDiscreteSCM`: ``cpts[j]`` is ``(m, q_j, r_j)`` with row
``c = ravel_multi_index(x[parents], arities[parents])`` over the parents in increasing index order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .elimination import eliminate
from .scores import BDeuScore


@dataclass(frozen=True)
class DiscreteTheories:
    """``m`` discrete Bayesian networks sharing one graph.

    Attributes:
        adj: ``(d, d)`` bool graph.
        arities: ``(d,)`` states per variable.
        cpts: ``d`` arrays, ``cpts[j]`` of shape ``(m, q_j, r_j)``, rows summing to 1.
    """

    adj: np.ndarray
    arities: np.ndarray
    cpts: tuple[np.ndarray, ...]

    @property
    def m(self) -> int:
        return int(self.cpts[0].shape[0])

    @property
    def d(self) -> int:
        return int(self.adj.shape[0])


def family_counts(score: BDeuScore, node: int, parents: np.ndarray) -> np.ndarray:
    """Counts ``(q, r_node)`` of each parent configuration and state of ``node`` in the data.

    With an :class:`~.interventional.InterventionalBDeuScore` only the rows where ``node`` was not set
    are counted (its mechanism did not produce the others).
    """
    if hasattr(score, "node_score"):
        score = score.node_score(node)
    ar = score.arities
    q = int(np.prod(ar[parents])) if parents.size else 1
    cfg = (
        np.ravel_multi_index(score.codes[:, parents].T, ar[parents])
        if parents.size
        else np.zeros(score.n_rows, int)
    )
    flat = cfg * ar[node] + score.codes[:, node]
    return np.bincount(flat, minlength=q * ar[node]).reshape(q, ar[node])


def sample_cpts(
    score: BDeuScore, adj: np.ndarray, m: int, rng: np.random.Generator | int | None = None
) -> DiscreteTheories:
    """``m`` draws of all tables for one graph ``adj (d, d)`` from the BDeu Dirichlet posterior."""
    rng = np.random.default_rng(rng)
    a = np.asarray(adj, dtype=bool)
    if a.shape != (score.d, score.d):
        raise ValueError(f"adj: expected shape ({score.d}, {score.d}), got {a.shape}")
    cpts = []
    for j in range(score.d):
        parents = np.flatnonzero(a[:, j])
        counts = family_counts(score, j, parents)  # (q, r)
        q, r = counts.shape
        alpha = score.ess / (q * r) + counts
        g = rng.gamma(np.broadcast_to(alpha, (m, q, r)))
        cpts.append(g / g.sum(axis=2, keepdims=True))
    return DiscreteTheories(a.copy(), score.arities.copy(), tuple(cpts))


def posterior_mean_cpts(score: BDeuScore, adj: np.ndarray) -> list[np.ndarray]:
    """The posterior-mean tables ``(q_j, r_j)`` of a graph: ``(N_cjk + a) / (N_cj + a r_j)``."""
    out = []
    for j in range(score.d):
        counts = family_counts(score, j, np.flatnonzero(np.asarray(adj, dtype=bool)[:, j]))
        q, r = counts.shape
        alpha = score.ess / (q * r) + counts
        out.append(alpha / alpha.sum(axis=1, keepdims=True))
    return out


def query(
    theories: DiscreteTheories,
    target: int,
    do: Mapping[int, int] | None = None,
    evidence: Mapping[int, int] | None = None,
) -> np.ndarray:
    """``P(target | do(...), evidence)`` for every theory: ``(m, r_target)``.

    Raises ValueError when the evidence has probability 0 under some theory, or on bad indices.
    """
    d = theories.d
    if d > 50:
        raise ValueError("theories: exact queries support at most 50 variables")
    ar = theories.arities
    do = dict(do or {})
    evidence = dict(evidence or {})
    for label, mapping in (("do", do), ("evidence", evidence)):
        for var, val in mapping.items():
            if not (isinstance(var, int | np.integer) and 0 <= var < d):
                raise ValueError(f"{label}: variable index {var!r} out of range [0, {d})")
            if not (isinstance(val, int | np.integer) and 0 <= val < ar[var]):
                raise ValueError(f"{label}: value {val!r} of variable {var} out of range [0, {ar[var]})")
    if not (isinstance(target, int | np.integer) and 0 <= target < d):
        raise ValueError(f"target: variable index {target!r} out of range [0, {d})")
    if set(do) & set(evidence):
        raise ValueError(f"evidence: variable {min(set(do) & set(evidence))} is also intervened on")
    if target in evidence:
        raise ValueError(f"evidence: the target {target} is observed")
    joint = eliminate(theories.cpts, theories.adj, ar, do, evidence, [target])  # (m, r_target)
    total = joint.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError("evidence: has probability 0 under some theory")
    return joint / total
