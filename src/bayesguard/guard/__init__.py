"""Decision rules, verdicts and the guardrail object."""

from .audit import read_audit_log
from .configs import BoundConfig, SearchConfig, SuggestConfig, UpdateConfig
from .guard import Guard
from .guardrail import Guardrail
from .reward_rules import (
    RewardRule,
    RewardRuleConfig,
    RewardRuleResult,
    apply_reward_rule,
    quantilize,
    quantilizer_distribution,
    regret_harm,
)
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
    "BoundConfig",
    "Guard",
    "SearchConfig",
    "SuggestConfig",
    "UpdateConfig",
    "Decision",
    "Guardrail",
    "RewardRule",
    "RewardRuleConfig",
    "RewardRuleResult",
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
    "apply_reward_rule",
    "quantilize",
    "quantilizer_distribution",
    "regret_harm",
    "read_audit_log",
]
