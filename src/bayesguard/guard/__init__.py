"""Decision rules, verdicts and the guardrail object."""

from .guardrail import Guardrail, read_audit_log
from .rules import (
    Rule,
    RuleResult,
    cautious_cutoff,
    cautious_iid_rule,
    cautious_members,
    cautious_rule,
    cautious_set_size,
    harm_estimate,
    posterior_rule,
)
from .verdict import Decision, Verdict

__all__ = [
    "Decision",
    "Guardrail",
    "Rule",
    "RuleResult",
    "Verdict",
    "cautious_cutoff",
    "cautious_iid_rule",
    "cautious_members",
    "cautious_rule",
    "cautious_set_size",
    "harm_estimate",
    "posterior_rule",
    "read_audit_log",
]
