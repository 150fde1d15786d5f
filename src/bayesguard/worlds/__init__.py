"""Worlds with a hidden truth, for experiments: the guard never sees inside them."""

from .goodhart import GoodhartConfig, GoodhartWorld
from .plant import PlantWorld
from .simulated_human import SimulatedHuman

__all__ = ["GoodhartConfig", "GoodhartWorld", "PlantWorld", "SimulatedHuman"]
