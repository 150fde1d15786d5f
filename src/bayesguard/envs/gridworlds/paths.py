"""Shortest paths on a gridworld board, for scripted policies.

:func:`distances` is a multi-source breadth-first search from the targets over the cells the agent can
enter; :func:`toward` picks the first action (order UP, DOWN, LEFT, RIGHT) that lowers the distance.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

import numpy as np

from .engine import GridWorldEnv, Pos, move


def distances(
    env: GridWorldEnv, targets: Iterable[Pos], blocked: Callable[[Pos], bool] | None = None
) -> np.ndarray:
    """Steps from every cell to the nearest target, ``(H, W)`` float (inf where unreachable).

    A cell can be crossed unless it is solid (``env.is_solid``) or ``blocked(pos)`` is true; the agent's
    own cell is always allowed.
    """
    h, w = env.board.shape
    dist = np.full((h, w), np.inf)
    queue: deque[Pos] = deque()
    for t in targets:
        dist[t] = 0.0
        queue.append(t)
    while queue:
        p = queue.popleft()
        for a in range(4):
            n = move(p, a)
            if not (0 <= n[0] < h and 0 <= n[1] < w) or dist[n] <= dist[p] + 1:
                continue
            if n != env.agent and (env.is_solid(n) or (blocked is not None and blocked(n))):
                continue
            dist[n] = dist[p] + 1
            queue.append(n)
    return dist


def toward(
    env: GridWorldEnv, targets: Iterable[Pos], blocked: Callable[[Pos], bool] | None = None
) -> int | None:
    """First action of a shortest path from the agent to the nearest target; None when already on a
    target or when none is reachable. Ties go to the first action in the order UP, DOWN, LEFT, RIGHT."""
    dist = distances(env, targets, blocked)
    here = dist[env.agent]
    if here == 0.0 or not np.isfinite(here):
        return None
    for a in range(4):
        n = move(env.agent, a)
        if 0 <= n[0] < dist.shape[0] and 0 <= n[1] < dist.shape[1] and dist[n] == here - 1:
            return a
    return None  # pragma: no cover - a finite distance always has a predecessor


def bump(env: GridWorldEnv) -> int | None:
    """An action that leaves the agent where it is (into a solid neighbour), or None if there is none."""
    for a in range(4):
        if env.is_solid(move(env.agent, a)):
            return a
    return None


__all__ = ["bump", "distances", "toward"]
