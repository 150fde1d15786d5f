"""Decomposable Bayesian scores of DAGs and a cache of local scores.

Every score here is a log marginal likelihood that splits over the nodes of a DAG ``G``:

    log p(D | G) = sum_j local(j, pa_j),      local(j, pa) = log p(D_j | D_pa, G)

with the parent set ``pa`` of node ``j`` written as an ``int64`` bitmask ``sum_{i in pa} 1 << i``.

- :class:`BGeScore`: continuous data, Gaussian DAG models with a Normal-Wishart parameter prior
  (Geiger & Heckerman 2002, "Parameter priors for directed acyclic graphical models and the
  characterization of several probability distributions", Ann. Stat. 30(5)), in the corrected form and
  parametrisation of Kuipers, Moffa & Heckerman (2014, "Addendum on the scoring of Gaussian directed
  acyclic graphical models", Ann. Stat. 42(4)).
- :class:`BDeuScore`: categorical data, multinomial DAG models with the likelihood-equivalent uniform
  Dirichlet prior (Buntine 1991; Heckerman, Geiger & Chickering 1995, "Learning Bayesian networks: the
  combination of knowledge and statistical data", Mach. Learn. 20).
- :class:`ScoreCache`: memoises ``local(node, mask)`` and scores batches of graphs ``(n, d, d)`` with
  array operations, sending only the ``(node, mask)`` pairs it has not seen to the scorer, in one call.

Both scores are *score equivalent*: Markov-equivalent DAGs (same skeleton and v-structures) get the same
``log p(D | G)``.

Shapes: ``N`` rows of data, ``d`` variables, ``m`` (node, mask) pairs, ``n`` graphs.
"""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.special import gammaln

from bayesguard._validate import as_float_array

__all__ = ["BDeuScore", "BGeScore", "LocalScore", "ScoreCache"]

_MAX_D = 62  # masks are int64 bitmasks
_LOG_PI = math.log(math.pi)


@runtime_checkable
class LocalScore(Protocol):
    """A decomposable score: what :class:`ScoreCache` needs from a scorer."""

    d: int

    def local(self, node: int, parent_mask: int) -> float:
        """``log p(D_node | D_pa)`` for the parent set encoded by ``parent_mask``."""
        ...

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Local scores of ``m`` pairs: ``nodes (m,) int64``, ``masks (m,) int64`` -> ``(m,) float64``."""
        ...


# --------------------------------------------------------------------------------------------------
# shared checks and helpers


def _positive_float(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{field}: expected a number > 0, got {type(value).__name__}")
    x = float(value)
    if not (math.isfinite(x) and x > 0.0):
        raise ValueError(f"{field}: expected a finite number > 0, got {value!r}")
    return x


def _check_rows(n_rows: int, d: int) -> None:
    if n_rows < 2:
        raise ValueError(f"data: expected at least 2 rows (shape (N, d) with N >= 2), got {n_rows}")
    if d < 1:
        raise ValueError("data: expected at least 1 column (shape (N, d) with d >= 1), got 0")
    if d > _MAX_D:
        raise ValueError(f"data: at most {_MAX_D} columns are supported (int64 parent masks), got {d}")


def _as_index_array(value: object, field: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ValueError(f"{field}: expected a 1-d integer array, got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise TypeError(f"{field}: expected integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_pairs(nodes: object, masks: object, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``(m,)`` node indices and ``(m,)`` parent masks of a ``d``-variable problem."""
    nodes_arr = _as_index_array(nodes, "nodes")
    masks_arr = _as_index_array(masks, "masks")
    if nodes_arr.shape != masks_arr.shape:
        raise ValueError(
            f"masks: expected the same shape as nodes {nodes_arr.shape}, got shape {masks_arr.shape}"
        )
    if nodes_arr.size:
        bad = (nodes_arr < 0) | (nodes_arr >= d)
        if bad.any():
            raise ValueError(f"nodes: expected node indices in [0, {d - 1}], got {nodes_arr[bad][0]}")
        bad = (masks_arr < 0) | (masks_arr >= (1 << d))
        if bad.any():
            raise ValueError(f"masks: expected parent bitmasks in [0, 2**{d}), got {masks_arr[bad][0]}")
        bad = ((masks_arr >> nodes_arr) & 1).astype(bool)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"masks: parent mask {masks_arr[i]} of node {nodes_arr[i]} contains the node itself"
            )
    return nodes_arr, masks_arr


def _check_one(node: object, parent_mask: object, d: int) -> tuple[int, int]:
    for field, v in (("node", node), ("parent_mask", parent_mask)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer):
            raise TypeError(f"{field}: expected an integer, got {type(v).__name__}")
    node_i, mask_i = int(node), int(parent_mask)  # type: ignore[call-overload]
    if not 0 <= node_i < d:
        raise ValueError(f"node: expected a node index in [0, {d - 1}], got {node_i}")
    if not 0 <= mask_i < (1 << d):
        raise ValueError(f"parent_mask: expected a bitmask in [0, 2**{d}), got {mask_i}")
    if (mask_i >> node_i) & 1:
        raise ValueError(f"parent_mask: mask {mask_i} of node {node_i} contains the node itself")
    return node_i, mask_i


def _mask_bits(masks: np.ndarray, d: int) -> np.ndarray:
    """``(m,) int64`` masks -> ``(m, d) bool`` membership."""
    return ((masks[:, None] >> np.arange(d, dtype=np.int64)) & 1).astype(bool)


def _parent_masks(adj: object, d: int | None = None, field: str = "adj") -> np.ndarray:
    """Parent bitmasks of a batch of graphs: ``adj (n, d, d) bool`` -> ``(n, d) int64``.

    ``out[g, j] = sum_i adj[g, i, j] << i``. Entries must be booleans or 0/1 and the diagonal must be
    empty; acyclicity is not checked here.
    """
    arr = np.asarray(adj)
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or (d is not None and arr.shape[1] != d):
        want = f"(n, {d}, {d})" if d is not None else "(n, d, d)"
        raise ValueError(f"{field}: expected a boolean array of shape {want}, got shape {arr.shape}")
    if arr.dtype != np.bool_:
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise TypeError(f"{field}: expected booleans or 0/1, got dtype {arr.dtype}")
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{field}: expected booleans or 0/1 entries")
        arr = arr.astype(bool)
    k = arr.shape[1]
    if k > _MAX_D:
        raise ValueError(f"{field}: at most {_MAX_D} nodes are supported (int64 parent masks), got {k}")
    if arr.size and arr[:, np.arange(k), np.arange(k)].any():
        raise ValueError(f"{field}: self-loops on the diagonal are not allowed")
    weights = np.left_shift(np.int64(1), np.arange(k, dtype=np.int64))
    return np.einsum("gij,i->gj", arr.astype(np.int64), weights)


# --------------------------------------------------------------------------------------------------
# BGe


def _log_multigamma(a: float, p: int) -> float:
    """``log Gamma_p(a) = p(p-1)/4 log(pi) + sum_{i=1..p} log Gamma(a + (1 - i)/2)``."""
    return p * (p - 1) / 4.0 * _LOG_PI + float(np.sum(gammaln(a + (1.0 - np.arange(1, p + 1)) / 2.0)))


class BGeScore:
    """BGe score: the marginal likelihood of Gaussian DAG models under a Normal-Wishart prior.

    Model (Geiger & Heckerman 2002; Kuipers, Moffa & Heckerman 2014): rows ``x ~ N(mu, W^{-1})`` with
    ``mu | W ~ N(mu0, (alpha_mu W)^{-1})`` and ``W ~ Wishart(alpha_w, T^{-1})``, ``T = t I`` and

        t = alpha_mu (alpha_w - d - 1) / (alpha_mu + 1)

    (so that the prior expected covariance is the identity). With the sample mean ``xbar`` and scatter
    ``S_N = sum_i (x_i - xbar)(x_i - xbar)^T`` the posterior scale matrix is

        R = T + S_N + N alpha_mu / (N + alpha_mu) (xbar - mu0)(xbar - mu0)^T            (d, d)

    and the marginal likelihood of the ``l`` variables of a set ``Y`` is (Kuipers et al. 2014, eq. (2))

        p(D_Y) = (alpha_mu / (N + alpha_mu))^{l/2} pi^{-l N / 2}
                 Gamma_l((N + alpha_w - d + l)/2) / Gamma_l((alpha_w - d + l)/2)
                 det(T_YY)^{(alpha_w - d + l)/2} / det(R_YY)^{(N + alpha_w - d + l)/2},

    with ``Gamma_l`` the multivariate gamma function and ``p(D_{})`` = 1. The local score is

        local(j, pa) = log p(D_{pa u {j}}) - log p(D_pa).

    Args:
        data: ``(N, d)`` float, ``N >= 2``, finite, no constant column.
        alpha_mu: prior pseudo-count of the mean, ``> 0``.
        alpha_w: Wishart degrees of freedom, ``> d + 1``; default ``d + 2``.
        mu0: ``(d,)`` prior mean; default zeros.
    """

    def __init__(
        self,
        data: np.ndarray,
        alpha_mu: float = 1.0,
        alpha_w: float | None = None,
        mu0: np.ndarray | None = None,
    ) -> None:
        x = as_float_array(data, "data", ndim=2)
        n_rows, d = x.shape
        _check_rows(n_rows, d)
        const = np.flatnonzero(np.ptp(x, axis=0) == 0.0)
        if const.size:
            raise ValueError(
                f"data: column {int(const[0])} is constant; BGe needs every column to vary "
                "(drop it or add it as a known constant)"
            )
        self.alpha_mu = _positive_float(alpha_mu, "alpha_mu")
        if alpha_w is None:
            alpha_w = d + 2.0
        if isinstance(alpha_w, bool) or not isinstance(alpha_w, int | float | np.integer | np.floating):
            raise TypeError(f"alpha_w: expected a number > d + 1 = {d + 1}, got {type(alpha_w).__name__}")
        if not (math.isfinite(float(alpha_w)) and float(alpha_w) > d + 1):
            raise ValueError(f"alpha_w: expected a number > d + 1 = {d + 1}, got {alpha_w!r}")
        self.alpha_w = float(alpha_w)
        if mu0 is None:
            self.mu0 = np.zeros(d)
        else:
            self.mu0 = as_float_array(mu0, "mu0", ndim=1)
            if self.mu0.shape != (d,):
                raise ValueError(f"mu0: expected shape ({d},), got {self.mu0.shape}")
        self.d = d
        self.n_rows = n_rows
        self.t = self.alpha_mu * (self.alpha_w - d - 1) / (self.alpha_mu + 1)

        xbar = x.mean(axis=0)
        self.xbar = xbar  # (d,) sample mean, for the parameter posterior
        centred = x - xbar
        diff = xbar - self.mu0
        scatter = centred.T @ centred
        self.R = (
            self.t * np.eye(d)
            + scatter
            + (n_rows * self.alpha_mu / (n_rows + self.alpha_mu)) * np.outer(diff, diff)
        )  # (d, d)
        # Everything in log p(D_Y) except the log-determinant of R_YY, per set size l = 0..d.
        self._const = np.zeros(d + 1)
        self._power = np.zeros(d + 1)  # exponent of det(R_YY)
        for ell in range(1, d + 1):
            a0 = (self.alpha_w - d + ell) / 2.0
            an = (n_rows + self.alpha_w - d + ell) / 2.0
            self._const[ell] = (
                ell / 2.0 * math.log(self.alpha_mu / (n_rows + self.alpha_mu))
                - ell * n_rows / 2.0 * _LOG_PI
                + _log_multigamma(an, ell)
                - _log_multigamma(a0, ell)
                + a0 * ell * math.log(self.t)
            )
            self._power[ell] = an

    def log_marginal_sets(self, set_masks: np.ndarray) -> np.ndarray:
        """``log p(D_Y)`` for ``(m,) int64`` variable-set bitmasks; the empty set gives 0. -> ``(m,)``."""
        masks = _as_index_array(set_masks, "set_masks")
        if masks.size and ((masks < 0) | (masks >= (1 << self.d))).any():
            raise ValueError(f"set_masks: expected bitmasks in [0, 2**{self.d})")
        out = np.zeros(masks.shape[0])
        bits = _mask_bits(masks, self.d)
        sizes = bits.sum(axis=1)
        for ell in np.unique(sizes):
            if ell == 0:
                continue
            rows = np.flatnonzero(sizes == ell)
            idx = np.argsort(~bits[rows], axis=1, kind="stable")[:, :ell]  # members, ascending
            sub = self.R[idx[:, :, None], idx[:, None, :]]  # (m_l, l, l)
            _, logdet = np.linalg.slogdet(sub)
            out[rows] = self._const[ell] - self._power[ell] * logdet
        return out

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Local scores ``log p(D_j | D_pa)``: ``nodes (m,)``, ``masks (m,)`` int64 -> ``(m,)`` float64."""
        nodes_arr, masks_arr = _check_pairs(nodes, masks, self.d)
        family = masks_arr | (np.int64(1) << nodes_arr)
        sets, inverse = np.unique(np.concatenate([family, masks_arr]), return_inverse=True)
        logp = self.log_marginal_sets(sets)[inverse.ravel()]
        m = nodes_arr.shape[0]
        return logp[:m] - logp[m:]

    def local(self, node: int, parent_mask: int) -> float:
        """Local score ``log p(D_node | D_pa)`` of one node and parent bitmask."""
        node_i, mask_i = _check_one(node, parent_mask, self.d)
        return float(self.local_many(np.array([node_i]), np.array([mask_i]))[0])

    def __repr__(self) -> str:
        return (
            f"BGeScore(N={self.n_rows}, d={self.d}, alpha_mu={self.alpha_mu:g}, alpha_w={self.alpha_w:g}, "
            f"t={self.t:g})"
        )


# --------------------------------------------------------------------------------------------------
# BDeu


def _run_counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of the distinct values in each column of ``codes (N, m)``.

    Returns ``owner (k,)`` (the column of each distinct value) and ``counts (k,)``, over all columns.
    """
    n_rows = codes.shape[0]
    s = np.sort(codes, axis=0).T  # (m, N), each row sorted
    new = np.ones(s.shape, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    starts = np.flatnonzero(new.ravel())
    counts = np.diff(np.append(starts, s.size))
    return starts // n_rows, counts


_ARITIES_FORM = "(d,) number of categories per variable, counting states that never occur"


def _check_arities(arities: object, codes: np.ndarray) -> np.ndarray:
    """Validate the declared arities of ``codes (N, d) int64 >= 0``: ``(d,)`` integers ``>= 1`` above every
    code of their column. -> ``(d,) int64``."""
    d = codes.shape[1]
    if arities is None:
        raise TypeError(
            f"arities: required, expected {_ARITIES_FORM} (here d = {d}); BDeu counts every declared "
            "state, so the arities cannot be inferred from the largest code seen (pass e.g. table.arities "
            "from validate_table(..., kind='discrete'), or [len(c) for c in categories])"
        )
    arr = np.asarray(arities)
    if arr.dtype == np.bool_ or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"arities: expected integers, {_ARITIES_FORM}; got dtype {arr.dtype}")
    if arr.shape != (d,):
        raise ValueError(f"arities: expected shape ({d},), {_ARITIES_FORM}; got shape {arr.shape}")
    arity = arr.astype(np.int64)
    if (arity < 1).any():
        j = int(np.flatnonzero(arity < 1)[0])
        raise ValueError(f"arities: expected integers >= 1, got {int(arity[j])} for column {j}")
    observed = codes.max(axis=0) + 1
    bad = np.flatnonzero(observed > arity)
    if bad.size:
        j = int(bad[0])
        raise ValueError(
            f"arities: column {j} has code {int(observed[j] - 1)} but arity {int(arity[j])} "
            f"(codes must lie in 0..arity - 1)"
        )
    return arity


class BDeuScore:
    """BDeu score: the marginal likelihood of categorical DAG models under the uniform BDe prior.

    Node ``j`` has ``r_j`` states; its parent set ``pa`` has ``q = prod_{i in pa} r_i`` configurations.
    With equivalent sample size ``ess`` the Dirichlet prior of ``P(x_j | pa = c)`` has all parameters
    ``ess / (q r_j)``, and with counts ``N_ck`` (rows with parents in configuration ``c`` and
    ``x_j = k``), ``N_c = sum_k N_ck`` (Heckerman, Geiger & Chickering 1995, eq. (28); Buntine 1991):

        local(j, pa) = sum_c [ log Gamma(ess/q) - log Gamma(ess/q + N_c)
                               + sum_k ( log Gamma(ess/(q r_j) + N_ck) - log Gamma(ess/(q r_j)) ) ].

    Terms with ``N_c = 0`` or ``N_ck = 0`` are exactly zero, so only observed configurations are counted;
    counting is vectorised over rows (mixed-radix codes, sorted run lengths).

    ``r_j`` is the number of *declared* states of variable ``j``, seen in the data or not: the prior
    spreads ``ess`` over all ``q r_j`` cells, so a state that never occurs still changes the score, while
    the score does not depend on which code an unseen state gets (relabelling the states of a variable
    leaves it unchanged). The arities are therefore required; they are never guessed from the largest
    code seen. A variable with a single declared state (``r_j = 1``) is allowed: its local score is 0 and
    as a parent it does not split the rows.

    Args:
        data: ``(N, d)`` integer codes (or integral floats / booleans), column ``j`` in ``0..r_j - 1``;
            ``N >= 2``.
        arities: ``(d,)`` integers ``r_j >= 1``, the number of categories of each variable, counting states
            that never occur (e.g. ``table.arities`` of :func:`~.data.validate_table`). Required.
        ess: equivalent sample size, ``> 0``.

    Raises:
        TypeError: ``arities`` missing (None) or not integers.
        ValueError: bad shapes or values, or a code ``>= r_j``; messages name the argument.
    """

    def __init__(self, data: np.ndarray, arities: np.ndarray | None = None, ess: float = 1.0) -> None:
        arr = np.asarray(data)
        if arr.ndim != 2:
            raise ValueError(f"data: expected a 2-d array of integer codes (N, d), got shape {arr.shape}")
        n_rows, d = arr.shape
        _check_rows(n_rows, d)
        if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
            codes = arr.astype(np.int64)
        elif np.issubdtype(arr.dtype, np.floating):
            if not np.all(np.isfinite(arr)):
                raise ValueError("data: contains NaN or infinite values; expected integer codes")
            if not np.all(arr == np.round(arr)):
                raise ValueError("data: expected integer category codes, found non-integer values")
            codes = arr.astype(np.int64)
        else:
            raise TypeError(f"data: expected integer category codes, got dtype {arr.dtype}")
        if (codes < 0).any():
            col = int(np.flatnonzero((codes < 0).any(axis=0))[0])
            raise ValueError(f"data: category codes must be >= 0, column {col} has a negative code")
        arity = _check_arities(arities, codes)
        self.ess = _positive_float(ess, "ess")
        self.codes = codes  # (N, d) int64
        self.arities = arity.astype(np.int64)  # (d,)
        self.d = d
        self.n_rows = n_rows
        self._log2_arity = np.log2(self.arities.astype(np.float64))

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Local scores ``log p(D_j | D_pa)``: ``nodes (m,)``, ``masks (m,)`` int64 -> ``(m,)`` float64."""
        nodes_arr, masks_arr = _check_pairs(nodes, masks, self.d)
        m = nodes_arr.shape[0]
        out = np.empty(m)
        if m == 0:
            return out
        bits = _mask_bits(masks_arr, self.d)
        # Mixed-radix codes of the family fit in int64 when prod(arities) < 2**62.
        fits = (bits @ self._log2_arity + self._log2_arity[nodes_arr]) < 62.0
        fast = np.flatnonzero(fits)
        chunk = max(1, (1 << 22) // self.n_rows)
        for start in range(0, fast.size, chunk):
            sel = fast[start : start + chunk]
            out[sel] = self._score_radix(nodes_arr[sel], bits[sel])
        for i in np.flatnonzero(~fits):  # astronomically many configurations: compress observed ones
            out[i] = self._score_unique(int(nodes_arr[i]), bits[i])
        return out

    def _terms(
        self, pa_codes: np.ndarray, fam_codes: np.ndarray, log_q: np.ndarray, r: np.ndarray
    ) -> np.ndarray:
        """Sum of the BDeu terms for columns of ``pa_codes``/``fam_codes (N, m)``; ``log_q, r (m,)``."""
        m = pa_codes.shape[1]
        a_c = np.exp(math.log(self.ess) - log_q)  # ess / q
        a_ck = a_c / r  # ess / (q r)
        owner, counts = _run_counts(pa_codes)
        a = a_c[owner]
        score = np.bincount(owner, weights=gammaln(a) - gammaln(a + counts), minlength=m)
        owner, counts = _run_counts(fam_codes)
        a = a_ck[owner]
        score += np.bincount(owner, weights=gammaln(a + counts) - gammaln(a), minlength=m)
        return score

    def _score_radix(self, nodes: np.ndarray, bits: np.ndarray) -> np.ndarray:
        radix = np.where(bits, self.arities, 1)  # (m, d)
        cum = np.cumprod(radix, axis=1)
        weights = np.where(bits, cum // radix, 0)  # place value of each parent
        pa_codes = self.codes @ weights.T  # (N, m)
        r = self.arities[nodes]
        fam_codes = pa_codes * r + self.codes[:, nodes]
        log_q = np.log(radix.astype(np.float64)).sum(axis=1)
        return self._terms(pa_codes, fam_codes, log_q, r.astype(np.float64))

    def _score_unique(self, node: int, bits: np.ndarray) -> float:
        _, inv = np.unique(self.codes[:, bits], axis=0, return_inverse=True)
        pa_codes = inv.reshape(-1, 1).astype(np.int64)
        r = int(self.arities[node])
        fam_codes = pa_codes * r + self.codes[:, [node]]
        log_q = np.array([np.log(self.arities[bits].astype(np.float64)).sum()])
        return float(self._terms(pa_codes, fam_codes, log_q, np.array([float(r)]))[0])

    def local(self, node: int, parent_mask: int) -> float:
        """Local score ``log p(D_node | D_pa)`` of one node and parent bitmask."""
        node_i, mask_i = _check_one(node, parent_mask, self.d)
        return float(self.local_many(np.array([node_i]), np.array([mask_i]))[0])

    def __repr__(self) -> str:
        return f"BDeuScore(N={self.n_rows}, d={self.d}, arities={self.arities.tolist()}, ess={self.ess:g})"


# --------------------------------------------------------------------------------------------------
# cache


class ScoreCache:
    """Memoised local scores of one scorer, and batched whole-graph scores.

    The cache is one ``dict`` per node, ``mask -> local score``. :meth:`graph_scores` turns a batch of
    graphs into ``(n, d)`` parent masks with array operations, looks up the distinct ``(node, mask)``
    pairs, sends the missing ones to ``scorer.local_many`` in a single call, and gathers.

    Attributes:
        scorer: the wrapped :class:`LocalScore`.
        n_scored: number of ``(node, mask)`` pairs computed by the scorer so far.
        n_scorer_calls: number of calls made to ``scorer.local_many``.
    """

    def __init__(self, scorer: LocalScore) -> None:
        if not (hasattr(scorer, "local_many") and hasattr(scorer, "d")):
            raise TypeError(
                f"scorer: expected a LocalScore (with d and local_many), got {type(scorer).__name__}"
            )
        self.scorer = scorer
        self.d: int = int(scorer.d)
        self._tables: list[dict[int, float]] = [{} for _ in range(self.d)]
        self.n_scored = 0
        self.n_scorer_calls = 0

    def __len__(self) -> int:
        return sum(len(t) for t in self._tables)

    def clear(self) -> None:
        """Forget every cached score (the counters are kept)."""
        for t in self._tables:
            t.clear()

    def _lookup(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Scores of validated ``(m,)`` pairs, deduplicated, with missing ones scored in one call."""
        if nodes.size == 0:
            return np.empty(0)
        if self.d <= 57:
            keys, inverse = np.unique((masks << 6) | nodes, return_inverse=True)
            u_nodes, u_masks = keys & 63, keys >> 6
        else:
            pairs, inverse = np.unique(np.stack([nodes, masks], axis=1), axis=0, return_inverse=True)
            u_nodes, u_masks = pairs[:, 0], pairs[:, 1]
        values = np.empty(u_nodes.shape[0])
        missing: list[int] = []
        tables = self._tables
        for i, (node, mask) in enumerate(zip(u_nodes.tolist(), u_masks.tolist(), strict=True)):
            v = tables[node].get(mask)
            if v is None:
                missing.append(i)
            else:
                values[i] = v
        if missing:
            miss = np.asarray(missing, dtype=np.int64)
            new = np.asarray(self.scorer.local_many(u_nodes[miss], u_masks[miss]), dtype=np.float64)
            self.n_scorer_calls += 1
            self.n_scored += miss.size
            values[miss] = new
            for node, mask, v in zip(
                u_nodes[miss].tolist(), u_masks[miss].tolist(), new.tolist(), strict=True
            ):
                tables[node][mask] = v
        return values[inverse.ravel()]

    def local(self, node: int, parent_mask: int) -> float:
        """Cached ``log p(D_node | D_pa)``."""
        node_i, mask_i = _check_one(node, parent_mask, self.d)
        v = self._tables[node_i].get(mask_i)
        if v is None:
            v = float(self.scorer.local_many(np.array([node_i]), np.array([mask_i]))[0])
            self.n_scorer_calls += 1
            self.n_scored += 1
            self._tables[node_i][mask_i] = v
        return v

    def local_many(self, nodes: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Cached local scores: ``nodes (m,)``, ``masks (m,)`` int64 -> ``(m,)`` float64."""
        nodes_arr, masks_arr = _check_pairs(nodes, masks, self.d)
        return self._lookup(nodes_arr, masks_arr)

    def local_table(self, node: int, masks: np.ndarray) -> np.ndarray:
        """Cached local scores of one node for many parent sets: ``masks (m,)`` int64 -> ``(m,)``."""
        node_i, _ = _check_one(node, 0, self.d)
        masks_arr = _as_index_array(masks, "masks")
        nodes_arr, masks_arr = _check_pairs(
            np.full(masks_arr.shape, node_i, dtype=np.int64), masks_arr, self.d
        )
        return self._lookup(nodes_arr, masks_arr)

    def graph_scores(self, adj: np.ndarray) -> np.ndarray:
        """``log p(D | G)`` of a batch of graphs: ``adj (n, d, d) bool`` -> ``(n,)`` float64.

        The graphs are assumed acyclic (not checked); the diagonal must be empty.
        """
        masks = _parent_masks(adj, self.d)  # (n, d)
        n = masks.shape[0]
        nodes = np.broadcast_to(np.arange(self.d, dtype=np.int64), masks.shape)
        local = self._lookup(nodes.ravel(), masks.ravel())
        return local.reshape(n, self.d).sum(axis=1)

    def graph_score(self, adj: np.ndarray) -> float:
        """``log p(D | G)`` of one graph ``adj (d, d) bool``."""
        arr = np.asarray(adj)
        if arr.ndim != 2:
            raise ValueError(
                f"adj: expected a boolean array of shape ({self.d}, {self.d}), got shape {arr.shape}"
            )
        return float(self.graph_scores(arr[None])[0])

    def __repr__(self) -> str:
        return f"ScoreCache({self.scorer!r}, cached={len(self)})"
