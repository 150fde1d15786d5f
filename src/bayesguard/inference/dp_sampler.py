"""Posteriors over DAGs from the exact dynamic programmes, and the link from any sampled posterior to the
exact answer: its error measured against the DP.

- :func:`dp_posterior`: exact i.i.d. DAG draws from the order-modular posterior (:mod:`.dp_order`); for
  the structure-modular posterior (the prior enumeration, MCMC and the GFlowNet target) each draw is
  reweighted by ``1 / (number of topological orders)``, self-normalised importance sampling with an
  exact proposal (consistent; its bias and noise shrink like ``1/n``), reported as kind ``"weighted"``.
- :func:`measure_against_dp`: a copy of a sampled :class:`~bayesguard.posterior.Posterior` whose
  ``sampler_error`` is its edge-marginal max error against the exact DP of the prior it targets. For any
  edge ``|P_q(edge) - P_p(edge)| <= TV(q, p)``, so the measured error is a *lower* bound on the TV: it is
  recorded as an estimate (``is_bound=False``), and the guard does not call a verdict guaranteed on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import positive_int
from ..posterior import Posterior, SamplerError
from .dp_order import MAX_D, DPResult, order_dp
from .subsets import popcounts

#: The structure prior each sampling method targets (by ``Posterior.method``).
TARGETS = {
    "enumeration": "structure-modular",
    "mcmc": "structure-modular",
    "gflownet": "structure-modular",
    "dp-weighted": "structure-modular",
    "partition-mcmc": "structure-modular",
    "order-mcmc": "order-modular",
    "dp-exact": "order-modular",
}
#: Measure the weighted DP posterior against the structure DP up to this many variables (3^d pairs).
MEASURE_MAX_D = 14


def log_linear_extensions(adj: np.ndarray, chunk: int = 256) -> np.ndarray:
    """``log`` of the number of topological orders of each DAG ``(n, d, d)`` -> ``(n,)``.

    Subset recursion vectorised over graphs: ``E(S) = sum_{j in S, pa_j ⊆ S - j} E(S - j)``, ``E({}) = 1``
    (``j`` last among the prefix ``S``); ``O(n d 2^d)``, in chunks of ``chunk`` graphs.
    """
    a = np.asarray(adj, dtype=bool)
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"adj: expected shape (n, d, d), got {a.shape}")
    n, d = a.shape[0], a.shape[1]
    if d > MAX_D:
        raise ValueError(f"adj: counting orders visits 2^d subsets; d = {d} exceeds {MAX_D}")
    bits = np.int64(1) << np.arange(d, dtype=np.int64)
    pa = (a.astype(np.int64) * bits[None, :, None]).sum(axis=1)  # (n, d) parent masks
    pc = popcounts(d)
    layers = np.argsort(pc, kind="stable")
    bounds = np.searchsorted(pc[layers], np.arange(d + 2))
    out = np.empty(n)
    for lo in range(0, n, chunk):
        p = pa[lo : lo + chunk]  # (c, d)
        e = np.full((p.shape[0], 1 << d), -np.inf)
        e[:, 0] = 0.0
        for s in range(1, d + 1):
            sets = layers[bounds[s] : bounds[s + 1]]  # (m,)
            prev = sets[None, :] ^ bits[:, None]  # (d, m)
            ok = ((sets[None, :] & bits[:, None]) != 0)[None] & ((p[:, :, None] & ~prev[None]) == 0)
            terms = np.where(ok, e[:, prev], -np.inf)  # (c, d, m)
            e[:, sets] = np.logaddexp.reduce(terms, axis=1)
        out[lo : lo + chunk] = e[:, -1]
    return out


def dp_posterior(
    score: Any,
    n: int = 1000,
    *,
    max_parents: int | None = None,
    candidates: object = None,
    prior: str = "structure-modular",
    seed: int | None = 0,
    family: str | None = "causal-dag",
    result: DPResult | None = None,
) -> Posterior:
    """A posterior over DAGs from ``n`` exact order-DP draws.

    Args:
        score: the structure score (``d <= MAX_D``).
        n: number of draws.
        max_parents, candidates: the in-degree bound and candidate parents (a restriction of the model:
            DAGs outside it have posterior 0 here).
        prior: ``"structure-modular"`` (reweighted draws, kind ``"weighted"``) or ``"order-modular"``
            (exact equal-weight draws, kind ``"samples"``).
        seed: the draws' seed.
        result: a precomputed :func:`order_dp` result.
    """
    n = positive_int(n, "n")
    if prior not in ("structure-modular", "order-modular"):
        raise ValueError(f"prior: expected 'structure-modular' or 'order-modular', got {prior!r}")
    dp = result if result is not None else order_dp(score, max_parents, candidates)
    graphs = dp.sample(n, seed=seed)
    where = f"in-degree <= {dp.table.max_parents}"
    if prior == "order-modular":
        err = SamplerError(
            0.0, f"exact draws from the order-modular posterior (Koivisto-Sood DP, {where})", True
        )
        return Posterior.from_samples(graphs, family, method="dp-exact", sampler_error=err, independent=True)
    post = Posterior.from_log_weights(
        graphs,
        -log_linear_extensions(graphs),
        "weighted",
        family,
        method="dp-weighted",
        sampler_error=SamplerError.unknown("importance-weighted exact order-DP draws; not measured"),
        independent=True,
    )
    if score.d <= MEASURE_MAX_D:
        from .dp_structure import structure_dp

        post = measure_against_dp(post, structure_dp(score, table=dp.table))
    return post


def measure_against_dp(approx: Posterior, dp: DPResult, *, strict: bool = True) -> Posterior:
    """``approx`` with its sampler error measured against the exact DP ``dp`` (edge-marginal max error).

    With ``strict`` (default), raises ValueError when ``approx``'s method targets a different prior than
    ``dp`` computed (an order sampler against the structure-modular DP, say); with ``strict=False`` the
    error is measured anyway (the error against the posterior a guard assumes, prior mismatch included)
    and the record says so. Raises ValueError when the sizes differ.
    """
    target = TARGETS.get(approx.method)
    mismatch = target is not None and target != dp.prior
    if mismatch and strict:
        raise ValueError(
            f"dp: {approx.method!r} targets the {target} posterior, the DP computed the {dp.prior} one"
        )
    th = np.asarray(approx.theories)
    if th.ndim != 3 or th.shape[1:] != (dp.d, dp.d):
        raise ValueError(f"approx: expected graphs (n, {dp.d}, {dp.d}), got {th.shape}")
    keep = approx.from_posterior
    p = approx.probs[keep]
    marginals = np.einsum("n,nij->ij", p / p.sum(), th[keep].astype(np.float64))
    err = dp.marginal_error(marginals)
    how = (
        f"edge-marginal max error {err['edge_max_error']:.3g} (RMSE {err['edge_rmse']:.3g}) against the "
        f"exact {dp.prior} DP, in-degree <= {dp.table.max_parents}; a lower bound on TV, not an upper bound"
    )
    if mismatch:
        how += f" (the sampler targets the {target} posterior: the difference of priors is included)"
    return approx.with_provenance(sampler_error=SamplerError(min(err["edge_max_error"], 1.0), how, False))
