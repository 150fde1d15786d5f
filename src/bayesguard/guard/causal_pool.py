"""The pool of causal theories the cautious rule looks at: distinct graphs (and people's full SCMs) with
their exact unnormalised posterior, the cautious set ``M_alpha`` over them, and the members' harm.

**Weights.** Every entry carries ``log p(G) + log p(D | G)`` (BGe, parameters integrated out), or for a
person's full SCM ``log p(G) + log p(D | G, params)``. Probabilities are these weights normalised over
the pool. With an enumerated posterior the pool is every DAG and the probabilities are exact. With a
sampled posterior the pool is the distinct sampled graphs plus whatever search and people add; the
normaliser then misses unvisited graphs, so every probability is over-stated by the same factor. The
membership test ``p(j) >= alpha * (p(1) + ... + p(j))`` does not depend on that factor, but the sum runs
only over pooled graphs more probable than ``j``, so a missing graph can only make the set *larger*:
the pool errs toward caution.

**Harm of a graph.** ``P(H | x, a, G, D)`` is averaged over ``n_param_draws`` draws from the graph's
BGe parameter posterior, made from the same standard variates for every graph (common random numbers),
so it is a fixed function of the graph (which the harm-seeking search needs).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ..graphs.keys import packed_keys
from ..graphs.markov import edge_marginals
from ..theories.causal.harm import HarmSpec
from ..theories.causal.harm_model import GaussianHarmModel
from ..theories.causal.linear_gaussian import (
    LinearGaussianTheories,
    intervened_moments,
    log_likelihood,
    parameter_noise,
    parameters_from_noise,
)
from ..theories.causal.scores import BGeScore
from ..theories.causal.structure import StructureScore
from .information import gaussian_eig
from .rules import cautious_members

SOURCES = ("posterior", "search", "human")


class PoolBase(ABC):
    """Graphs with exact unnormalised posterior weights and the cautious set over them.

    Subclasses give the members' harm (:meth:`member_harm`), the harm of arbitrary graphs
    (:meth:`graph_harm`, for the harm-seeking search) and the information an experiment gives about
    the members (:meth:`information_gain`).

    Args:
        spec: the harm question.
        score: the structure posterior (local score + prior) that weighs every graph.
        alpha: the cautious rule's alpha.
        max_members: at most this many of the most probable posterior members get a harm model
            (None: all of them).
    """

    def __init__(
        self, spec: HarmSpec, score: StructureScore, *, alpha: float, max_members: int | None
    ) -> None:
        self.spec, self.score = spec, score
        self.alpha, self.max_members = alpha, max_members
        d = spec.d
        self.graphs = np.zeros((0, d, d), dtype=bool)
        self.log_post = np.zeros(0)
        self.source: list[str] = []
        self.label: list[str] = []
        self._keys = packed_keys(np.zeros((0, d, d), dtype=bool))
        self._key_index = np.zeros(0, dtype=np.int64)
        self._sub_specs: dict[int, HarmSpec] = {}
        self.members = np.zeros(0, dtype=np.int64)
        self.member_probs = np.zeros(0)
        self.truncated = False

    # ------------------------------------------------------------------ building
    def add(self, graphs: np.ndarray, source: str, labels: list[str] | None = None) -> np.ndarray:
        """Add graphs ``(n, d, d)`` (duplicates are skipped); returns their pool indices ``(n,)``."""
        g = np.asarray(graphs, dtype=bool)
        keys = packed_keys(g)
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        old = self._keys.size
        _, first_all, inv_all = np.unique(
            np.concatenate([self._keys, uniq]), return_index=True, return_inverse=True
        )
        where = first_all[inv_all[old:]]  # first position of each distinct key among old + new keys
        is_new = where >= old
        start = len(self.source)
        known = np.append(self._key_index, -1)  # a sentinel, so that the lookup below is always in range
        pool_idx = np.where(is_new, start + np.cumsum(is_new) - 1, known[np.minimum(where, old)])
        if is_new.any():
            rows = first[is_new]  # the first input graph of each new key
            self.graphs = np.concatenate([self.graphs, g[rows]])
            self.log_post = np.concatenate([self.log_post, self.score.log_posterior(g[rows])])
            self.source += [source] * rows.size
            self.label += [labels[r] for r in rows] if labels else [source] * rows.size
            self._keys = np.concatenate([self._keys, uniq[is_new]])
            self._key_index = np.concatenate([self._key_index, pool_idx[is_new]])
        return pool_idx[inverse.ravel()]

    @property
    def probs(self) -> np.ndarray:
        """``(n_pool,)`` probabilities normalised over the pool."""
        lp = self.log_post - self.log_post.max()
        p = np.exp(lp)
        return p / p.sum()

    def refresh(self) -> None:
        """Recompute ``M_alpha`` and build the harm model of its members.

        With ``max_members`` set, only that many of the most probable posterior members get a harm model,
        plus every member that search or a person contributed (they are never dropped); ``truncated``
        then says so and verdicts report it.
        """
        p = self.probs
        idx = np.flatnonzero(cautious_members(p, self.alpha, ties="worst"))
        idx = idx[np.argsort(-p[idx], kind="stable")]
        self.truncated = False
        if self.max_members is not None and idx.size > self.max_members:
            special = np.array([self.source[i] != "posterior" for i in idx], dtype=bool)
            keep = special | (np.cumsum(~special) <= self.max_members)
            self.truncated = bool((~keep).any())
            idx = idx[keep]
        self.members = idx
        self.member_probs = p[self.members]
        self._build()

    @abstractmethod
    def _build(self) -> None:
        """Build the members' harm model (called by :meth:`refresh`)."""

    @abstractmethod
    def member_harm(self, x: np.ndarray, actions: list[int] | None = None) -> np.ndarray:
        """``(n_members, n_actions)`` harm of the members in context ``x`` (``actions``: those columns)."""

    @abstractmethod
    def graph_harm(self, graphs: np.ndarray, x: np.ndarray, action: int) -> np.ndarray:
        """Harm of arbitrary graphs ``(n, d, d)`` for one action: ``(n,)`` (a fixed function of the graph)."""

    @abstractmethod
    def information_gain(
        self, top: np.ndarray, weights: np.ndarray, action: int, x: np.ndarray, rng: np.random.Generator
    ) -> float:
        """Bits about which of the members ``top`` (positions in ``members``) holds, from one run of
        ``action``."""

    def sub_spec(self, action: int) -> HarmSpec:
        """The spec restricted to one action (cached)."""
        if action not in self._sub_specs:
            self._sub_specs[action] = self.spec.restrict(action)
        return self._sub_specs[action]

    def edge_probs(self) -> np.ndarray:
        """``(d, d)`` posterior edge probabilities over the pool."""
        return edge_marginals(self.graphs, self.probs)


class GraphPool(PoolBase):
    """The pool for linear-Gaussian theories: harm averaged over BGe parameter draws.

    Args:
        spec: the harm question.
        score: the structure posterior (BGe + prior) that weighs every graph.
        bge: the BGe score (parameter posterior of each graph).
        values: ``(N, d)`` the data, for the likelihood of people's full SCMs.
        intervened: ``(N, d)`` bool, cells set by experiments (not scored), or None.
        alpha: the cautious rule's alpha.
        n_param_draws: parameter draws per graph (common random numbers).
        max_members: at most this many of the most probable posterior members get a harm model
            (None: all of them).
        rng: generator for the common variates.
    """

    def __init__(
        self,
        spec: HarmSpec,
        score: StructureScore,
        bge: BGeScore,
        values: np.ndarray,
        intervened: np.ndarray | None = None,
        *,
        alpha: float,
        n_param_draws: int,
        max_members: int | None,
        rng: np.random.Generator,
    ) -> None:
        super().__init__(spec, score, alpha=alpha, max_members=max_members)
        self.bge, self.values, self.intervened = bge, values, intervened
        self.k = n_param_draws
        self.points: dict[int, LinearGaussianTheories] = {}  # pool index -> a person's full SCM
        self.gam, self.z = parameter_noise(bge, n_param_draws, rng)
        self.model: GaussianHarmModel | None = None

    def add_point(self, theory: LinearGaussianTheories, label: str) -> int:
        """Add a person's full SCM (one theory) as its own entry."""
        loglik = log_likelihood(theory, self.values, self.intervened)[0]
        lp = float(self.score.prior.log_prior(theory.adj)[0] + loglik)  # type: ignore[union-attr]
        idx = len(self.source)
        self.graphs = np.concatenate([self.graphs, theory.adj])
        self.log_post = np.append(self.log_post, lp)
        self.source.append("human")
        self.label.append(label)
        self.points[idx] = theory
        return idx

    def _build(self) -> None:
        self.model = GaussianHarmModel(self.spec, self._theories(self.members))

    def _theories(self, idx: np.ndarray, graphs: np.ndarray | None = None) -> LinearGaussianTheories:
        """``len(idx) * k`` theories: ``k`` parameter draws per entry (a full SCM is repeated)."""
        g = self.graphs[idx] if graphs is None else graphs
        k = self.k
        th = parameters_from_noise(
            self.bge,
            np.repeat(g, k, axis=0),
            np.tile(self.gam, (g.shape[0], 1)),
            np.tile(self.z, (g.shape[0], 1, 1)),
            self.spec.names,
        )
        if graphs is None:
            for i, pt in self.points.items():  # people's full SCMs keep their own parameters
                for pos in np.flatnonzero(idx == i):
                    sl = slice(pos * k, (pos + 1) * k)
                    th.weights[sl], th.intercept[sl], th.noise_var[sl] = (
                        pt.weights,
                        pt.intercept,
                        pt.noise_var,
                    )
        return th

    # ------------------------------------------------------------------ queries
    def member_harm(self, x: np.ndarray, actions: list[int] | None = None) -> np.ndarray:
        """``(n_members, n_actions)`` parameter-averaged harm of the members in context ``x``."""
        if self.model is None:
            raise RuntimeError("GraphPool: call refresh() before asking for the members' harm")
        h = self.model.harm(x)  # (m * k, A)
        h = h if actions is None else h[:, actions]
        return h.reshape(self.members.size, self.k, -1).mean(axis=1)

    def graph_harm(self, graphs: np.ndarray, x: np.ndarray, action: int) -> np.ndarray:
        """Parameter-averaged harm of arbitrary graphs ``(n, d, d)`` for one action: ``(n,)``."""
        th = self._theories(np.arange(graphs.shape[0]), graphs=graphs)
        h = GaussianHarmModel(self.sub_spec(action), th).harm(x)[:, 0]
        return h.reshape(graphs.shape[0], self.k).mean(axis=1)

    def moments(self, idx: np.ndarray, action: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean ``(n, k)`` and covariance ``(n, k, k)`` of the variables ``action`` does not set, one
        Gaussian per entry (moment-matched over its parameter draws), and their indices ``(k,)``."""
        th = self._theories(idx)
        mask, value = self.spec.do_arrays()
        free = np.flatnonzero(~mask[action])
        mean, cov = intervened_moments(th, mask[action], value[action], rows=free)
        n = idx.size
        mean = mean.reshape(n, self.k, -1)
        cov = cov.reshape(n, self.k, free.size, free.size)
        centred = mean - mean.mean(axis=1, keepdims=True)
        spread = np.einsum("nki,nkj->nij", centred, centred) / self.k
        return mean.mean(axis=1), cov.mean(axis=1) + spread, free

    def information_gain(
        self, top: np.ndarray, weights: np.ndarray, action: int, x: np.ndarray, rng: np.random.Generator
    ) -> float:
        """Bits about which of the members ``top`` (positions in ``members``) holds, from one run of
        ``action`` (its outcome moment-matched to a Gaussian per member; the context is not used)."""
        mean, cov, _ = self.moments(self.members[top], action)
        return gaussian_eig(weights, mean, cov, n_samples=64, rng=int(rng.integers(2**31)))
