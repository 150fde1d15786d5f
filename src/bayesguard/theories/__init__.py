"""Theory families: spaces of explicit, printable hypotheses about the world."""

from .bandit import BanditData, LinearBanditFamily, harm_table
from .base import EnumerableFamily, TheoryFamily
from .finite import FiniteData, FiniteFamily, finite_family

__all__ = [
    "BanditData",
    "EnumerableFamily",
    "FiniteData",
    "FiniteFamily",
    "LinearBanditFamily",
    "TheoryFamily",
    "finite_family",
    "harm_table",
]
