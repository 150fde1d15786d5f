"""Data sets: synthetic structural causal models, user tables and their validation, shipped data."""

from .sachs import SACHS_DROPPED_EDGE, LabelledGraph, load_sachs, sachs_consensus
from .synthetic import SyntheticDiscreteSCM, SyntheticSCM, sample_discrete_scm, sample_linear_gaussian_scm
from .tables import MIN_ROWS, Table, validate_table

__all__ = [
    "MIN_ROWS",
    "SACHS_DROPPED_EDGE",
    "LabelledGraph",
    "SyntheticDiscreteSCM",
    "SyntheticSCM",
    "Table",
    "load_sachs",
    "sachs_consensus",
    "sample_discrete_scm",
    "sample_linear_gaussian_scm",
    "validate_table",
]
