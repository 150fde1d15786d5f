"""A typed batch of DAG-GFlowNet transitions ``G -> G' = G + (i -> j)``, the input of the loss.

Only edge additions are transitions: every state of the DAG environment is terminal (its reward is
``R(G)``, and "stop" is always a valid action), so no stop / terminal flag is stored; the stop action's
log-probability at both ends of a transition enters the loss instead. The stop action is the last
column of the valid-action masks (index ``d * d``).

The fields hold NumPy arrays as the replay buffer produces them, or PyTorch tensors after
:meth:`Transitions.to_tensors`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

Array = np.ndarray | torch.Tensor


class Transitions(NamedTuple):
    """``B`` transitions ``G -> G'`` that each add one edge (``A = d * d + 1`` actions, stop last).

    Attributes:
        adj: ``(B, d, d)`` bool, adjacency of ``G`` (``adj[b, i, j]``: edge ``i -> j``).
        valid: ``(B, A)`` bool, valid actions at ``G`` (additions, then stop).
        action: ``(B,)`` int64, the addition taken, ``i * d + j`` (never the stop).
        delta: ``(B,)`` float64, ``log R(G') - log R(G)`` (the change of node ``j``'s local score).
        adj_next: ``(B, d, d)`` bool, adjacency of ``G'`` (``adj`` with ``i -> j`` added).
        valid_next: ``(B, A)`` bool, valid actions at ``G'``.
        n_backward: ``(B,)`` int64 >= 1, number of edges of ``G'`` the backward policy may remove (those
            not required by the prior): ``P_B(G | G') = 1 / n_backward``.
    """

    adj: Array
    valid: Array
    action: Array
    delta: Array
    adj_next: Array
    valid_next: Array
    n_backward: Array

    @property
    def batch_size(self) -> int:
        """``B``, the number of transitions."""
        return int(self.action.shape[0])

    @property
    def stop(self) -> int:
        """Index of the stop action (``d * d``, the last column of the masks)."""
        return int(self.valid.shape[1]) - 1

    def to_tensors(self, device: torch.device | str = "cpu") -> Transitions:
        """The same batch as PyTorch tensors on ``device`` (dtypes kept; tensors are moved, not copied)."""
        return Transitions(
            *(f.to(device) if isinstance(f, torch.Tensor) else torch.from_numpy(f).to(device) for f in self)
        )

    def check(self) -> Transitions:
        """Check the shapes agree (``B``, ``d``, ``A = d * d + 1``); returns the batch.

        Raises:
            ValueError: naming the first field of the wrong shape.
        """
        b, d = self.batch_size, int(self.adj.shape[1])
        a = d * d + 1
        expected = {
            "adj": (b, d, d),
            "valid": (b, a),
            "action": (b,),
            "delta": (b,),
            "adj_next": (b, d, d),
            "valid_next": (b, a),
            "n_backward": (b,),
        }
        for name, shape in expected.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise ValueError(f"transitions.{name}: expected shape {shape}, got {got}")
        return self
