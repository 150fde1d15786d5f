"""Sums over subsets in log space, vectorised with bit tricks: the transforms the exact dynamic programs
are made of.

A function on the subsets of ``{0..d-1}`` is an array of ``2^d`` values indexed by bitmask. The
*subset* (zeta) transform ``f^(S) = sum_{T subset of S} f(T)`` and the *superset* transform
``f^(S) = sum_{T superset of S} f(T)`` each take ``d`` passes; pass ``b`` views the array as
``(..., 2^(d-b-1), 2, 2^b)`` so that index ``[..., 1, :]`` is "bit ``b`` set" and adds the other half:
``O(d 2^d)`` work, no Python loop over subsets. Values are logs (``-inf`` for zero).

The *signed* versions carry ``(log |x|, sign x)`` pairs, for sums with both signs (the inclusion-
exclusion over sink sets in :mod:`.dp_structure`).
"""

from __future__ import annotations

import numpy as np


def popcounts(d: int) -> np.ndarray:
    """Number of members of every subset of ``d`` elements: ``(2^d,)`` int8."""
    out = np.zeros(1, dtype=np.int8)
    for _ in range(d):
        out = np.concatenate([out, out + 1])
    return out


def _halves(a: np.ndarray, b: int) -> tuple[np.ndarray, np.ndarray]:
    """Views of ``a (..., 2^d)`` at "bit ``b`` clear" and "bit ``b`` set" (same shapes)."""
    n = a.shape[-1]
    v = a.reshape(*a.shape[:-1], n >> (b + 1), 2, 1 << b)
    return v[..., 0, :], v[..., 1, :]


def _check_power_of_two(a: np.ndarray, label: str) -> int:
    n = a.shape[-1]
    d = n.bit_length() - 1
    if n < 1 or (1 << d) != n:
        raise ValueError(f"{label}: the last axis must have 2^d entries, got {n}")
    return d


def log_subset_sum(a: np.ndarray) -> np.ndarray:
    """``out[..., S] = log sum_{T subset S} exp(a[..., T])`` for ``a (..., 2^d)`` (a new array)."""
    out = np.array(a, dtype=np.float64, copy=True)
    for b in range(_check_power_of_two(out, "a")):
        lo, hi = _halves(out, b)
        np.logaddexp(hi, lo, out=hi)
    return out


def log_superset_sum(a: np.ndarray) -> np.ndarray:
    """``out[..., S] = log sum_{T superset S} exp(a[..., T])`` for ``a (..., 2^d)`` (a new array)."""
    out = np.array(a, dtype=np.float64, copy=True)
    for b in range(_check_power_of_two(out, "a")):
        lo, hi = _halves(out, b)
        np.logaddexp(lo, hi, out=lo)
    return out


def signed_add(
    la: np.ndarray, sa: np.ndarray, lb: np.ndarray, sb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``x + y`` for ``x = sa * exp(la)``, ``y = sb * exp(lb)``: returns ``(log |x + y|, sign)``.

    Signs are ``-1, 0, +1`` (float); ``log 0 = -inf`` with sign 0.
    """
    m = np.maximum(la, lb)
    safe = np.where(np.isfinite(m), m, 0.0)
    s = sa * np.exp(la - safe) + sb * np.exp(lb - safe)
    with np.errstate(divide="ignore"):
        return np.log(np.abs(s)) + safe, np.sign(s)


def signed_superset_sum(la: np.ndarray, sa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The superset transform of a signed function ``(log |f|, sign f)``, both ``(..., 2^d)``."""
    lo_out = np.array(la, dtype=np.float64, copy=True)
    s_out = np.array(sa, dtype=np.float64, copy=True)
    for b in range(_check_power_of_two(lo_out, "la")):
        l0, l1 = _halves(lo_out, b)
        s0, s1 = _halves(s_out, b)
        nl, ns = signed_add(l0, s0, l1, s1)
        l0[...] = nl
        s0[...] = ns
    return lo_out, s_out


def signed_group_sum(
    logs: np.ndarray, signs: np.ndarray, starts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Signed log-sum-exp of contiguous groups: ``logs, signs (n,)``, group ``g`` is
    ``[starts[g], starts[g+1])``. Returns ``(log |sum|, sign)`` each ``(len(starts),)``."""
    if logs.size == 0:
        return np.full(starts.size, -np.inf), np.zeros(starts.size)
    m = np.maximum.reduceat(logs, starts)
    safe = np.where(np.isfinite(m), m, 0.0)
    lengths = np.diff(np.append(starts, logs.size))
    s = np.add.reduceat(signs * np.exp(logs - np.repeat(safe, lengths)), starts)
    with np.errstate(divide="ignore"):
        return np.log(np.abs(s)) + safe, np.sign(s)


def group_logsumexp(logs: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Log-sum-exp of contiguous groups of ``logs (n,)`` starting at ``starts``: ``(len(starts),)``."""
    out, _ = signed_group_sum(logs, np.ones_like(logs), starts)
    return out
