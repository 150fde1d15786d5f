"""The forward policy of the DAG-GFlowNet: a network from a graph to logits over edge additions and stop.

Input: the flattened adjacency matrix and the flattened mask of valid additions, ``(B, 2 d^2)``.
Output: ``(B, d^2 + 1)`` log-probabilities, with invalid actions at ``-inf`` (masked before the softmax).
Its size grows with ``d^2`` (the input and the edge head are ``d^2`` wide); at ``d = 20`` and beyond it
trains poorly within small budgets. :class:`~.policy_attention.AttentionEdgePolicy` has the same interface
and a size independent of ``d^2`` (``GFlowNetConfig(policy="attention")``).
"""

from __future__ import annotations

import torch
from torch import nn


class EdgePolicy(nn.Module):
    """MLP forward policy ``log P_F(a | G)``.

    Args:
        d: number of variables.
        hidden: width of the hidden layers.
        layers: number of hidden layers.
    """

    def __init__(self, d: int, hidden: int = 256, layers: int = 2) -> None:
        super().__init__()
        self.d = d
        dims = [2 * d * d] + [hidden] * layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:], strict=True):
            blocks += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU()]
        self.body = nn.Sequential(*blocks)
        self.edge_head = nn.Linear(hidden, d * d)
        self.stop_head = nn.Linear(hidden, 1)

    def set_stop_bias(self, value: float) -> None:
        """Set the bias of the stop logit (``GFlowNetConfig.stop_bias``)."""
        with torch.no_grad():
            self.stop_head.bias.fill_(float(value))

    def forward(self, adj: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``adj (B, d, d)``, ``valid (B, d*d + 1)`` bool -> log-probabilities ``(B, d*d + 1)``."""
        b = adj.shape[0]
        x = torch.cat([adj.reshape(b, -1).float(), valid[:, :-1].float()], dim=1)
        h = self.body(x)
        logits = torch.cat([self.edge_head(h), self.stop_head(h)], dim=1)
        logits = logits.masked_fill(~valid, float("-inf"))
        return torch.log_softmax(logits, dim=1)
