"""Gymnasium environments of bayesguard's worlds, and the :class:`GuardWrapper` that guards any agent.

Needs the ``gym`` extra (``pip install "bayesguard[gym]"``). Importing this module registers
``bayesguard/ExplodingBandit-v0`` and the AI Safety Gridworlds (:mod:`.gridworlds`) with Gymnasium.
"""

from __future__ import annotations

try:
    import gymnasium as gym
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError('bayesguard.envs needs Gymnasium: pip install "bayesguard[gym]"') from exc

from . import gridworlds  # registers the AI Safety Gridworlds (bayesguard/<World>-v0)
from .bandit import ExplodingBanditEnv
from .finite import FiniteWorldEnv
from .plant import PlantEnv
from .wrappers import GuardWrapper

BANDIT_ID = "bayesguard/ExplodingBandit-v0"
if BANDIT_ID not in gym.registry:
    gym.register(id=BANDIT_ID, entry_point="bayesguard.envs.bandit:ExplodingBanditEnv")

__all__ = ["BANDIT_ID", "gridworlds", "ExplodingBanditEnv", "FiniteWorldEnv", "GuardWrapper", "PlantEnv"]
