"""Theories written by people: a causal graph over named variables, with or without parameters.

A :class:`HumanTheory` enters the guard's pool of graphs and is scored under the same posterior as every
other graph, so it joins the cautious set ``M_alpha`` exactly when its posterior mass qualifies; the guard
is then never less cautious than any plausible theory a person wrote down.

- *Graph only*: its weight is ``log p(G) + log p(D | G)`` (BGe, parameters integrated out), like any
  sampled graph, and its harm averages over the graph's parameter posterior.
- *With parameters* (a full linear-Gaussian SCM): a point hypothesis, weighted by
  ``log p(G) + log p(D | G, params)``, the evidence of a model whose parameter prior is a point mass
  at the given values, and its harm is computed from those values. Coefficients must be given for every
  edge; a missing intercept is 0 and a missing noise variance is 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ...graphs.dag import is_acyclic
from .linear_gaussian import LinearGaussianTheories


def _edge(item: object, names: Sequence[str], field_name: str) -> tuple[int, int]:
    if isinstance(item, str):
        parts = [p.strip() for p in item.split("->")]
        if len(parts) != 2:
            raise ValueError(f"{field_name}: expected 'parent -> child', got {item!r}")
        item = tuple(parts)
    if not (isinstance(item, tuple | list) and len(item) == 2):
        raise ValueError(f"{field_name}: expected a (parent, child) pair or 'parent -> child', got {item!r}")
    ends = []
    for end in item:
        if end not in names:
            raise ValueError(f"{field_name}: unknown variable {end!r}; known: {list(names)}")
        ends.append(list(names).index(end))
    if ends[0] == ends[1]:
        raise ValueError(f"{field_name}: a self-loop {item!r} is not a causal edge")
    return ends[0], ends[1]


@dataclass(frozen=True)
class HumanTheory:
    """A person's causal theory.

    Attributes:
        edges: ``[("valve", "pressure"), "temp -> pressure", ...]``.
        name: a label shown in verdicts.
        coefficients: optional ``{(parent, child): weight}`` for every edge (makes a full SCM).
        intercept: optional ``{variable: value}`` (default 0), with ``coefficients``.
        noise_var: optional ``{variable: variance > 0}`` (default 1), with ``coefficients``.
    """

    edges: Sequence[object]
    name: str = "human"
    coefficients: Mapping[tuple[str, str], float] | None = None
    intercept: Mapping[str, float] = field(default_factory=dict)
    noise_var: Mapping[str, float] = field(default_factory=dict)

    def graph(self, names: Sequence[str]) -> np.ndarray:
        """``(d, d)`` bool adjacency on ``names``; raises on unknown names or cycles."""
        d = len(names)
        adj = np.zeros((d, d), dtype=bool)
        for k, e in enumerate(self.edges):
            i, j = _edge(e, names, f"human theory {self.name!r} edges[{k}]")
            adj[i, j] = True
        if not is_acyclic(adj[None])[0]:
            raise ValueError(f"human theory {self.name!r}: the edges form a cycle")
        return adj

    @property
    def has_parameters(self) -> bool:
        return self.coefficients is not None

    def parameters(self, names: Sequence[str]) -> LinearGaussianTheories:
        """The SCM as one theory (requires ``coefficients``)."""
        if self.coefficients is None:
            raise ValueError(f"human theory {self.name!r}: has no parameters")
        adj = self.graph(names)
        d = len(names)
        weights = np.zeros((1, d, d))
        for k, (e, w) in enumerate(self.coefficients.items()):
            i, j = _edge(e, names, f"human theory {self.name!r} coefficients[{k}]")
            if not adj[i, j]:
                raise ValueError(f"human theory {self.name!r}: coefficient for {e!r}, which is not an edge")
            if not np.isfinite(float(w)):
                raise ValueError(f"human theory {self.name!r}: coefficient for {e!r} must be finite")
            weights[0, i, j] = float(w)
        missing = [
            (names[i], names[j]) for i, j in zip(*np.nonzero(adj), strict=True) if weights[0, i, j] == 0
        ]
        if missing:
            raise ValueError(f"human theory {self.name!r}: no (non-zero) coefficient for edges {missing}")
        c = np.zeros((1, d))
        v = np.ones((1, d))
        for label, src, out, positive in (
            ("intercept", self.intercept, c, False),
            ("noise_var", self.noise_var, v, True),
        ):
            for var, val in src.items():
                if var not in names:
                    raise ValueError(f"human theory {self.name!r} {label}: unknown variable {var!r}")
                val = float(val)
                if not np.isfinite(val) or (positive and val <= 0):
                    raise ValueError(f"human theory {self.name!r} {label}[{var!r}]: invalid value {val!r}")
                out[0, list(names).index(var)] = val
        return LinearGaussianTheories(adj[None], weights, c, v, tuple(names))
