"""Rows of observations about a causal world, some cells set by intervention (``do()``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..._validate import as_float_array


@dataclass(frozen=True)
class CausalData:
    """Rows of observations, some cells set by intervention.

    Attributes:
        values: ``(N, d)`` float64.
        intervened: ``(N, d)`` bool, True where the cell's value was set by ``do()`` (default: none).
    """

    values: np.ndarray
    intervened: np.ndarray | None = None

    def __post_init__(self) -> None:
        v = as_float_array(self.values, "CausalData.values", ndim=2)
        iv = (
            np.zeros(v.shape, dtype=bool)
            if self.intervened is None
            else np.asarray(self.intervened, dtype=bool)
        )
        if iv.shape != v.shape:
            raise ValueError(f"CausalData.intervened: expected shape {v.shape}, got {iv.shape}")
        object.__setattr__(self, "values", v)
        object.__setattr__(self, "intervened", iv)
