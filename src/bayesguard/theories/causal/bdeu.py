"""The BDeu score: categorical data, multinomial DAG models with the likelihood-equivalent uniform
Dirichlet prior (Buntine 1991; Heckerman, Geiger & Chickering 1995), counting every declared state.
Score equivalent; see :mod:`.scores` for the decomposition and shapes."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from .score_checks import _check_bits, _check_one, _check_pairs, _check_rows, _mask_bits, _positive_float


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
        return self._local(nodes_arr, _mask_bits(masks_arr, self.d))

    def local_bits(self, nodes: np.ndarray, parents: np.ndarray) -> np.ndarray:
        """Local scores of parent sets given as rows of a boolean matrix (any ``d``, no bitmasks):
        ``nodes (m,)``, ``parents (m, d) bool`` -> ``(m,)`` float64."""
        return self._local(*_check_bits(nodes, parents, self.d))

    def _local(self, nodes_arr: np.ndarray, bits: np.ndarray) -> np.ndarray:
        m = nodes_arr.shape[0]
        out = np.empty(m)
        if m == 0:
            return out
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
