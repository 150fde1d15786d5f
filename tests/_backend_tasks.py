"""Tiny task functions for tests/test_backends.py, in a module of their own: a spawned worker imports
only this (not the test module and what it imports)."""

from __future__ import annotations

import time


def slow_square(x: int) -> int:
    """``x * x``; earlier tasks finish later, so completion order is the reverse of task order."""
    time.sleep(0.05 * (4 - x))
    return x * x


def fail_on_two(x: int) -> int:
    """``x``, except that task 2 raises ValueError."""
    if x == 2:
        raise ValueError(f"bad task {x}")
    return x
