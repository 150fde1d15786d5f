"""The exact distribution over graphs that a DAG-GFlowNet samples from (``d <= 5``).

The probability of ending at ``G`` is the sum over every construction order (trajectory) from the start
graph: ``P_T(G) = P_reach(G) * P_F(stop | G)`` with ``P_reach(start) = 1`` and
``P_reach(G') = sum_{G -> G'} P_reach(G) P_F(G' | G)``. States are processed in order of edge count, and
every layer is one array update, so the error of the sampler against the exact posterior is measured with
no sampling noise.

With masks (candidate parents, an in-degree bound; see :mod:`.env`) only the DAGs within them are
reachable, and the target is the posterior restricted to them (:func:`target_distribution`).
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
    reachable = env.within(dags)  # the prior's required / forbidden edges and the masks
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


def target_distribution(model: DAGGFlowNet) -> tuple[np.ndarray, float]:
    """The law the sampler is trained towards, over :func:`enumerate_dags` (``d <= 5``), and the
    posterior mass the masks exclude: ``((n_dags,) probabilities, excluded mass in [0, 1])``.

    Without masks it is the exact posterior (excluded mass 0); with masks, the exact posterior restricted
    to the DAGs within them (:meth:`~.env.DAGEnv.within`) and renormalised.

    Raises:
        ValueError: the masks leave no DAG of positive posterior probability.
    """
    from ...theories.causal.structure import exact_structure_posterior

    p = exact_structure_posterior(model.score).probs
    inside = model.env.within(enumerate_dags(model.d))
    kept = float(p[inside].sum())
    if not kept > 0:
        raise ValueError("candidates/max_parents: no DAG within the masks has positive posterior probability")
    return np.where(inside, p, 0.0) / kept, float(p[~inside].sum())


def measured_error(model: DAGGFlowNet) -> SamplerError:
    """The sampler's exact total-variation distance to its target (``d <= 5``): a bound on the error of
    its i.i.d. draws, with no sampling noise (both laws are enumerated).

    The target is the exact posterior, or with masks the posterior restricted to the DAGs within them
    (:func:`target_distribution`); the error's ``how`` then says so and gives the mass the masks exclude,
    which this distance does not count."""
    from ...marginal.montecarlo import sampler_tv_exact

    q = sampler_distribution(model)
    p, excluded = target_distribution(model)
    how = "exact sampler law against the enumerated posterior"
    masks = ["candidate parents"] if model.candidates is not None else []
    masks += [f"at most {model.max_parents} parents"] if model.max_parents is not None else []
    if masks:
        how += (
            f" restricted to the DAGs within the masks ({', '.join(masks)}); the masks exclude posterior "
            f"mass {excluded:.3g}, not counted in this distance"
        )
    return SamplerError(sampler_tv_exact(q, p), how, True)
