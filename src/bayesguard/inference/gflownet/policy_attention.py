"""A forward policy whose size does not grow with ``d^2``: message passing over the current DAG, then
self-attention over nodes, then edge logits from a bilinear sender-receiver product.

Same interface as :class:`~.policy.EdgePolicy`: ``adj (B, d, d)`` bool (``adj[b, i, j]``: edge
``i -> j``) and ``valid (B, d*d + 1)`` bool -> log-probabilities ``(B, d*d + 1)`` (additions ``i * d + j``,
then stop), invalid actions at ``-inf``.

Shapes below: ``B`` graphs, ``d`` nodes, ``H = hidden``.

1. Node states ``h (B, d, H)``: a learned embedding per node (``(d, H)``, the only parameters that depend
   on ``d``), or one shared learned vector when ``node_embedding=False`` (the network is then
   permutation-equivariant: relabelling the nodes permutes the edge logits and leaves the stop logit).
2. ``layers`` rounds of message passing over the current graph:
   ``h <- LayerNorm(h + GELU(W_self h + W_par (A^T h) + W_ch (A h)))``, where ``A^T h`` sums the states of
   each node's parents and ``A h`` those of its children (separate maps for the two directions).
3. ``layers`` pre-LayerNorm transformer encoder blocks over the ``d`` nodes (``heads`` heads, a
   feed-forward of width ``FF_MULT * H``), then a final LayerNorm.
4. Edge logits ``(W_s h_i) . (W_r h_j) / sqrt(H)``; stop logit from ``[mean_i h_i, n_edges / d]`` through
   a two-layer MLP.

Parameter count: ``d * H`` (the node embedding) plus a part that depends only on ``H`` and ``layers``
(:func:`attention_policy_shapes`); the MLP policy's is ``O(d^2 H)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

#: Width of the transformer blocks' feed-forward layer, as a multiple of ``hidden``.
FF_MULT = 2


class _MessagePassing(nn.Module):
    """One round ``h <- LayerNorm(h + GELU(W_self h + W_par (A^T h) + W_ch (A h)))`` on ``h (B, d, H)``."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.self_map = nn.Linear(hidden, hidden)
        self.parents = nn.Linear(hidden, hidden, bias=False)
        self.children_map = nn.Linear(hidden, hidden, bias=False)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        par = a.transpose(1, 2) @ h  # (B, d, H): row j sums its parents i (a[i, j] = 1)
        ch = a @ h  # (B, d, H): row i sums its children j
        return self.norm(h + F.gelu(self.self_map(h) + self.parents(par) + self.children_map(ch)))


class _EncoderBlock(nn.Module):
    """Pre-LayerNorm transformer encoder block over nodes: ``(B, d, H) -> (B, d, H)``."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm2 = nn.LayerNorm(hidden)
        self.ff1 = nn.Linear(hidden, FF_MULT * hidden)
        self.ff2 = nn.Linear(FF_MULT * hidden, hidden)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        b, d, hidden = h.shape
        qkv = self.qkv(self.norm1(h)).view(b, d, 3, self.heads, hidden // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, d, H / heads)
        att = F.scaled_dot_product_attention(q, k, v)  # (B, heads, d, H / heads)
        h = h + self.out(att.transpose(1, 2).reshape(b, d, hidden))
        return h + self.ff2(F.gelu(self.ff1(self.norm2(h))))


class AttentionEdgePolicy(nn.Module):
    """Forward policy ``log P_F(a | G)`` from message passing and self-attention over nodes.

    The number of parameters does not grow with ``d^2``: it is ``d * hidden`` (the per-node embedding;
    ``hidden`` when ``node_embedding=False``) plus a count that depends only on ``hidden`` and ``layers``.

    Args:
        d: number of variables.
        hidden: width ``H`` of the node states (divisible by ``heads``).
        layers: rounds of message passing, and also number of transformer blocks.
        heads: attention heads.
        node_embedding: a learned embedding per node (True), or one shared start vector (False: the
            network is permutation-equivariant, but cannot tell nodes apart in the empty graph).
    """

    def __init__(
        self, d: int, hidden: int = 128, layers: int = 2, heads: int = 4, *, node_embedding: bool = True
    ) -> None:
        super().__init__()
        for name, v in (("d", d), ("hidden", hidden), ("layers", layers), ("heads", heads)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        if hidden % heads:
            raise ValueError(f"heads: hidden = {hidden} is not divisible by heads = {heads}")
        self.d = d
        self.hidden = hidden
        self.node_embed = nn.Parameter(torch.randn(d if node_embedding else 1, hidden) / math.sqrt(hidden))
        self.message_passing = nn.ModuleList(_MessagePassing(hidden) for _ in range(layers))
        self.blocks = nn.ModuleList(_EncoderBlock(hidden, heads) for _ in range(layers))
        self.norm = nn.LayerNorm(hidden)
        self.sender = nn.Linear(hidden, hidden, bias=False)
        self.receiver = nn.Linear(hidden, hidden, bias=False)
        self.stop_head = nn.Sequential(nn.Linear(hidden + 1, hidden), nn.GELU(), nn.Linear(hidden, 1))

    def set_stop_bias(self, value: float) -> None:
        """Set the bias of the stop logit's last layer (``GFlowNetConfig.stop_bias``)."""
        with torch.no_grad():
            self.stop_head[-1].bias.fill_(float(value))

    def forward(self, adj: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``adj (B, d, d)``, ``valid (B, d*d + 1)`` bool -> log-probabilities ``(B, d*d + 1)``."""
        b, d = adj.shape[0], self.d
        a = adj.to(self.node_embed.dtype)
        h = self.node_embed.expand(d, self.hidden).expand(b, d, self.hidden)
        for mp in self.message_passing:
            h = mp(h, a)
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        edge = self.sender(h) @ self.receiver(h).transpose(1, 2) / math.sqrt(self.hidden)  # (B, d, d)
        pooled = torch.cat([h.mean(dim=1), a.sum(dim=(1, 2))[:, None] / d], dim=1)  # (B, H + 1)
        logits = torch.cat([edge.reshape(b, d * d), self.stop_head(pooled)], dim=1)
        logits = logits.masked_fill(~valid, float("-inf"))
        return torch.log_softmax(logits, dim=1)


def attention_policy_shapes(d: int, hidden: int, layers: int) -> dict[str, tuple[int, ...]]:
    """``state_dict`` name -> shape of :class:`AttentionEdgePolicy` ``(d, hidden, layers)`` (with its
    per-node embedding), computed without building it. ``heads`` changes no shape."""
    h, ff = hidden, FF_MULT * hidden
    shapes: dict[str, tuple[int, ...]] = {"node_embed": (d, h)}
    for k in range(layers):
        p = f"message_passing.{k}."
        shapes |= {
            p + "self_map.weight": (h, h),
            p + "self_map.bias": (h,),
            p + "parents.weight": (h, h),
            p + "children_map.weight": (h, h),
            p + "norm.weight": (h,),
            p + "norm.bias": (h,),
        }
    for k in range(layers):
        p = f"blocks.{k}."
        shapes |= {
            p + "norm1.weight": (h,),
            p + "norm1.bias": (h,),
            p + "qkv.weight": (3 * h, h),
            p + "qkv.bias": (3 * h,),
            p + "out.weight": (h, h),
            p + "out.bias": (h,),
            p + "norm2.weight": (h,),
            p + "norm2.bias": (h,),
            p + "ff1.weight": (ff, h),
            p + "ff1.bias": (ff,),
            p + "ff2.weight": (h, ff),
            p + "ff2.bias": (h,),
        }
    shapes |= {
        "norm.weight": (h,),
        "norm.bias": (h,),
        "sender.weight": (h, h),
        "receiver.weight": (h, h),
        "stop_head.0.weight": (h, h + 1),
        "stop_head.0.bias": (h,),
        "stop_head.2.weight": (1, h),
        "stop_head.2.bias": (1,),
    }
    return shapes
