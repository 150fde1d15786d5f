"""The modified detailed-balance loss (Deleu et al. 2022, eq. 6), a pure function of a transition batch.

Every state is terminal, so for each transition ``G -> G'`` (adding one edge) the flow condition reads

    log R(G') + log P_B(G | G') + log P_F(stop | G) = log R(G) + log P_F(G' | G) + log P_F(stop | G'),

with ``P_B`` uniform over the edges of ``G'`` that can be removed (those not required by the prior), so
``log P_B(G | G') = -log n_backward``; ``log R(G') - log R(G)`` is the transition's ``delta``. The residual

    r = delta + log P_B(G | G') + log P_F(stop | G) - log P_F(G' | G) - log P_F(stop | G')

is computed in float64 (the network's float32 log-probabilities are promoted), and the loss is the Huber
loss of ``r`` averaged over the batch. At zero loss the sampler draws ``G`` with probability
proportional to ``R(G)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .transitions import Transitions


def _on_device(policy: nn.Module, transitions: Transitions) -> Transitions:
    device = next(policy.parameters()).device
    return transitions.check().to_tensors(device)


def mdb_residuals(
    policy: nn.Module, transitions: Transitions, target_policy: nn.Module | None = None
) -> torch.Tensor:
    """The residuals ``r`` of the modified detailed-balance condition: ``(B,)`` float64.

    Args:
        policy: maps ``adj (N, d, d)``, ``valid (N, d*d + 1)`` bool to log-probabilities ``(N, d*d + 1)``
            (:class:`~.policy.EdgePolicy` or :class:`~.policy_attention.AttentionEdgePolicy`).
        transitions: ``B`` transitions (NumPy arrays or tensors; moved to the policy's device).
        target_policy: if given, ``log P_F(stop | G')`` comes from it, without gradient (a target
            network); otherwise both ends go through ``policy`` in one forward pass of ``2 B`` graphs.
    """
    t = _on_device(policy, transitions)
    n = t.batch_size
    if target_policy is None:
        logp = policy(torch.cat([t.adj, t.adj_next]), torch.cat([t.valid, t.valid_next]))
        lp_t, lp_next = logp[:n], logp[n:]
    else:
        lp_t = policy(t.adj, t.valid)
        with torch.no_grad():
            lp_next = target_policy(t.adj_next, t.valid_next)
    stop = t.stop
    log_pb = -torch.log(t.n_backward.double())
    return (
        t.delta
        + log_pb
        + lp_t[:, stop].double()
        - lp_t.gather(1, t.action[:, None])[:, 0].double()
        - lp_next[:, stop].double()
    )


def mdb_loss(
    policy: nn.Module,
    transitions: Transitions,
    target_policy: nn.Module | None = None,
    *,
    huber_delta: float = 1.0,
) -> torch.Tensor:
    """Mean Huber loss (threshold ``huber_delta``) of the :func:`mdb_residuals` of ``transitions``: a
    float64 scalar tensor, differentiable with respect to ``policy``'s parameters."""
    residual = mdb_residuals(policy, transitions, target_policy)
    return nn.functional.huber_loss(residual, torch.zeros_like(residual), delta=huber_delta)
