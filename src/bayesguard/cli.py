"""The ``bayesguard`` command, built from the registered experiments.

Every experiment in :data:`bayesguard.experiments.registry.REGISTRY` becomes a command
(``bayesguard demo``, ``bayesguard bench <name>``) with its options, each shown with its help and default;
running it calls the experiment and hands its result to the one report writer,
:func:`bayesguard.experiments.report.write_report`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence

import numpy as np

from .experiments.registry import GROUP_HELP, REGISTRY, NeedsExtra, Registry
from .experiments.report import write_report

_FORMAT = argparse.ArgumentDefaultsHelpFormatter


def build_parser(registry: Registry | None = None) -> argparse.ArgumentParser:
    """The argument parser: one subcommand per registered experiment (``registry`` defaults to
    :data:`~bayesguard.experiments.registry.REGISTRY`)."""
    registry = REGISTRY if registry is None else registry
    parser = argparse.ArgumentParser(
        prog="bayesguard",
        description="A Bayesian harm guardrail between an AI agent and the world.",
        formatter_class=_FORMAT,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for exp in registry:
        target = sub
        if exp.group is not None:
            if exp.group not in groups:
                group = sub.add_parser(
                    exp.group, help=GROUP_HELP.get(exp.group, exp.group), formatter_class=_FORMAT
                )
                groups[exp.group] = group.add_subparsers(dest=exp.group, required=True)
            target = groups[exp.group]
        p = target.add_parser(exp.name, help=exp.help, description=exp.help, formatter_class=_FORMAT)
        for option in exp.options:
            option.add_to(p)
        p.set_defaults(experiment=exp)
    return parser


def main(argv: Sequence[str] | None = None, registry: Registry | None = None) -> int:
    """Run ``bayesguard`` with ``argv`` (default: the process's arguments); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(registry)
    args = parser.parse_args(argv)
    exp = args.experiment
    try:
        t0 = time.perf_counter()
        result = exp.run(args)
        seconds = time.perf_counter() - t0
        write_report(
            result,
            args.out,
            plots=not getattr(args, "no_plots", False),
            command=shlex.join(["bayesguard", *argv]),
            options=exp.option_values(args),
            seconds=seconds,
        )
    except NeedsExtra as exc:
        print(exc, file=sys.stderr)
        return 2
    except (ValueError, TypeError) as exc:
        parser.exit(2, f"bayesguard: error: {exc}\n")
    return result.status


if __name__ == "__main__":  # pragma: no cover
    np.seterr(all="warn")
    sys.exit(main())
