"""The exact distribution over graphs that a DAG-GFlowNet samples from (``d <= 5``).

The probability of ending at ``G`` is the sum over every construction order (trajectory) from the start
graph: ``P_T(G) = P_reach(G) * P_F(stop | G)`` with ``P_reach(start) = 1`` and
``P_reach(G') = sum_{G -> G'} P_reach(G) P_F(G' | G)``. States are processed in order of edge count, and
every layer is one array update, so the error of the sampler against the exact posterior is measured with
no sampling noise.
"""

from __future__ import annotations

import numpy as np
import torch

from ...graphs.dag import enumerate_dags
from ...graphs.keys import graph_keys
from ...posterior import SamplerError
from .sampling import policy_probabilities
from .train import DAGGFlowNet


@torch.no_grad()
def sampler_distribution(model: DAGGFlowNet) -> np.ndarray:
    """``(n_dags,)`` probability the sampler ends at each DAG of :func:`enumerate_dags` (``d <= 5``).

    Raises ``FloatingPointError`` when the policy's probabilities are not finite (NaN weights).
    """
    d = model.d
    dags = enumerate_dags(d)
    env = model.env
    keys = graph_keys(dags)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    start = env.start_adj
    reachable = np.all(dags >= start, axis=(1, 2)) & ~np.any(dags & env.forbidden, axis=(1, 2))
    states = env.from_adjacency(dags)
    valid = env.valid_actions(states)
    valid[~reachable] = False
    valid[~reachable, -1] = True
    logp = np.concatenate(
        [model._log_probs(dags[s : s + 8192], valid[s : s + 8192]) for s in range(0, dags.shape[0], 8192)]
    )
    # renormalise in float64 (the network works in float32); FloatingPointError on a non-finite policy
    probs = policy_probabilities(logp.astype(np.float64), valid)
    reach = np.zeros(dags.shape[0])
    reach[np.flatnonzero(np.all(dags == start, axis=(1, 2)))] = 1.0
    n_edges = dags.sum(axis=(1, 2))
    edge_bits = (np.int64(1) << np.arange(d * d, dtype=np.int64)).reshape(d, d)
    for k in range(int(start.sum()), d * (d - 1) // 2):
        layer = np.flatnonzero((n_edges == k) & reachable & (reach > 0))
        if layer.size == 0:
            continue
        s_idx, a_idx = np.nonzero(valid[layer, :-1])
        parents = layer[s_idx]
        child_keys = keys[parents] + edge_bits.ravel()[a_idx]
        children = order[np.searchsorted(sorted_keys, child_keys)]
        np.add.at(reach, children, reach[parents] * probs[parents, a_idx])
    return reach * probs[:, -1]


def measured_error(model: DAGGFlowNet) -> SamplerError:
    """The sampler's exact total-variation distance to the exact posterior (``d <= 5``): a bound on the
    error of its i.i.d. draws, with no sampling noise (both laws are enumerated)."""
    from ...marginal.montecarlo import sampler_tv_exact
    from ...theories.causal.structure import exact_structure_posterior

    q = sampler_distribution(model)
    p = exact_structure_posterior(model.score).probs
    return SamplerError(sampler_tv_exact(q, p), "exact sampler law against the enumerated posterior", True)
