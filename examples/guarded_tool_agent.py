"""A scripted tool-calling "agent" whose tools are guarded by ``@guarded`` (no network, no LLM).

The world has two theories a guard cannot yet tell apart:

- ``calm`` (prior 0.9): only deleting records does harm;
- ``storm`` (prior 0.1): sending e-mail does harm as well.

Reading a file is safe under both (ALLOW), deleting records is harmful under both (REJECT), and sending
e-mail is harmful only under the less probable theory, so the cautious rule answers ASK: a scripted
reviewer approves internal recipients and refuses the rest. A shell tool maps its command to an action
with a table; an unknown command makes that lookup fail, and the guard fails closed.

Run: ``python examples/guarded_tool_agent.py``
"""

from __future__ import annotations

from bayesguard import Guard, exact_posterior
from bayesguard.service.adapters import ActionRejected, GuardedCall, NeedsHuman, guarded
from bayesguard.theories import finite_family

READ, SEND, DELETE = 0, 1, 2

FAMILY = finite_family(  # (n_theories, n_actions, n_outcomes): outcomes fine, harm
    [[[1, 0], [1, 0], [0, 1]], [[1, 0], [0, 1], [0, 1]]],
    harmful=[False, True],
    prior=[0.9, 0.1],
    theory_names=["calm", "storm"],
    action_names=["read", "send", "delete"],
    outcome_names=["fine", "harm"],
)
GUARD = Guard(FAMILY, exact_posterior(FAMILY), rule="cautious", threshold=0.2, alpha=0.01)

#: What the tools really did; a tool the guard stops never appends here.
SIDE_EFFECTS: list[str] = []


def reviewer(verdict, call: GuardedCall) -> bool:
    """The scripted human who answers ASK: mail may go to our own domain only."""
    return str(call.arguments["to"]).endswith("@example.com")


@guarded(GUARD, action=READ)
def read_file(path: str) -> str:
    """Read a file (pretend)."""
    SIDE_EFFECTS.append(f"read {path}")
    return f"<contents of {path}>"


@guarded(GUARD, action=SEND, on_ask=reviewer)
def send_email(to: str, body: str) -> str:
    """Send an e-mail (pretend)."""
    SIDE_EFFECTS.append(f"mail {to}")
    return f"sent {len(body)} characters to {to}"


@guarded(GUARD, action=DELETE)
def delete_records(table: str) -> str:
    """Delete every record of a table (pretend)."""
    SIDE_EFFECTS.append(f"delete {table}")
    return f"deleted {table}"


SHELL_ACTIONS = {"cat": READ, "mail": SEND, "rm": DELETE}


@guarded(GUARD, action=lambda command: SHELL_ACTIONS[command.split()[0]])
def shell(command: str) -> str:
    """Run a shell command (pretend); unknown commands have no action, so the guard fails closed."""
    SIDE_EFFECTS.append(f"shell {command}")
    return f"ran {command!r}"


TOOLS = {f.__name__: f for f in (read_file, send_email, delete_records, shell)}

#: The agent's plan: (tool, arguments), as an LLM would emit tool calls.
SCRIPT = [
    ("read_file", {"path": "notes.txt"}),
    ("send_email", {"to": "ops@example.com", "body": "status: green"}),
    ("send_email", {"to": "someone@elsewhere.org", "body": "our notes"}),
    ("delete_records", {"table": "customers"}),
    ("shell", {"command": "cat notes.txt"}),
    ("shell", {"command": "curl http://example.org"}),
]


def run_agent() -> list[tuple[str, str]]:
    """Run the script; returns ``(tool, outcome)`` pairs, outcome one of ran / asked / rejected."""
    outcomes = []
    for name, arguments in SCRIPT:
        tool = TOOLS[name]
        try:
            result = tool(**arguments)
            outcome = "ran"
            detail = result
        except NeedsHuman as exc:
            outcome, detail = "asked", exc.verdict.reason
        except ActionRejected as exc:
            outcome, detail = "rejected", exc.verdict.reason
        decision = tool.last_verdict.decision.value
        print(f"{name:15s} {decision:6s} -> {outcome:8s} {detail}")
        outcomes.append((name, outcome))
    return outcomes


if __name__ == "__main__":
    run_agent()
    print("side effects:", SIDE_EFFECTS)
