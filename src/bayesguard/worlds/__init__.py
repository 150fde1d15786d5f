"""Worlds with a hidden truth, for experiments: the guard never sees inside them."""

from .plant import PlantWorld

__all__ = ["PlantWorld"]
