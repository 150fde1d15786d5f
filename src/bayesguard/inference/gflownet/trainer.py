"""The training loop, separate from the loss and from the environment.

:func:`train_loop` only alternates two things it is given: ``explore()`` (the behaviour policy acting in
the environment, filling a replay buffer) and, whenever ``next_batch()`` has a batch of transitions, one
gradient step on ``loss_fn(batch)``. It stops at a step or wall-clock budget and calls a checkpoint hook
at intervals of training time (the hook's own time is not counted).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .transitions import Transitions


@dataclass
class LoopState:
    """Progress of one :func:`train_loop` call, updated as it runs.

    Attributes:
        steps: gradient steps taken.
        seconds: wall-clock seconds of training (checkpoint time excluded).
        losses: the last 100 losses.
    """

    steps: int = 0
    seconds: float = 0.0
    losses: deque[float] = field(default_factory=lambda: deque(maxlen=100))

    @property
    def recent_loss(self) -> float:
        """Mean of the last 100 losses (NaN before the first step)."""
        return float(np.mean(self.losses)) if self.losses else math.nan


def gradient_step(
    loss_fn: Callable[[Transitions], torch.Tensor], optimizer: torch.optim.Optimizer, batch: Transitions
) -> float:
    """One optimiser step on ``loss_fn(batch)`` (a scalar tensor); returns the loss before the step."""
    loss = loss_fn(batch)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def train_loop(
    explore: Callable[[], None],
    next_batch: Callable[[], Transitions | None],
    loss_fn: Callable[[Transitions], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    *,
    steps: int | None = None,
    seconds: float | None = None,
    progress: bool = True,
    checkpoint: Callable[[LoopState], None] | None = None,
    every: float = 30.0,
    state: LoopState | None = None,
) -> LoopState:
    """Train until ``steps`` gradient steps or ``seconds`` of training, whichever comes first.

    Each iteration calls ``explore()``, then ``next_batch()``; when that gives a batch (``None`` while
    the buffer warms up), one :func:`gradient_step` on ``loss_fn`` with ``optimizer``. ``checkpoint(state)``
    runs every ``every`` seconds of training; its time is excluded from ``state.seconds`` and from the
    budget.

    Args:
        state: where progress is recorded as the loop runs (so that it is known even if a step raises);
            a fresh :class:`LoopState` if None. Its counts are those of this call.

    Returns:
        the final :class:`LoopState`.
    """
    if steps is None and seconds is None:
        raise ValueError("steps/seconds: give a step budget, a time budget, or both")
    state = LoopState() if state is None else state
    bar = tqdm(total=steps, desc="GFlowNet", disable=not progress, unit="step", mininterval=0.5)
    start = time.perf_counter()
    spent_checkpoints = 0.0
    next_checkpoint = every
    try:
        while True:
            elapsed = time.perf_counter() - start - spent_checkpoints
            state.seconds = elapsed
            if (steps is not None and state.steps >= steps) or (seconds is not None and elapsed >= seconds):
                break
            explore()
            batch = next_batch()
            if batch is not None:
                state.losses.append(gradient_step(loss_fn, optimizer, batch))
                state.steps += 1
                if state.steps % 100 == 0:
                    bar.update(100)
                    bar.set_postfix(loss=f"{state.recent_loss:.3g}")
            if checkpoint is not None and elapsed >= next_checkpoint:
                t = time.perf_counter()
                checkpoint(state)
                next_checkpoint += every
                spent_checkpoints += time.perf_counter() - t
        state.seconds = time.perf_counter() - start - spent_checkpoints
    finally:
        bar.close()
    return state
