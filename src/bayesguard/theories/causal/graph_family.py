"""Causal worlds as one :class:`~bayesguard.theories.base.TheoryFamily` whose theories are graphs.

A theory is a DAG over the named variables of a :class:`~.harm.HarmSpec`, with its parameters
integrated over their posterior given the data (BGe Normal-Wishart for linear-Gaussian data, BDeu
Dirichlet for categorical data), or a person's complete linear-Gaussian SCM (a *point* theory: graph and
parameters as written). A batch of theories is an ``int8`` array ``(n, d*d + 1)``: the flattened
adjacency (``adj[i, j] = 1`` for ``i -> j``) and a point id (``-1`` for a graph, ``k >= 0`` for the
family's ``k``-th point theory). :meth:`CausalFamily.as_theories` also takes ``(n, d, d)`` boolean graphs
(what the structure samplers return).

The family holds the data so far, so the score of a graph is its exact unnormalised log posterior
(:meth:`log_score`); :meth:`conditioned` returns the family after new rows (observational or
experimental), and the log-likelihood of new rows is the change of the score (the parameter posterior
learned from the old rows is the prior of the new ones). Harm, information gain and the harm-seeking
search live in :mod:`.graph_harm`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..._validate import positive_int
from ...datasets.tables import Table
from ...graphs.dag import is_acyclic
from .harm import HarmSpec
from .human import HumanTheory
from .interventional import InterventionalBDeuScore, InterventionalBGeScore
from .linear_gaussian import LinearGaussianTheories, log_likelihood
from .observations import CausalData
from .prior import StructurePrior, resolve_prior
from .scores import BDeuScore, BGeScore
from .structure import StructureScore


def _category_codes(values: np.ndarray, spec: HarmSpec) -> np.ndarray:
    """``(N, d)`` float data -> int64 codes, checked against the spec's categories."""
    codes = np.round(values).astype(np.int64)
    if np.any(codes != values):
        col = int(np.flatnonzero((codes != values).any(axis=0))[0])
        raise ValueError(
            f"data: column {spec.names[col]!r} holds non-integer values; a discrete model takes category "
            "codes (validate_table(..., kind='discrete') makes them)"
        )
    arities = np.array([len(c) for c in spec.categories], dtype=np.int64)  # type: ignore[union-attr]
    bad = (codes < 0) | (codes >= arities[None])
    if bad.any():
        col = int(np.flatnonzero(bad.any(axis=0))[0])
        raise ValueError(
            f"data: column {spec.names[col]!r} has codes outside 0..{arities[col] - 1} "
            f"(the spec lists {arities[col]} categories: {list(spec.categories[col])})"  # type: ignore[index]
        )
    return codes


def as_causal_data(data: Any, spec: HarmSpec) -> CausalData:
    """A validated :class:`CausalData` in the order of ``spec.names`` from an array ``(N, d)``, a
    :class:`~bayesguard.datasets.Table` or a :class:`CausalData`."""
    if isinstance(data, Table):
        if tuple(data.names) != spec.names:
            raise ValueError(f"data: columns {list(data.names)} differ from the spec's {list(spec.names)}")
        data = data.values
    if not isinstance(data, CausalData):
        data = CausalData(np.asarray(data, dtype=np.float64))
    if data.values.ndim != 2 or data.values.shape[1] != spec.d:
        raise ValueError(
            f"data: expected shape (N, {spec.d}) in the order {list(spec.names)}, got {data.values.shape}"
        )
    if spec.discrete:
        _category_codes(data.values, spec)
    return data


class CausalFamily:
    """Causal theories (graphs with integrated parameters, or people's full SCMs) about one harm question.

    Args:
        spec: the harm event, the actions (interventions) and the context variables; a spec with
            ``categories`` makes the family discrete (BDeu), otherwise it is linear-Gaussian (BGe).
        data: the observations so far: ``(N, d)`` in the order of ``spec.names`` (category codes for a
            discrete spec), a validated Table, or :class:`CausalData` (rows from experiments mark the
            cells they set; the score is then the interventional BGe / BDeu).
        prior: the structure prior (default uniform over DAGs).
        ess: the BDeu equivalent sample size (discrete).
        n_param_draws: linear-Gaussian only: a graph's harm is averaged over this many draws from its
            parameter posterior, made from one fixed set of standard variates (common random numbers),
            so it is a fixed function of the graph (the harm-seeking search needs that).
        seed: seeds those variates.
    """

    def __init__(
        self,
        spec: HarmSpec,
        data: Any,
        prior: StructurePrior | None = None,
        *,
        ess: float = 1.0,
        n_param_draws: int = 16,
        seed: int = 0,
        _points: Sequence[LinearGaussianTheories] = (),
    ) -> None:
        if not isinstance(spec, HarmSpec):
            raise TypeError(f"spec: expected a HarmSpec, got {type(spec).__name__}")
        self.spec = spec
        self.data = as_causal_data(data, spec)
        self.prior = resolve_prior(prior, spec.names, "spec")
        self.ess = float(ess)
        self.n_param_draws = positive_int(n_param_draws, "n_param_draws")
        self.seed = positive_int(seed, "seed", minimum=0)
        values, iv = self.data.values, self.data.intervened
        self.local: Any
        if spec.discrete:
            codes = _category_codes(values, spec)
            arities = np.array([len(c) for c in spec.categories], dtype=np.int64)  # type: ignore[union-attr]
            self.local = (
                InterventionalBDeuScore(codes, iv, arities, self.ess)
                if iv.any()
                else BDeuScore(codes, arities, self.ess)
            )
        else:
            self.local = InterventionalBGeScore(values, iv) if iv.any() else BGeScore(values)
        self.score = StructureScore(self.local, self.prior)
        self.points: list[LinearGaussianTheories] = list(_points)
        self._harm_cache: dict[Any, Any] = {}

    # ------------------------------------------------------------------ identity
    #: posteriors over plain graphs (the structure samplers' family) are this family's theories too
    posterior_families = ("causal-dag",)

    @property
    def name(self) -> str:
        kind = "discrete" if self.spec.discrete else "linear-gaussian"
        return f"causal-{kind}:" + ",".join(self.spec.names)

    @property
    def n_actions(self) -> int:
        return self.spec.n_actions

    @property
    def d(self) -> int:
        return self.spec.d

    # ------------------------------------------------------------------ encoding
    def as_theories(self, theories: Any) -> np.ndarray:
        """Canonical theories ``(n, d*d + 1)`` int8 from graphs ``(n, d, d)`` or canonical theories."""
        t = np.asarray(theories)
        d = self.d
        if t.ndim == 3 and t.shape[1:] == (d, d):
            adj = t.astype(bool)
            point = np.full((t.shape[0], 1), -1, dtype=np.int8)
            out = np.concatenate([adj.reshape(t.shape[0], -1).astype(np.int8), point], axis=1)
        elif t.ndim == 2 and t.shape[1] == d * d + 1:
            out = t.astype(np.int8)
        else:
            raise ValueError(
                f"theories: expected graphs (n, {d}, {d}) or theories (n, {d * d + 1}), got {t.shape}"
            )
        adj = out[:, : d * d].reshape(-1, d, d)
        if np.any((adj != 0) & (adj != 1)) or not is_acyclic(adj.astype(bool)).all():
            raise ValueError("theories: every graph must be a 0/1 adjacency matrix without cycles")
        pid = out[:, -1]
        if np.any((pid < -1) | (pid >= len(self.points))):
            raise ValueError(f"theories: point ids must be -1 or below {len(self.points)}")
        return out

    def adjacency(self, theories: np.ndarray) -> np.ndarray:
        """``(n, d, d)`` bool graphs of canonical theories."""
        d = self.d
        return np.asarray(theories)[:, : d * d].reshape(-1, d, d).astype(bool)

    def point_ids(self, theories: np.ndarray) -> np.ndarray:
        """``(n,)`` point id of each theory (``-1``: a graph with integrated parameters)."""
        return np.asarray(theories)[:, -1].astype(np.int64)

    def keys(self, theories: np.ndarray) -> np.ndarray:
        """``(n,)`` hashable, sortable keys: equal keys mean the same theory."""
        t = np.ascontiguousarray(np.asarray(theories, dtype=np.int8))
        if t.shape[0] == 0:
            return np.zeros(0, dtype=f"S{t.shape[1]}")
        return t.view(f"S{t.shape[1]}").ravel()

    def human(self, theory: HumanTheory) -> np.ndarray:
        """A person's theory as one canonical theory ``(1, d*d + 1)`` (a full SCM becomes a point)."""
        if not isinstance(theory, HumanTheory):
            raise TypeError(f"theory: expected a HumanTheory, got {type(theory).__name__}")
        adj = theory.graph(self.spec.names)[None]
        if not theory.has_parameters:
            return self.as_theories(adj)
        if self.spec.discrete:
            raise ValueError(
                f"human theory {theory.name!r}: a discrete family takes people's graphs; "
                "drop the coefficients"
            )
        if len(self.points) >= 127:
            raise ValueError("human theories: at most 127 full SCMs per family")
        self.points.append(theory.parameters(self.spec.names))
        out = self.as_theories(adj)
        out[:, -1] = len(self.points) - 1
        return out

    # ------------------------------------------------------------------ the TheoryFamily protocol
    def log_prior(self, theories: np.ndarray) -> np.ndarray:
        """Structure log prior of each theory's graph: ``(n,)``."""
        return self.prior.log_prior(self.adjacency(self.as_theories(theories)))

    def log_score(self, theories: np.ndarray) -> np.ndarray:
        """Exact unnormalised log posterior given the data so far: ``(n,)``.

        A graph: ``log p(G) + log p(D | G)`` (parameters integrated out). A point theory:
        ``log p(G) + log p(D | G, parameters)`` (the evidence of a model whose parameter prior is a point
        mass at the given values).
        """
        th = self.as_theories(theories)
        adj, pid = self.adjacency(th), self.point_ids(th)
        out = np.empty(th.shape[0])
        graph = pid < 0
        if graph.any():
            out[graph] = self.score.log_posterior(adj[graph])
        for k in np.unique(pid[~graph]):  # a few people's SCMs
            pt = self.points[int(k)]
            ll = log_likelihood(pt, self.data.values, self.data.intervened)[0]
            out[pid == k] = self.prior.log_prior(pt.adj)[0] + ll
        return out

    def conditioned(self, data: Any) -> CausalFamily:
        """The family after the rows ``data`` (observational or experimental) join the data."""
        new = as_causal_data(data, self.spec)
        both = CausalData(
            np.vstack([self.data.values, new.values]), np.vstack([self.data.intervened, new.intervened])
        )
        return CausalFamily(
            self.spec,
            both,
            self.prior,
            ess=self.ess,
            n_param_draws=self.n_param_draws,
            seed=self.seed,
            _points=self.points,
        )

    def log_likelihood(self, theories: np.ndarray, data: Any) -> np.ndarray:
        """``log p(data | theory, data so far)``: the change of :meth:`log_score` when ``data`` joins."""
        return self.conditioned(data).log_score(theories) - self.log_score(theories)

    def harm_prob(self, theories: np.ndarray, context: Any = None, action: int | None = None) -> np.ndarray:
        """``P(harm | context, do(action), theory, D)``: ``(n, n_actions)`` (or ``(n,)`` for one action)."""
        from ..._validate import action_index
        from .graph_harm import harm_model

        model = harm_model(self, self.as_theories(theories))
        if action is None:
            return model.harm(context)
        return model.harm(context, [action_index(action, self.n_actions)])[:, 0]

    def describe(self, theory: np.ndarray) -> str:
        """The graph's edges, e.g. ``{valve->pressure, ambient->pressure}``; a point theory also shows
        its equations."""
        th = self.as_theories(np.asarray(theory)[None] if np.asarray(theory).ndim < 2 else theory)[:1]
        adj, pid = self.adjacency(th)[0], int(self.point_ids(th)[0])
        names = self.spec.names
        edges = [f"{names[i]}->{names[j]}" for i, j in zip(*np.nonzero(adj), strict=True)]
        text = "{" + ", ".join(edges) + "}" if edges else "{no edges}"
        if pid >= 0:
            text += " with " + self.points[pid].describe(0)
        return text

    # ------------------------------------------------------------------ capabilities the guard uses
    #: linear-Gaussian graph harm averages parameter draws (not exact); discrete graph harm is exact
    @property
    def harm_exact(self) -> bool:
        return self.spec.discrete

    def harm_model(self, theories: np.ndarray) -> Any:
        """An object whose ``harm(context, actions=None)`` gives ``(n, n_actions)`` for these theories."""
        from .graph_harm import harm_model

        return harm_model(self, self.as_theories(theories))

    def predictive_model(self, theories: np.ndarray, rng: np.random.Generator) -> Any:
        """Like :meth:`harm_model`, with one independent parameter draw per row (unbiased Monte Carlo)."""
        from .graph_harm import predictive_model

        return predictive_model(self, self.as_theories(theories), rng)

    def information_gain(
        self,
        theories: np.ndarray,
        weights: np.ndarray,
        action: int,
        context: Any,
        rng: np.random.Generator,
        n_samples: int = 64,
    ) -> float:
        """Bits about which of ``theories`` holds, from one run of ``action`` in ``context``
        (``n_samples`` Monte Carlo draws per theory where there is no closed form)."""
        from .graph_harm import information_gain

        return information_gain(self, self.as_theories(theories), weights, action, context, rng, n_samples)

    def search(
        self,
        start: np.ndarray,
        context: Any,
        action: int,
        *,
        steps: int,
        beta: float,
        keep: int,
        seed: int,
    ) -> np.ndarray:
        """Harm-seeking search from the theories ``start`` on ``p(G | D) P(H | x, a, G, D)^beta``;
        returns the best ``keep`` distinct graphs met, as canonical theories."""
        from ...inference.harm_search import harm_seeking_search
        from .graph_harm import graph_harm

        result = harm_seeking_search(
            self.score.log_posterior,
            lambda g: graph_harm(self, g, context, action),
            self.adjacency(self.as_theories(start)),
            n_steps=steps,
            beta=beta,
            keep=keep,
            seed=seed,
        )
        return self.as_theories(result.graphs)

    def move(self, theories: np.ndarray, steps: int, seed: int) -> np.ndarray:
        """Each theory's graph moved by ``steps`` structure-MCMC steps that leave this family's posterior
        invariant (the SMC move); people's SCMs are kept as they are."""
        from ...inference.smc import move_particles

        th = self.as_theories(theories)
        graph = self.point_ids(th) < 0
        if not graph.any():
            return th
        moved = move_particles(self.score, self.adjacency(th[graph]), steps, seed)
        out = th.copy()
        out[graph] = self.as_theories(moved)
        return out

    def explain(self, theories: np.ndarray, weights: np.ndarray, witness: int, action: int) -> str:
        """The witness theory's causal paths from what ``action`` sets to the harm variable, each edge
        with its probability under ``weights`` ``(n,)`` over ``theories``."""
        from ...graphs.markov import edge_marginals
        from ...guard.explain import explain_paths

        th = np.asarray(theories)
        if not (th.ndim == 2 and th.dtype == np.int8 and th.shape[1] == self.d * self.d + 1):
            th = self.as_theories(th)  # canonical theories (a guard's posterior) were checked when made
        adj = self.adjacency(th)
        return explain_paths(
            adj[witness],
            self.spec.names,
            list(self.spec.actions[action]),
            self.spec.harm.variable,
            edge_marginals(adj, weights),
        )

    def __repr__(self) -> str:
        return f"CausalFamily({self.name}, N={self.data.values.shape[0]}, points={len(self.points)})"
