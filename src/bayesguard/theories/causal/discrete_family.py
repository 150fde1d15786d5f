"""Discrete causal Bayesian networks as a :class:`~bayesguard.theories.base.TheoryFamily`.

A theory is a whole categorical network: a graph and one conditional probability table per node, packed
into a fixed-width float vector so that a batch is an ``(n, d^2 + sum_j Q_j r_j)`` array
(:meth:`DiscreteCausalFamily.pack` / :meth:`~DiscreteCausalFamily.unpack`). Node ``j``'s table occupies
a block of ``Q_j`` rows by ``r_j`` states, where ``Q_j`` is the largest number of parent configurations
``j`` can have with at most ``max_parents`` parents; a graph whose node has ``q_j < Q_j`` configurations
uses the first ``q_j`` rows (row ``c = ravel_multi_index(x[parents], arities[parents])``, parents in
increasing index order) and leaves the rest zero.

- ``log_prior``: the structure prior of the graph (the Dirichlet parameter prior produced the tables
  and is not re-scored);
- ``log_likelihood``: ``sum_rows sum_j log P(x_j | x_pa)`` over the cells of :class:`CausalData` that
  were not set by ``do()``;
- ``harm_prob``: ``P(harm event | do(action), evidence = context, theory)`` by variable elimination
  (:func:`~.discrete.query`), exact. The context is observed before acting; where it descends from a
  variable the action sets, that harm is a counterfactual the tables do not determine, and it is refused
  with a ValueError (see :mod:`~.discrete_harm`).

Everything is vectorised over theories; loops run over distinct graphs and nodes, never over theories.
Posterior theories come from a structure sampler followed by the BDeu Dirichlet posterior of each graph
(:func:`discrete_theories_from_graphs`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ...graphs.dag import is_acyclic, transitive_closure
from ...graphs.keys import unique_graphs
from .discrete import DiscreteTheories, query, sample_cpts
from .discrete_harm import descendant_context, refusal_reason
from .family import CausalData
from .harm import HarmSpec
from .prior import StructurePrior, resolve_prior
from .scores import BDeuScore


@dataclass(frozen=True)
class DiscreteCausalFamily:
    """Categorical causal networks with a harm event on one variable.

    Attributes:
        names: the ``d`` variable names.
        categories: ``categories[j]`` lists the labels of variable ``j`` (codes are positions).
        actions: the agent's options, each ``{variable: label or code}`` (``{}``: do nothing).
        harm: the harm event, e.g. ``"status == 'critical'"`` (``==`` or ``!=`` a category).
        prior: the structure prior (default: uniform over DAGs).
        max_parents: at most this many parents per node (default ``d - 1``); sets the packed width.
    """

    names: tuple[str, ...]
    categories: tuple[tuple[object, ...], ...]
    actions: tuple[Mapping[str, object], ...]
    harm: str
    prior: StructurePrior | None = None
    max_parents: int | None = None
    name: str = "discrete-cbn"
    spec: HarmSpec = field(init=False, repr=False)
    arities: np.ndarray = field(init=False, repr=False)
    block_rows: np.ndarray = field(init=False, repr=False)
    offsets: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        spec = HarmSpec(tuple(self.names), self.harm, tuple(self.actions), categories=self.categories)
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "names", spec.names)
        object.__setattr__(self, "categories", spec.categories)
        d = spec.d
        k = d - 1 if self.max_parents is None else int(self.max_parents)
        if not 0 <= k <= d - 1:
            raise ValueError(f"max_parents: expected an integer in [0, {d - 1}], got {self.max_parents!r}")
        object.__setattr__(self, "max_parents", k)
        ar = np.array([len(c) for c in spec.categories], dtype=np.int64)  # type: ignore[union-attr]
        rows = np.array([int(np.prod(np.sort(np.delete(ar, j))[::-1][:k])) for j in range(d)], dtype=np.int64)
        sizes = rows * ar
        object.__setattr__(self, "arities", ar)
        object.__setattr__(self, "block_rows", rows)
        object.__setattr__(self, "offsets", d * d + np.concatenate([[0], np.cumsum(sizes)]))
        object.__setattr__(self, "prior", resolve_prior(self.prior, spec.names, "family"))

    @property
    def d(self) -> int:
        return len(self.names)

    @property
    def n_actions(self) -> int:
        return self.spec.n_actions

    @property
    def width(self) -> int:
        """Length of one packed theory."""
        return int(self.offsets[-1])

    # ------------------------------------------------------------------ packing
    def pack(self, theories: DiscreteTheories) -> np.ndarray:
        """``m`` networks sharing one graph -> ``(m, width)`` float64."""
        d, m = self.d, theories.m
        adj = np.asarray(theories.adj, dtype=bool)
        if adj.shape != (d, d):
            raise ValueError(f"theories.adj: expected shape ({d}, {d}), got {adj.shape}")
        if adj.sum(axis=0).max(initial=0) > self.max_parents:
            raise ValueError(f"theories.adj: a node has more than max_parents={self.max_parents} parents")
        out = np.zeros((m, self.width))
        out[:, : d * d] = adj.reshape(-1)
        for j in range(d):  # a loop over nodes; the theories are batched
            q, r = theories.cpts[j].shape[1:]
            block = np.zeros((m, int(self.block_rows[j]), r))
            block[:, :q] = theories.cpts[j]
            out[:, self.offsets[j] : self.offsets[j + 1]] = block.reshape(m, -1)
        return out

    def _check(self, theories: np.ndarray) -> np.ndarray:
        arr = np.asarray(theories, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr[None]
        if arr.ndim != 2 or arr.shape[1] != self.width:
            raise ValueError(f"theories: expected shape (n, {self.width}) for this family, got {arr.shape}")
        return arr

    def unpack(self, theories: np.ndarray) -> list[tuple[np.ndarray, DiscreteTheories]]:
        """``(n, width)`` -> one ``(indices, DiscreteTheories)`` per distinct graph."""
        arr = self._check(theories)
        d = self.d
        adj = arr[:, : d * d].reshape(-1, d, d) > 0.5
        graphs, _, group = unique_graphs(adj)
        out = []
        for u, g in enumerate(graphs):  # a loop over distinct graphs
            idx = np.flatnonzero(group == u)
            cpts = []
            for j in range(d):
                parents = np.flatnonzero(g[:, j])
                q, r = int(np.prod(self.arities[parents])), int(self.arities[j])
                block = arr[idx, self.offsets[j] : self.offsets[j + 1]]
                cpts.append(block.reshape(idx.size, -1, r)[:, :q])
            out.append((idx, DiscreteTheories(g, self.arities.copy(), tuple(cpts))))
        return out

    # ------------------------------------------------------------------ TheoryFamily
    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """Structure log prior of each theory's graph: ``(n, width) -> (n,)``."""
        arr = self._check(theories)
        return self.prior.log_prior(arr[:, : self.d**2].reshape(-1, self.d, self.d) > 0.5)  # type: ignore[union-attr]

    def log_likelihood(self, theories: np.ndarray, data: CausalData | np.ndarray) -> np.ndarray:
        """``log P(data | theory)`` over the cells not set by ``do()``: ``(n,)``.

        Args:
            theories: ``(n, width)``.
            data: :class:`CausalData` of integer codes (or an ``(N, d)`` code array: all observational).
        """
        if not isinstance(data, CausalData):
            data = CausalData(np.asarray(data, dtype=np.float64))
        codes = np.round(data.values).astype(np.int64)
        if codes.shape[1] != self.d or np.any(codes != data.values):
            raise ValueError(f"data.values: expected (N, {self.d}) integer category codes")
        if np.any(codes < 0) or np.any(codes >= self.arities[None]):
            raise ValueError("data.values: a code is outside its variable's categories")
        scored = ~data.intervened
        out = np.zeros(self._check(theories).shape[0])
        for idx, th in self.unpack(theories):  # distinct graphs
            for j in range(self.d):  # nodes; theories and rows are batched
                parents = np.flatnonzero(th.adj[:, j])
                cfg = (
                    np.ravel_multi_index(codes[:, parents].T, self.arities[parents])
                    if parents.size
                    else np.zeros(codes.shape[0], dtype=np.int64)
                )
                rows = scored[:, j]
                with np.errstate(divide="ignore"):
                    out[idx] += np.log(th.cpts[j][:, cfg[rows], codes[rows, j]]).sum(axis=1)
        return out

    def harm_prob(
        self, theories: np.ndarray, context: Mapping[str, object] | None = None, action: int | None = None
    ) -> np.ndarray:
        """``P(harm | do(action), evidence = context, theory)``: ``(n, n_actions)`` or ``(n,)``.

        ``context`` maps any variables not set by the actions to their label or code; it is observed
        before acting. Where a context variable descends from a variable an action sets, that (theory,
        action) harm is a counterfactual the tables do not determine: it is refused, and a ValueError
        names the context variable, the action and the path, but only when a returned value is refused
        (so "do nothing", or an action with no directed path to the context, still works).
        """
        from ..._validate import action_index
        from ..base import select_action

        spec = self.spec
        evidence = {}
        for var, val in dict(context or {}).items():
            if var not in spec.names:
                raise ValueError(f"context: unknown variable {var!r}; known: {list(spec.names)}")
            evidence[spec.index(var)] = int(spec._value(var, val, f"context[{var!r}]"))
        h, code = spec.harm_index, int(spec.harm.value)
        arr = self._check(theories)
        out = np.empty((arr.shape[0], self.n_actions))
        reasons: dict[int, str] = {}  # action -> the first refusal among the theories
        labels: tuple[str, ...] = spec.action_names or ()
        ctx = sorted(evidence)
        for idx, th in self.unpack(arr):  # distinct graphs
            closure = transitive_closure(th.adj[None])[0]
            for k, act in enumerate(spec.actions):  # a handful of actions
                do = {spec.index(v): int(c) for v, c in act.items()}
                if set(do) & set(evidence):
                    raise ValueError(
                        f"context: {spec.names[min(set(do) & set(evidence))]!r} is set by actions[{k}]"
                    )
                hit = descendant_context(closure, sorted(do), ctx)
                if hit is not None:
                    out[idx, k] = np.nan
                    reasons.setdefault(k, refusal_reason(spec.names, th.adj, k, labels[k], *hit))
                    continue
                p = query(th, h, do=do, evidence=evidence)[:, code]
                out[idx, k] = p if spec.harm.op == "==" else 1.0 - p
        result = select_action(out, action, self.n_actions)  # a bad action index is reported first
        chosen = range(self.n_actions) if action is None else [action_index(action, self.n_actions)]
        for k in chosen:
            if k in reasons:
                raise ValueError(reasons[k])
        return result

    def describe(self, theory: np.ndarray) -> str:
        """The graph and, per node, its table rows (``P(state | parent configuration)``)."""
        (_, th), *_ = self.unpack(np.asarray(theory)[None])
        parts = []
        for j, name in enumerate(self.names):
            parents = [self.names[i] for i in np.flatnonzero(th.adj[:, j])]
            table = np.array2string(th.cpts[j][0], precision=2, separator=",")
            parts.append(f"P({name}" + (f" | {', '.join(parents)}" if parents else "") + f") = {table}")
        return "; ".join(parts)


def discrete_theories_from_graphs(
    family: DiscreteCausalFamily,
    score: BDeuScore,
    adj: np.ndarray,
    rng: np.random.Generator | int | None = None,
) -> np.ndarray:
    """Full theories for sampled graphs ``(n, d, d)``: tables from the BDeu Dirichlet posterior, packed
    ``(n, width)`` in the input order."""
    rng = np.random.default_rng(rng)
    a = np.asarray(adj, dtype=bool)
    if a.ndim != 3 or a.shape[1:] != (family.d, family.d) or not is_acyclic(a).all():
        raise ValueError(f"adj: expected acyclic graphs of shape (n, {family.d}, {family.d})")
    if not np.array_equal(np.asarray(score.arities), family.arities):
        raise ValueError("score: its arities differ from the family's category counts")
    graphs, _, group = unique_graphs(a)
    out = np.empty((a.shape[0], family.width))
    for u, g in enumerate(graphs):  # a loop over distinct graphs
        idx = np.flatnonzero(group == u)
        out[idx] = family.pack(sample_cpts(score, g, idx.size, rng))
    return out
