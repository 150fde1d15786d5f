"""Short, readable explanations of a verdict: the witness theory's causal paths from the action to harm.

Each edge is printed with its posterior probability (the edge marginal), so a reader sees at once how
much of the posterior stands behind the path that makes the action dangerous, e.g.

    valve -(0.48)-> pressure      (witness: 3 edges, posterior mass 0.0012)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def directed_paths(adj: np.ndarray, src: int, dst: int, limit: int = 5) -> list[list[int]]:
    """Up to ``limit`` directed paths ``src -> ... -> dst`` in the DAG ``adj (d, d)``, shortest first."""
    a = np.asarray(adj, dtype=bool)
    paths: list[list[int]] = []
    frontier = [[src]]
    while frontier and len(paths) < limit:  # breadth-first: paths come out shortest first
        nxt = []
        for path in frontier:
            for child in np.flatnonzero(a[path[-1]]):
                if child == dst:
                    paths.append([*path, int(child)])
                elif child not in path:
                    nxt.append([*path, int(child)])
        frontier = nxt
    return paths[:limit]


def explain_paths(
    adj: np.ndarray,
    names: Sequence[str],
    sources: Sequence[str],
    target: str,
    edge_probs: np.ndarray,
    limit: int = 3,
) -> str:
    """The causal paths from each intervened variable to ``target`` in ``adj``, edges annotated.

    Args:
        adj: ``(d, d)`` the witness graph.
        names: the ``d`` variable names.
        sources: the variables the action sets.
        target: the harm variable.
        edge_probs: ``(d, d)`` posterior edge probabilities.
        limit: paths shown per source.
    """
    t = list(names).index(target)
    lines = []
    for s in sources:
        i = list(names).index(s)
        paths = directed_paths(adj, i, t, limit)
        if not paths:
            lines.append(f"no directed path {s} -> {target} in the witness theory")
            continue
        for path in paths:
            text = names[path[0]]
            for u, v in zip(path[:-1], path[1:], strict=True):
                text += f" -({edge_probs[u, v]:.2g})-> {names[v]}"
            lines.append(text)
    if not sources:
        lines.append(f"no intervention: the harm comes from {target}'s own causes")
    return "; ".join(lines)
