"""An independent reference for discrete networks: sum the product of tables over every assignment."""

from __future__ import annotations

import itertools

import numpy as np


def brute_force_harm(cpts, adj, arities, do, target, code, ctx, ctx_codes):
    """P(target == code | do, ctx = ctx_codes) by summing the product of tables over every assignment."""
    d = adj.shape[0]
    num = den = 0.0
    for x in itertools.product(*[range(r) for r in arities]):
        if any(x[j] != v for j, v in do.items()) or any(
            x[c] != v for c, v in zip(ctx, ctx_codes, strict=True)
        ):
            continue
        p = 1.0
        for j in range(d):
            if j in do:
                continue
            parents = np.flatnonzero(adj[:, j])
            row = np.ravel_multi_index(tuple(x[i] for i in parents), arities[parents]) if parents.size else 0
            p *= cpts[j][row, x[j]]
        den += p
        num += p * (x[target] == code)
    return num / den
