"""Hyperparameters of the DAG-GFlowNet (validated when built)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import torch


class PolicyKind(StrEnum):
    """The forward policy network: ``"mlp"`` (:class:`~.policy.EdgePolicy`, size ``O(d^2)``) or
    ``"attention"`` (:class:`~.policy_attention.AttentionEdgePolicy`, size ``O(d)``)."""

    MLP = "mlp"
    ATTENTION = "attention"


@dataclass(frozen=True)
class GFlowNetConfig:
    """Hyperparameters of the DAG-GFlowNet (defaults tuned on d = 5, 2 CPU cores).

    For larger graphs two settings keep exploration from building near-complete graphs (a uniform
    choice among ``d^2`` actions stops with probability ``~1/d^2``): ``explore_stop``, the probability
    that the uniform exploration component stops (None: stop is one valid action among the others), and
    ``stop_bias``, the initial bias of the policy's stop logit (``log d`` gives initial trajectories of
    about ``d`` edges). Neither changes the loss or its optimum.

    ``policy`` picks the forward policy network (a :class:`PolicyKind` or its string, stored as the
    string): ``"mlp"`` (default) or ``"attention"`` (message passing + self-attention over nodes, whose
    size does not grow with ``d^2``; ``hidden`` must be divisible by ``heads``). ``hidden`` and ``layers``
    apply to both; ``heads`` only to the attention policy.

    ``target_every``: None (default) evaluates ``log P_F(stop | G')`` in the loss with the policy itself;
    an integer ``k`` takes it from a target network, a copy of the policy refreshed every ``k`` gradient
    steps (not saved: a loaded model's target starts as a copy of its policy). It changes the
    optimisation, not the loss's optimum, and back-propagates through ``G`` only (about a third less work
    per step).

    ``device`` is where the policy network runs (``"cpu"``, ``"cuda"`` or ``"cuda:N"``); the environment,
    the replay buffer and the rewards stay in NumPy on the CPU.
    """

    hidden: int = 128
    layers: int = 2
    lr: float = 1e-3
    batch_size: int = 256
    n_envs: int = 64
    buffer_size: int = 200_000
    warmup: int = 2_000
    epsilon: float = 0.1
    temperature: float = 1.0
    huber_delta: float = 1.0
    explore_stop: float | None = None
    stop_bias: float = 0.0
    seed: int = 0
    device: str = "cpu"
    policy: str = "mlp"
    heads: int = 4
    target_every: int | None = None

    def __post_init__(self) -> None:
        for name in ("hidden", "layers", "batch_size", "n_envs", "buffer_size", "heads"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        v = self.target_every
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise ValueError(f"target_every: expected None or a positive integer, got {v!r}")
        try:
            kind = PolicyKind(self.policy)
        except ValueError:
            raise ValueError(f"policy: expected 'mlp' or 'attention', got {self.policy!r}") from None
        object.__setattr__(self, "policy", kind.value)
        if kind is PolicyKind.ATTENTION and self.hidden % self.heads:
            raise ValueError(
                f"heads: the attention policy needs hidden divisible by heads, got hidden = {self.hidden}, "
                f"heads = {self.heads}"
            )
        if not 0 <= self.epsilon <= 1:
            raise ValueError(f"epsilon: expected a number in [0, 1], got {self.epsilon!r}")
        if not (self.lr > 0 and self.temperature > 0 and self.huber_delta > 0):
            raise ValueError("lr, temperature, huber_delta: expected positive numbers")
        if self.explore_stop is not None and not 0 < self.explore_stop < 1:
            raise ValueError(f"explore_stop: expected None or a number in (0, 1), got {self.explore_stop!r}")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(f"device: {self.device!r} was asked for but PyTorch sees no CUDA device")
