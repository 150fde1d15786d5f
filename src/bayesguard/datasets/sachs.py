"""The Sachs et al. (2005) flow-cytometry data shipped in ``bayesguard/datasets/sachs`` (see the README there
for source, licence and the edge-count decision): :func:`load_sachs`, :func:`sachs_consensus`."""

from __future__ import annotations

import functools
from importlib import resources
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..graphs.dag import _as_adj

_SACHS = resources.files("bayesguard").joinpath("datasets", "sachs")
SACHS_DATA_FILE = "cyto_full_data.csv.gz"
SACHS_TARGET_FILE = "cyto_full_target.csv"
#: The edge of the target file dropped by ``sachs_consensus(acyclic=True)`` (see datasets/sachs/README.md).
SACHS_DROPPED_EDGE = ("PIP3", "plcg")


class LabelledGraph(NamedTuple):
    """A graph with node names: ``adj`` ``(d, d)`` bool and ``names`` (``d`` strings)."""

    adj: np.ndarray
    names: tuple[str, ...]


@functools.lru_cache(maxsize=1)
def _sachs_frame() -> pd.DataFrame:
    with _SACHS.joinpath(SACHS_DATA_FILE).open("rb") as fh:
        return pd.read_csv(fh, compression="gzip")


def load_sachs() -> pd.DataFrame:
    """The Sachs et al. (2005) flow-cytometry measurements: 7,466 cells x 11 proteins (float64).

    Columns, in order: ``praf, pmek, plcg, PIP2, PIP3, p44/42, pakts473, PKA, PKC, P38, pjnk``. The rows
    pool several experimental conditions without a column saying which (as distributed by the ``cdt``
    package; see ``bayesguard/datasets/sachs/README.md``). Returns a fresh copy on each call.

    Returns:
        DataFrame of shape ``(7466, 11)``.
    """
    return _sachs_frame().copy()


def sachs_consensus(acyclic: bool = False) -> LabelledGraph:
    """The consensus signalling network of Sachs et al. (2005), from ``cdt``'s ``cyto_full_target.csv``.

    The file lists 18 edges, among them the directed cycle ``PIP3 -> plcg -> PIP2 -> PIP3``, so it is not
    a DAG. With ``acyclic=True`` the edge ``PIP3 -> plcg`` (one of the two cycle edges that Sachs et al.'s
    learned model orients the other way) is dropped, giving a 17-edge DAG. That is *not* the 17-arc
    network often quoted via bnlearn (the paper's learned model; SHD 7 from this one); see
    ``bayesguard/datasets/sachs/README.md``.

    Args:
        acyclic: drop ``PIP3 -> plcg`` to break the only cycle.

    Returns:
        :class:`LabelledGraph` with ``adj`` ``(11, 11)`` bool in the column order of :func:`load_sachs`.
    """
    names = tuple(str(c) for c in _sachs_frame().columns)
    index = {n: k for k, n in enumerate(names)}
    with _SACHS.joinpath(SACHS_TARGET_FILE).open("r", encoding="utf-8") as fh:
        edges = pd.read_csv(fh)
    adj = np.zeros((len(names), len(names)), dtype=bool)
    adj[edges["Cause"].map(index).to_numpy(), edges["Effect"].map(index).to_numpy()] = True
    if acyclic:
        adj[index[SACHS_DROPPED_EDGE[0]], index[SACHS_DROPPED_EDGE[1]]] = False
    return LabelledGraph(_as_adj(adj, ndim=2), names)
