"""Bundles for the service tests: the bandit example and a finite "mail" guard that ASKs."""

from __future__ import annotations

import shutil
from pathlib import Path

from bayesguard.service.bundle import build_bundle

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "bundles"

#: Two theories of a mail tool: harmless (0.9) or harmful when sending (0.1); sending is ASKed.
MAIL_TOML = """family = "finite"
[finite]
table = [[[1, 0], [1, 0]], [[1, 0], [0, 1]]]
harmful = [false, true]
prior = [0.9, 0.1]
theory_names = ["harmless", "send-harms"]
action_names = ["read", "send"]
outcome_names = ["fine", "harm"]
[rule]
threshold = 0.2
alpha = 0.01
"""

ARMS = [[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]]


def bandit_bundle(tmp: Path) -> Path:
    for f in EXAMPLES.glob("bandit.*"):
        shutil.copy(f, tmp / f.name)
    return build_bundle(tmp / "bandit.toml", tmp / "bandit-bundle")


def mail_bundle(tmp: Path) -> Path:
    (tmp / "mail.toml").write_text(MAIL_TOML)
    return build_bundle(tmp / "mail.toml", tmp / "mail-bundle")
