"""Structure priors over DAGs, decomposable over (node, parent set) like the scores.

Every prior here has the form ``log p(G) = sum_{i->j in G} log_odds[i, j] + const`` plus hard
constraints, so it folds into the local scores: the prior contribution of node ``j`` with parent set
``pa`` is ``sum_{i in pa} log_odds[i, j]`` (``-inf`` if ``pa`` contains a forbidden parent of ``j`` or
misses a required one). This keeps the posterior decomposable for exact enumeration, MCMC moves and
GFlowNet rewards alike.

- uniform over DAGs: all log-odds 0;
- Erdős–Rényi edge-count prior ``p(G) ∝ rho^|E| (1 - rho)^(d(d-1)/2 - |E|)`` with
  ``rho = expected_edges / (d(d-1)/2)``, the edge probability of an ER DAG with that many expected
  edges: log-odds ``log(rho/(1-rho))``;
- per-edge prior probabilities ``pi[i, j]``: log-odds ``log(pi/(1-pi))``. A safety constraint stated as
  a strong prior ("the valve always lowers the pressure") is ``pi[valve, pressure] = 0.999``, or a
  required edge when it is certain.

The edge-wise terms are exact for per-edge independent priors restricted to DAGs (the normalising
constant over DAGs does not depend on the graph, so it cancels in every posterior).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..._validate import positive_int


def _edge_list(edges: Iterable[tuple[int | str, int | str]], names: Sequence[str], label: str) -> list:
    index = {n: i for i, n in enumerate(names)}
    out = []
    for e in edges:
        try:
            a, b = e
        except (TypeError, ValueError):
            raise ValueError(f"{label}: expected pairs (parent, child), got {e!r}") from None
        ij = []
        for v in (a, b):
            if isinstance(v, str):
                if v not in index:
                    raise ValueError(f"{label}: unknown variable {v!r}; known: {list(names)}")
                ij.append(index[v])
            elif isinstance(v, int | np.integer) and 0 <= int(v) < len(names):
                ij.append(int(v))
            else:
                raise ValueError(
                    f"{label}: {v!r} is neither a variable name nor an index in [0, {len(names)})"
                )
        if ij[0] == ij[1]:
            raise ValueError(f"{label}: self-loop on {names[ij[0]]!r}")
        out.append(tuple(ij))
    return out


@dataclass(frozen=True)
class StructurePrior:
    """A decomposable prior over DAGs on ``d`` named variables.

    Attributes:
        names: the ``d`` variable names.
        log_odds: ``(d, d)`` log-odds of each edge ``i -> j`` (diagonal ignored).
        required: ``(d, d)`` bool, edges every graph must contain.
        forbidden: ``(d, d)`` bool, edges no graph may contain.
    """

    names: tuple[str, ...]
    log_odds: np.ndarray
    required: np.ndarray
    forbidden: np.ndarray
    _log_odds_cols: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        d = len(self.names)
        for label, arr in (
            ("log_odds", self.log_odds),
            ("required", self.required),
            ("forbidden", self.forbidden),
        ):
            if np.shape(arr) != (d, d):
                raise ValueError(f"{label}: expected shape ({d}, {d}), got {np.shape(arr)}")
        if np.any(self.required & self.forbidden):
            i, j = np.argwhere(self.required & self.forbidden)[0]
            raise ValueError(f"required/forbidden: edge {self.names[i]} -> {self.names[j]} is both")
        if np.any(self.required & self.required.T):
            i, j = np.argwhere(self.required & self.required.T)[0]
            raise ValueError(f"required: both {self.names[i]} -> {self.names[j]} and its reverse (a cycle)")
        lo = np.array(self.log_odds, dtype=np.float64)
        np.fill_diagonal(lo, 0.0)
        object.__setattr__(self, "log_odds", lo)

    @property
    def d(self) -> int:
        return len(self.names)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def make(
        cls,
        names: Sequence[str] | int,
        *,
        kind: str = "uniform",
        expected_edges: float | None = None,
        edge_probs: np.ndarray | None = None,
        required: Iterable[tuple[int | str, int | str]] = (),
        forbidden: Iterable[tuple[int | str, int | str]] = (),
    ) -> StructurePrior:
        """Build a prior.

        Args:
            names: variable names, or ``d`` (names ``x0..x{d-1}``).
            kind: ``"uniform"`` (every DAG equally likely), ``"erdos-renyi"`` (needs
                ``expected_edges``) or ``"edge-probs"`` (needs ``edge_probs``).
            expected_edges: expected edge count of the ER prior, in ``(0, d(d-1)/2)``.
            edge_probs: ``(d, d)`` prior probability of each edge ``i -> j`` in ``(0, 1)``; use
                ``required``/``forbidden`` for certainties.
            required, forbidden: edges as ``(parent, child)`` pairs of names or indices.
        """
        if isinstance(names, int | np.integer):
            names = [f"x{i}" for i in range(positive_int(names, "names"))]
        names = tuple(str(n) for n in names)
        if len(set(names)) != len(names):
            raise ValueError("names: variable names must be distinct")
        d = len(names)
        if kind == "uniform":
            lo = np.zeros((d, d))
        elif kind == "erdos-renyi":
            n_pairs = d * (d - 1) / 2
            if expected_edges is None or not 0 < expected_edges < n_pairs:
                raise ValueError(
                    f"expected_edges: the ER prior needs a number in (0, {n_pairs:g}), got {expected_edges!r}"
                )
            rho = expected_edges / n_pairs
            lo = np.full((d, d), np.log(rho / (1 - rho)))
        elif kind == "edge-probs":
            if edge_probs is None:
                raise ValueError("edge_probs: the 'edge-probs' prior needs a (d, d) array of probabilities")
            p = np.asarray(edge_probs, dtype=np.float64)
            if p.shape != (d, d):
                raise ValueError(f"edge_probs: expected shape ({d}, {d}), got {p.shape}")
            off = ~np.eye(d, dtype=bool)
            if not np.all(np.isfinite(p[off])) or np.any((p[off] <= 0) | (p[off] >= 1)):
                raise ValueError(
                    "edge_probs: off-diagonal entries must lie in (0, 1); use required/forbidden for 0 or 1"
                )
            with np.errstate(divide="ignore", invalid="ignore"):
                lo = np.where(off, np.log(p) - np.log1p(-p), 0.0)
        else:
            raise ValueError(f"kind: expected 'uniform', 'erdos-renyi' or 'edge-probs', got {kind!r}")
        req = np.zeros((d, d), dtype=bool)
        forb = np.zeros((d, d), dtype=bool)
        for i, j in _edge_list(required, names, "required"):
            req[i, j] = True
        for i, j in _edge_list(forbidden, names, "forbidden"):
            forb[i, j] = True
        return cls(names, lo, req, forb)

    # ------------------------------------------------------------------ evaluation
    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Prior contribution of each (node, parent set): ``(m,) nodes, (m,) int64 masks -> (m,)``."""
        nodes = np.asarray(nodes, dtype=np.int64)
        masks = np.asarray(masks, dtype=np.int64)
        bits = (masks[:, None] >> np.arange(self.d, dtype=np.int64)) & 1  # (m, d)
        out = np.einsum("mi,mi->m", bits.astype(np.float64), self.log_odds[:, nodes].T)
        req, forb = self._masks
        bad = ((masks & req[nodes]) != req[nodes]) | ((masks & forb[nodes]) != 0)
        return np.where(bad, -np.inf, out)

    def local_bits(self, nodes: np.ndarray, parents: np.ndarray) -> np.ndarray:
        """Prior contribution of each (node, parent set) with the sets as rows of a boolean matrix:
        ``(m,) nodes, (m, d) bool -> (m,)`` (any ``d``)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        bits = np.asarray(parents, dtype=bool)
        out = np.einsum("mi,mi->m", bits.astype(np.float64), self.log_odds[:, nodes].T)
        req, forb = self.required[:, nodes].T, self.forbidden[:, nodes].T
        bad = (req & ~bits).any(axis=1) | (forb & bits).any(axis=1)
        return np.where(bad, -np.inf, out)

    @property
    def _masks(self) -> tuple[np.ndarray, np.ndarray]:
        """Per node, the bitmasks of its required and of its forbidden parents: two ``(d,)`` int64."""
        bits = np.int64(1) << np.arange(self.d, dtype=np.int64)
        return (self.required.astype(np.int64) * bits[:, None]).sum(axis=0), (
            self.forbidden.astype(np.int64) * bits[:, None]
        ).sum(axis=0)

    def log_prior(self, adj: np.ndarray) -> np.ndarray:
        """Unnormalised log prior of graphs: ``(n, d, d) bool -> (n,)``."""
        a = np.asarray(adj, dtype=bool)
        if a.ndim != 3 or a.shape[1:] != (self.d, self.d):
            raise ValueError(f"adj: expected shape (n, {self.d}, {self.d}), got {a.shape}")
        out = np.einsum("nij,ij->n", a.astype(np.float64), self.log_odds)
        bad = np.any(a & self.forbidden, axis=(1, 2)) | np.any(self.required & ~a, axis=(1, 2))
        return np.where(bad, -np.inf, out)


def resolve_prior(prior: StructurePrior | None, names: tuple[str, ...], owner: str) -> StructurePrior:
    """``prior``, or the uniform prior over DAGs on ``names`` when None; checks the variable names."""
    out = prior if prior is not None else StructurePrior.make(list(names))
    if out.names != tuple(names):
        raise ValueError(f"prior: its variable names differ from the {owner}'s")
    return out
