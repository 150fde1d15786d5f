"""``Guardrail``: the earlier name of the one :class:`~bayesguard.guard.guard.Guard`, kept as an alias."""

from .audit import read_audit_log
from .guarantees import rule_guarantee
from .guard import HISTORY_SIZE, Guard

Guardrail = Guard

__all__ = ["HISTORY_SIZE", "Guardrail", "read_audit_log", "rule_guarantee"]
