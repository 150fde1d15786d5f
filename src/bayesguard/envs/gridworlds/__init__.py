"""The AI Safety Gridworlds (Leike et al. 2017, arXiv:1711.09883), built natively on one engine.

Importing this package registers one Gymnasium id per world and level: ``bayesguard/<Name>-v0`` for
level 0 and ``bayesguard/<Name>-level<k>-v0`` for level k >= 1. :data:`WORLDS` maps the short name of
each world to its class. A world module that is not present (yet) is skipped, not an import error.

| short name | id name | module:class |
|---|---|---|
| off-switch | SafeInterruptibility | off_switch:SafeInterruptibilityEnv |
| side-effects | SideEffectsSokoban | sokoban:SideEffectsSokobanEnv |
| absent-supervisor | AbsentSupervisor | absent_supervisor:AbsentSupervisorEnv |
| boat-race | BoatRace | boat_race:BoatRaceEnv |
| tomato-watering | TomatoWatering | tomato:TomatoWateringEnv |
| whisky-gold | WhiskyGold | whisky_gold:WhiskyGoldEnv |
| distributional-shift | DistributionalShift | lava:DistributionalShiftEnv |
| island-navigation | IslandNavigation | island:IslandNavigationEnv |
| friend-foe | FriendFoe | friend_foe:FriendFoeEnv |
| conveyor-belt | ConveyorBelt | conveyor:ConveyorBeltEnv |
| rocks-diamonds | RocksDiamonds | rocks_diamonds:RocksDiamondsEnv |

A module's class is found by that name, or else as the one :class:`GridWorldEnv` subclass in the module
whose ``spec_world`` is the short name.
"""

from __future__ import annotations

import importlib

import gymnasium as gym

from .engine import (
    ACTION_NAMES,
    ACTIONS,
    DOWN,
    LEFT,
    NOOP,
    RIGHT,
    UP,
    EpisodeResult,
    GridState,
    GridWorldEnv,
    Outcome,
    PolicyValue,
    move,
    parse,
    policy_value,
    run_episode,
)

#: (short name, Gymnasium id name, module, class name) of every world of the suite.
CATALOGUE: tuple[tuple[str, str, str, str], ...] = (
    ("off-switch", "SafeInterruptibility", "off_switch", "SafeInterruptibilityEnv"),
    ("side-effects", "SideEffectsSokoban", "sokoban", "SideEffectsSokobanEnv"),
    ("absent-supervisor", "AbsentSupervisor", "absent_supervisor", "AbsentSupervisorEnv"),
    ("boat-race", "BoatRace", "boat_race", "BoatRaceEnv"),
    ("tomato-watering", "TomatoWatering", "tomato", "TomatoWateringEnv"),
    ("whisky-gold", "WhiskyGold", "whisky_gold", "WhiskyGoldEnv"),
    ("distributional-shift", "DistributionalShift", "lava", "DistributionalShiftEnv"),
    ("island-navigation", "IslandNavigation", "island", "IslandNavigationEnv"),
    ("friend-foe", "FriendFoe", "friend_foe", "FriendFoeEnv"),
    ("conveyor-belt", "ConveyorBelt", "conveyor", "ConveyorBeltEnv"),
    ("rocks-diamonds", "RocksDiamonds", "rocks_diamonds", "RocksDiamondsEnv"),
)

WORLDS: dict[str, type[GridWorldEnv]] = {}
#: Short name -> the registered Gymnasium ids, level order.
WORLD_IDS: dict[str, list[str]] = {}


def env_id(name: str, level: int = 0) -> str:
    """The Gymnasium id of world ``name`` (its id name, e.g. ``"BoatRace"``) at ``level``."""
    return f"bayesguard/{name}-v0" if level == 0 else f"bayesguard/{name}-level{level}-v0"


def _find_class(short: str, module: str, cls_name: str) -> type[GridWorldEnv] | None:
    full = f"{__name__}.{module}"
    try:
        mod = importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name == full:  # the module itself is absent: skip; a missing dependency inside is an error
            return None
        raise
    cls = getattr(mod, cls_name, None)
    if isinstance(cls, type) and issubclass(cls, GridWorldEnv):
        return cls
    found = [
        c
        for c in vars(mod).values()
        if isinstance(c, type) and issubclass(c, GridWorldEnv) and c.spec_world == short
    ]
    return found[0] if len(found) == 1 else None


def _register_all() -> None:
    for short, name, module, cls_name in CATALOGUE:
        cls = _find_class(short, module, cls_name)
        if cls is None:
            continue
        WORLDS[short] = cls
        entry = f"{cls.__module__}:{cls.__qualname__}"
        WORLD_IDS[short] = []
        for level in range(len(cls.levels)):
            gid = env_id(name, level)
            if gid not in gym.registry:
                gym.register(id=gid, entry_point=entry, kwargs={"level": level})
            WORLD_IDS[short].append(gid)


_register_all()

__all__ = [
    "ACTIONS",
    "ACTION_NAMES",
    "CATALOGUE",
    "DOWN",
    "LEFT",
    "NOOP",
    "RIGHT",
    "UP",
    "WORLDS",
    "WORLD_IDS",
    "EpisodeResult",
    "GridState",
    "GridWorldEnv",
    "Outcome",
    "PolicyValue",
    "env_id",
    "move",
    "parse",
    "policy_value",
    "run_episode",
]
