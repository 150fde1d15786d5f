"""Causal Bayesian networks as theories: graphs, scores, parameter posteriors and interventions.

The public API of the causal kind of theory: :class:`CausalFamily` (the family the one guard takes),
:class:`HarmSpec` (the question: a harm event written as text, actions as interventions, the context
observed before acting), :class:`HumanTheory` (people's theories), :class:`StructurePrior`,
:class:`CausalData` (rows, some set by experiments) and the exact posterior over small graphs.

Conventions shared by every module of this package:

- ``d`` variables, indexed ``0..d-1`` in the column order of the data (names kept beside).
- A graph is a boolean adjacency matrix ``adj`` of shape ``(d, d)`` with ``adj[i, j] = True`` for the
  edge ``i -> j``; a batch of graphs is ``(n, d, d)``.
- The parent set of node ``j`` is also written as a bitmask ``sum_i adj[i, j] << i`` (``int64``; so
  ``d <= 62``), which keys the cache of local scores.
- Scores are log marginal likelihoods, decomposable: ``log p(D | G) = sum_j local(j, pa_j)``.
"""

from .graph_family import CausalFamily
from .harm import HarmEvent, HarmSpec
from .human import HumanTheory
from .observations import CausalData
from .prior import StructurePrior
from .scores import BDeuScore, BGeScore
from .structure import StructureScore, exact_structure_posterior

__all__ = [
    "BDeuScore",
    "BGeScore",
    "CausalData",
    "CausalFamily",
    "HarmEvent",
    "HarmSpec",
    "HumanTheory",
    "StructurePrior",
    "StructureScore",
    "exact_structure_posterior",
]
