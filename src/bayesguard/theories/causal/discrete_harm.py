"""``P(harm | context, do(action), G, D)`` for a batch of discrete causal graphs, tabulated once.

**Exact per graph.** Under BDeu the tables of a graph have independent Dirichlet posteriors, and one new
case uses each table once, so the posterior predictive of a new case given ``G`` and ``D`` is the
product of the *posterior-mean* tables (the mutilated product under ``do(a)``). Hence

    P(H | x, do(a), G, D) = P(H, x | do(a), G, D) / P(x | do(a), G, D),

both computed with the posterior-mean tables: parameter uncertainty is integrated out exactly, and the
harm of a graph is a fixed number (which the harm-seeking search and the cautious set need). The
context ``x`` of the new case is not used to update the posterior over graphs (one case among ``N``).

**Context observed before acting.** The context ``x`` is seen before the action. If no context variable
descends from a variable the action sets, ``x`` is the same before and after acting, and the formula
above (conditioning the mutilated product on ``x``) is the right one. If one does, its pre-action value
tells about the noise of the mechanisms the action then reuses, and ``P(H' | x before, do(a))`` is a
counterfactual: it depends on the response functions (the joint law of each node's outcomes under every
parent configuration), which conditional probability tables do not determine. Such a pair (graph,
action) is *refused*: its cells of the table hold NaN, and a lookup that would return one raises a
ValueError naming the context variable, the action and the path (the guard turns it into a fail-closed
REJECT). The test "some context variable descends from some intervened variable" gives the same answer
in the graph and in the mutilated graph (the last intervened node on a path keeps its outgoing edges), so
it is made on the graph. Refusing the whole table would be simpler but would also refuse "do nothing" and
every action with no directed path to the context.

**Tabulated.** The context variables are discrete, so :class:`DiscreteHarmModel` computes the harm for
*every* context configuration at once: one contraction (:func:`~.elimination.eliminate`: barren nodes
pruned, a min-fill order, cached per structure) per distinct graph and action, with the harm and context
variables left open. A check is then a table lookup. The loop runs over distinct graphs, never over
theories.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...graphs.dag import is_acyclic, transitive_closure
from ...graphs.keys import unique_graphs
from .discrete import posterior_mean_cpts
from .elimination import eliminate
from .harm import HarmSpec
from .scores import BDeuScore

#: Refuse to tabulate more cells than this (distinct graphs x actions x context configurations).
MAX_CELLS = 20_000_000
#: The information-gain outcome is the joint of the free variables when it has at most this many cells.
MAX_OUTCOME_CELLS = 1 << 16


def mutilated_joint(
    cpts: list[np.ndarray],
    adj: np.ndarray,
    arities: np.ndarray,
    do: dict[int, int],
    keep: list[int],
) -> np.ndarray:
    """Joint of the variables ``keep`` under ``do`` in one discrete network: shape ``arities[keep]``.

    Args:
        cpts: ``d`` tables, ``cpts[j]`` of shape ``(q_j, r_j)`` (parents in increasing index order).
        adj: ``(d, d)`` bool graph.
        arities: ``(d,)`` states per variable.
        do: ``{variable index: code}`` interventions (their tables become point masses).
        keep: the variables left open, in output order.

    Only the ancestors of ``keep`` in the mutilated graph are contracted (:mod:`.elimination`).
    """
    d = adj.shape[0]
    if d > 52:
        raise ValueError("theories: exact discrete queries support at most 52 variables")
    joint = eliminate([t[None] for t in cpts], adj, arities, do, {}, keep)  # (1, *arities[keep])
    return joint[0]


def descendant_context(closure: np.ndarray, do: Sequence[int], ctx: Sequence[int]) -> tuple[int, int] | None:
    """The first ``(intervened variable, context variable)`` with a directed path between them, or None.

    Args:
        closure: ``(d, d)`` bool :func:`~.dag.transitive_closure` of one graph.
        do: indices of the intervened variables.
        ctx: indices of the context variables.
    """
    for c in ctx:
        for a in do:
            if closure[a, c]:
                return int(a), int(c)
    return None


def directed_path(adj: np.ndarray, src: int, dst: int) -> list[int]:
    """A directed path ``src -> ... -> dst`` in ``adj (d, d)`` (breadth first; empty when none)."""
    prev = {src: src}
    frontier = [src]
    while frontier and dst not in prev:
        nxt = []
        for i in frontier:
            for j in np.flatnonzero(adj[i]):
                if int(j) not in prev:
                    prev[int(j)] = i
                    nxt.append(int(j))
        frontier = nxt
    if dst not in prev:
        return []
    path = [dst]
    while path[-1] != src:
        path.append(prev[path[-1]])
    return path[::-1]


def refusal_reason(names: Sequence[str], adj: np.ndarray, action: int, label: str, a: int, c: int) -> str:
    """Why the harm of ``actions[action]`` cannot be computed in graph ``adj`` with context ``names[c]``."""
    path = " -> ".join(names[i] for i in directed_path(adj, a, c))
    return (
        f"context: {names[c]!r} is observed before acting but descends from {names[a]!r}, which "
        f"actions[{action}] ({label}) sets (path {path}); its pre-action value is then a counterfactual "
        f"quantity that needs a response-function (noise) model, which conditional probability tables do "
        f"not determine, so the harm of this action under this graph is refused"
    )


class DiscreteHarmModel:
    """Harm probabilities of ``n`` discrete graphs under every action of a discrete :class:`HarmSpec`.

    Args:
        spec: the harm event (``==`` / ``!=`` a category), actions and context variables; discrete.
        score: the BDeu score (or :class:`~.interventional.InterventionalBDeuScore`) whose counts give
            each graph's posterior-mean tables.
        graphs: ``(n, d, d)`` bool DAGs (repeats allowed; each distinct graph is computed once).

    Attributes:
        table: ``(n_actions, n_distinct, n_configs)`` harm of each distinct graph in each context
            configuration (configurations in C order over ``spec.context``).
            NaN where the pair (action, graph) is refused (a context variable descends from a
            variable the action sets; module docstring).
        inverse: ``(n,)`` the distinct graph of each input graph.
        refused: ``(n_actions, n_distinct)`` bool, the refused pairs.
        reasons: ``{(action, distinct graph): message}`` for the refused pairs.
    """

    def __init__(self, spec: HarmSpec, score: BDeuScore, graphs: np.ndarray) -> None:
        if not spec.discrete:
            raise ValueError("spec: a discrete harm model needs a discrete spec (with categories)")
        g = np.asarray(graphs, dtype=bool)
        if g.ndim != 3 or g.shape[1:] != (spec.d, spec.d):
            raise ValueError(f"graphs: expected shape (n, {spec.d}, {spec.d}), got {g.shape}")
        if not is_acyclic(g).all():
            raise ValueError("graphs: contains a cycle")
        self.spec, self.score = spec, score
        self.arities = np.asarray(score.arities, dtype=np.int64)
        cat_ar = np.array([len(c) for c in spec.categories], dtype=np.int64)  # type: ignore[union-attr]
        if not np.array_equal(cat_ar, self.arities):
            raise ValueError(
                f"score: arities {self.arities.tolist()} differ from the spec's category counts "
                f"{cat_ar.tolist()}"
            )
        self.ctx = [int(c) for c in spec.context_index]
        self.ctx_arities = self.arities[self.ctx]
        self.n_configs = int(np.prod(self.ctx_arities)) if self.ctx else 1
        _, first, inverse = unique_graphs(g)
        self.graphs = g[first]  # (u, d, d) distinct graphs
        self.inverse = inverse.ravel()
        self.n = g.shape[0]
        cells = self.graphs.shape[0] * spec.n_actions * self.n_configs
        if cells > MAX_CELLS:
            raise ValueError(
                f"context: {len(self.ctx)} context variables have {self.n_configs} joint configurations; "
                f"tabulating them for {self.graphs.shape[0]} graphs x {spec.n_actions} actions exceeds "
                f"{MAX_CELLS} cells (use fewer context variables)"
            )
        self.dos = [
            {spec.index(k): int(v) for k, v in act.items()} for act in spec.actions
        ]  # per action {index: code}
        self.cpts = [posterior_mean_cpts(score, a) for a in self.graphs]  # per distinct graph
        h = spec.harm_index
        self.table = np.empty((spec.n_actions, self.graphs.shape[0], self.n_configs))
        self.refused = np.zeros((spec.n_actions, self.graphs.shape[0]), dtype=bool)
        self.reasons: dict[tuple[int, int], str] = {}
        closure = transitive_closure(self.graphs)  # (u, d, d)
        labels: tuple[str, ...] = spec.action_names or ()
        for i, adj in enumerate(self.graphs):  # a loop over distinct graphs; contexts and states inside
            for k, do in enumerate(self.dos):
                hit = descendant_context(closure[i], sorted(do), self.ctx)
                if hit is not None:
                    self.refused[k, i] = True
                    self.reasons[k, i] = refusal_reason(spec.names, adj, k, labels[k], *hit)
                    self.table[k, i] = np.nan
                    continue
                joint = mutilated_joint(self.cpts[i], adj, self.arities, do, [h, *self.ctx])
                joint = joint.reshape(self.arities[h], self.n_configs)
                self.table[k, i] = self._event(joint) / joint.sum(axis=0)

    def _event(self, joint: np.ndarray) -> np.ndarray:
        """Probability of the harm event from ``joint (r_h, ...)`` over the harm variable's states."""
        code = int(self.spec.harm.value)
        return joint[code] if self.spec.harm.op == "==" else joint.sum(axis=0) - joint[code]

    # ------------------------------------------------------------------ lookups
    def config(self, contexts: np.ndarray) -> np.ndarray:
        """Context codes ``(..., m)`` -> configuration indices ``(...)``; raises on bad codes."""
        x = np.asarray(contexts, dtype=np.float64)
        if not self.ctx:
            return np.zeros(x.shape[:-1], dtype=np.int64)
        codes = np.round(x).astype(np.int64)
        if np.any(codes != x) or np.any(codes < 0) or np.any(codes >= self.ctx_arities):
            raise ValueError(
                f"context: expected category codes below {self.ctx_arities.tolist()} for "
                f"{list(self.spec.context)}, got {x.tolist()}"
            )
        return np.ravel_multi_index(np.moveaxis(codes, -1, 0), self.ctx_arities)

    def _actions(self, actions: Sequence[int] | None) -> np.ndarray:
        if actions is None:
            return np.arange(self.spec.n_actions)
        out = np.asarray(actions, dtype=np.int64).reshape(-1)
        if np.any((out < 0) | (out >= self.spec.n_actions)):
            raise ValueError(f"actions: expected indices in [0, {self.spec.n_actions}), got {out.tolist()}")
        return out

    def check_refused(self, actions: np.ndarray, distinct: np.ndarray) -> None:
        """Raise the ValueError of the first refused pair among ``actions (k,)`` x ``distinct (g,)``."""
        graphs = np.unique(distinct)
        bad = self.refused[np.ix_(actions, graphs)]
        if bad.any():
            k, g = np.argwhere(bad)[0]
            raise ValueError(self.reasons[int(actions[k]), int(graphs[g])])

    def harm(self, context: object = None, actions: Sequence[int] | None = None) -> np.ndarray:
        """``(n, n_actions)`` harm of every input graph in one context (validated).

        ``actions`` (indices, default all) selects the columns, ``(n, len(actions))``; raises ValueError
        when a selected action is refused for an input graph (module docstring).
        """
        x = self.spec.context_values(context)
        if x.ndim != 1:
            raise ValueError(f"context: expected one context of shape ({len(self.ctx)},), got {x.shape}")
        acts = self._actions(actions)
        cfg = int(self.config(x))
        self.check_refused(acts, self.inverse)
        return self.table[acts][:, self.inverse, cfg].T

    def harm_pairs(
        self, theory: np.ndarray, contexts: np.ndarray, actions: Sequence[int] | None = None
    ) -> np.ndarray:
        """Harm of graph ``theory[b]`` in context ``contexts[b]``: ``(B,), (B, m) -> (B, n_actions)``
        (``actions`` and refusals as in :meth:`harm`)."""
        cfg = self.config(contexts)
        acts = self._actions(actions)
        distinct = self.inverse[np.asarray(theory, dtype=np.int64)]
        self.check_refused(acts, distinct)
        return self.table[acts][:, distinct, cfg].T

    def harm_batch(self, contexts: np.ndarray, actions: Sequence[int] | None = None) -> np.ndarray:
        """Every graph in every context: ``(B, m) -> (B, n, n_actions)`` (``actions`` and refusals as in
        :meth:`harm`)."""
        cfg = self.config(contexts)
        acts = self._actions(actions)
        self.check_refused(acts, self.inverse)
        return np.moveaxis(self.table[acts][:, self.inverse][:, :, cfg], 2, 0).swapaxes(1, 2)

    def outcome_probs(self, idx: np.ndarray, action: int, context: np.ndarray) -> np.ndarray:
        """Distribution of one experiment's outcome under each input graph ``idx``: ``(len(idx), K)``.

        The outcome is the joint of every variable that ``action`` does not set and the context does not
        fix, conditioned on the context, when that joint has at most ``MAX_OUTCOME_CELLS`` cells;
        otherwise the harm variable alone. Raises ValueError where ``action`` is refused for a graph.
        """
        do = self.dos[action]
        self.check_refused(np.array([action]), self.inverse[np.asarray(idx, dtype=np.int64)])
        free = [j for j in range(self.spec.d) if j not in do and j not in self.ctx]
        if int(np.prod(self.arities[free])) > MAX_OUTCOME_CELLS:
            free = [self.spec.harm_index]
        cfg = int(self.config(np.asarray(context, dtype=np.float64)))
        cfg_idx = np.unravel_index(cfg, self.ctx_arities) if self.ctx else ()
        out = []
        for u in self.inverse[np.asarray(idx, dtype=np.int64)]:  # a handful of plausible graphs
            joint = mutilated_joint(self.cpts[u], self.graphs[u], self.arities, do, [*free, *self.ctx])
            p = joint[(Ellipsis, *cfg_idx)].ravel()
            out.append(p / p.sum())
        return np.array(out)
