"""Experiments registered in one place; the ``bayesguard`` command line is built from them.

An :class:`Experiment` names a command (``bayesguard demo``, ``bayesguard bench <name>``), its options
(each with a type, a default and a help text) and a run function that takes the parsed options and
returns a :class:`~bayesguard.experiments.report.Result`; :func:`~bayesguard.experiments.report.write_report`
turns that into files, a table and plots. Register with the decorator::

    @register("bandit", group="bench", help="...", options=(Option("--episodes", "episodes per cell",
              10_000, positive), *common_options("bayesguard-out/bandit")))
    def bandit(args: argparse.Namespace) -> Result: ...

The default :data:`REGISTRY` imports the modules that register the built-in experiments the first time it
is read, so importing this module stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .report import Result

#: Help of each group of subcommands (``bayesguard <group> <name>``).
GROUP_HELP = {
    "bench": "reproducible experiments",
    "audit": "check and replay the audit store",
    "keys": "API keys of the service",
}


class NeedsExtra(RuntimeError):
    """An experiment cannot run without an optional dependency; the message says how to install it."""


# --- option value parsers (argparse ``type=`` functions) ------------------------------------------


def floats(text: str) -> list[float]:
    """``"0.1,1"`` -> ``[0.1, 1.0]``."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def ints(text: str) -> list[int]:
    """``"20,50"`` -> ``[20, 50]``."""
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def positive(text: str) -> int:
    """A positive integer."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def subset_of(allowed: Sequence[str], what: str | None = None) -> Callable[[str], list[str]]:
    """A parser of a non-empty comma-separated subset of ``allowed``; ``what`` words the error."""
    allowed = tuple(allowed)

    def parse(text: str) -> list[str]:
        vals = [t.strip() for t in text.split(",") if t.strip()]
        if not vals or any(v not in allowed for v in vals):
            expected = what or f"a comma-separated subset of {allowed}"
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return vals

    return parse


# --- options and experiments ------------------------------------------------------------------------


def _show(value: Any) -> str:
    """How a default is shown: a list as typed (comma-separated, numbers short but exact), else ``str``."""
    if not isinstance(value, list | tuple):
        return str(value)
    items = []
    for v in value:
        short = f"{v:g}" if isinstance(v, float) else str(v)
        items.append(short if not isinstance(v, float) or float(short) == v else repr(v))
    return ",".join(items)


@dataclass(frozen=True)
class Option:
    """One command-line option of an experiment.

    Attributes:
        flag: the option as typed, e.g. ``"--episodes"``; its value is read as ``args.episodes``. A
            plain name (``"config"``) is an optional positional argument (shown as ``CONFIG``).
        help: what it does, in words (required: the ``--help`` output shows it with the default).
        default: the value when the option is not given (a list default is written comma-separated).
        type: parses the text typed; ``None`` with ``default=False`` makes an on/off switch.
        choices: the allowed values, if they are a fixed few.
    """

    flag: str
    help: str
    default: Any = None
    type: Callable[[str], Any] | None = None
    choices: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        positional = self.flag.isidentifier() and self.flag.islower()
        if not positional and (not self.flag.startswith("--") or len(self.flag) < 3):
            raise ValueError(f"flag: expected '--name' (or a lowercase positional name), got {self.flag!r}")
        if not self.help.strip():
            raise ValueError(f"{self.flag}: every option needs a help text")
        if self.type is None and self.default is not False and self.choices is None:
            raise ValueError(f"{self.flag}: give a type, choices, or default=False for a switch")

    @property
    def dest(self) -> str:
        """The attribute of the parsed namespace."""
        return self.flag[2:].replace("-", "_") if self.flag.startswith("--") else self.flag

    @property
    def is_switch(self) -> bool:
        return self.type is None and self.choices is None and self.default is False

    def shown_default(self) -> str:
        """The default as ``--help`` prints it."""
        return _show(self.default)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        """Add this option to ``parser`` (the help escapes ``%`` for argparse)."""
        help_text = self.help.replace("%", "%%")
        if self.is_switch:
            parser.add_argument(self.flag, action="store_true", help=help_text)
            return
        # a list default goes in as its text, so that --help shows it as typed and argparse parses it
        default = self.shown_default() if isinstance(self.default, list | tuple) else self.default
        kwargs: dict[str, Any] = {"default": default, "help": help_text}
        if self.type is not None:
            kwargs["type"] = self.type
        if self.choices is not None:
            kwargs["choices"] = list(self.choices)
        if not self.flag.startswith("--"):
            kwargs.update(nargs="?", metavar=self.flag.upper())
        parser.add_argument(self.flag, **kwargs)


@dataclass(frozen=True)
class Experiment:
    """A registered experiment: a command, its options and what runs it.

    Attributes:
        name: the command name (``bayesguard <name>`` or ``bayesguard <group> <name>``).
        help: one line for the command list and its ``--help``.
        options: its options; one of them must be ``--out`` (where the report is written).
        run: takes the parsed options and returns a :class:`~bayesguard.experiments.report.Result`.
        group: ``"bench"`` for ``bayesguard bench <name>``, ``None`` for a top-level command.
    """

    name: str
    help: str
    options: tuple[Option, ...]
    run: Callable[[argparse.Namespace], Result]
    group: str | None = None

    def __post_init__(self) -> None:
        if not self.help.strip():
            raise ValueError(f"experiment {self.name!r}: needs a help text")
        flags = [o.flag for o in self.options]
        dupes = sorted({f for f in flags if flags.count(f) > 1})
        if dupes:
            raise ValueError(f"experiment {self.name!r}: options given twice: {dupes}")
        if "--out" not in flags:
            raise ValueError(f"experiment {self.name!r}: needs an --out option")

    @property
    def command(self) -> tuple[str, ...]:
        """The words that start it, e.g. ``("bench", "bandit")``."""
        return (self.name,) if self.group is None else (self.group, self.name)

    def option_values(self, args: argparse.Namespace) -> dict[str, Any]:
        """Every option's parsed value, by name: the run's settings as given."""
        return {o.dest: getattr(args, o.dest) for o in self.options}


def common_options(
    out: str, *, workers: int | None = 2, seeds: int | None = None, backend: bool = False
) -> tuple[Option, ...]:
    """Options every benchmark shares: ``--seeds`` (if ``seeds`` is given), ``--seed``, ``--out``,
    ``--workers``, ``--no-plots``, and with ``backend`` (sweeps run through
    :func:`~bayesguard.experiments.backends.run_tasks`) ``--backend`` and ``--address``."""
    opts = (
        [] if seeds is None else [Option("--seeds", "number of seeds (worlds or data sets)", seeds, positive)]
    )
    where = (
        ()
        if not backend
        else (
            Option(
                "--backend",
                "where the sweep's tasks run: local (a process pool) or ray (Ray tasks; docs/scaling.md)",
                "local",
                choices=("local", "ray"),
            ),
            Option(
                "--address",
                "with --backend ray: the cluster, auto, host:port or ray://host:port "
                "(None: a local Ray with --workers CPUs, stopped at the end)",
                None,
                str,
            ),
        )
    )
    return (
        *opts,
        Option("--seed", "first seed (runs are reproducible from it)", 0, int),
        Option("--out", "directory for the raw CSV/JSON results and plots", out, str),
        Option("--workers", "processes, one core each (None: every CPU)", workers, positive),
        *where,
        Option("--no-plots", "write no PNG plots", False),
    )


class Registry:
    """Experiments in registration order, by command; ``modules`` are imported on first read."""

    def __init__(self, modules: Sequence[str] = ()) -> None:
        self._experiments: dict[tuple[str, ...], Experiment] = {}
        self._modules = tuple(modules)
        self._loaded = not self._modules

    def add(self, experiment: Experiment) -> Experiment:
        """Register ``experiment``; a command can be registered once."""
        if experiment.command in self._experiments:
            raise ValueError(f"experiment {' '.join(experiment.command)!r} is already registered")
        self._experiments[experiment.command] = experiment
        return experiment

    def register(
        self, name: str, *, help: str, options: Sequence[Option], group: str | None = None
    ) -> Callable[[Callable[[argparse.Namespace], Result]], Callable[[argparse.Namespace], Result]]:
        """Decorator: register the decorated run function as experiment ``name``; returns it unchanged."""

        def decorate(run: Callable[[argparse.Namespace], Result]) -> Callable[[argparse.Namespace], Result]:
            self.add(Experiment(name, help, tuple(options), run, group))
            return run

        return decorate

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)

    def get(self, *command: str) -> Experiment:
        """The experiment started by ``command``, e.g. ``get("bench", "bandit")``."""
        self._load()
        return self._experiments[tuple(command)]

    def __iter__(self) -> Iterator[Experiment]:
        self._load()
        return iter(list(self._experiments.values()))

    def __len__(self) -> int:
        self._load()
        return len(self._experiments)


#: The built-in experiments: ``bayesguard demo`` and the ``bayesguard bench`` commands.
REGISTRY = Registry(
    modules=(
        "bayesguard.experiments.demo",
        "bayesguard.experiments.benches",
        "bayesguard.experiments.ood",
        "bayesguard.experiments.reward_posterior",
        "bayesguard.experiments.preferences",
        "bayesguard.experiments.gridworlds",
        "bayesguard.experiments.fit",
        "bayesguard.experiments.audit",
        "bayesguard.experiments.serve",
        "bayesguard.experiments.mcp_cmd",
    )
)
register = REGISTRY.register
