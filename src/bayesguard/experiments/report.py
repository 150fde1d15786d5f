"""One report writer for every experiment: CSVs, a JSON record, fixed-width tables and plots.

A run function returns a :class:`Result`; :func:`write_report` writes its raw and summary CSVs and a JSON
of its settings, timings and the machine (all flushed and fsynced), prints its tables and notes, and
draws its plots when matplotlib is installed and plots are wanted.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .results import write_csv, write_json

#: A table column: how to render one cell from a row.
Getter = Callable[[Mapping[str, Any]], object]


def col(key: str, fmt: str = "") -> Getter:
    """The column ``row[key]``, formatted with ``fmt`` (e.g. ``".3f"``); a missing value shows ``-``."""
    return lambda r: "-" if r[key] is None else format(r[key], fmt)


def pm(key: str, digits: int = 3, se: str | None = None) -> Getter:
    """The column ``mean ± 2 se`` of ``row[key]`` and ``row[se]`` (``se`` defaults to ``key + "_se"``)."""
    se_key = se or key + "_se"
    return lambda r: f"{r[key]:.{digits}f} ± {2 * r[se_key]:.{digits}f}"


def yes_no(key: str) -> Getter:
    """The column ``yes``/``no`` of a boolean ``row[key]``."""
    return lambda r: "yes" if r[key] else "no"


#: The columns every verdict table shows: the decision and whether its number is guaranteed.
VERDICT_COLUMNS: dict[str, Getter] = {"verdict": col("decision"), "guaranteed": yes_no("guaranteed")}


def verdict_row(verdict: Any, **labels: Any) -> dict[str, Any]:
    """A CSV-ready row of a :class:`~bayesguard.guard.verdict.Verdict`: ``labels`` first, then every
    field of the verdict (``guaranteed`` included; ``assumptions`` joined by ``"; "``)."""
    row = {**labels, **verdict.to_dict()}
    row["assumptions"] = "; ".join(verdict.assumptions)
    return row


def format_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, Getter]) -> str:
    """A fixed-width text table: a header, a rule of dashes, one line per row."""
    header = list(columns)
    cells = [header] + [[str(get(r)) for get in columns.values()] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


@dataclass(frozen=True)
class Table:
    """A printed table: ``title`` above it, ``note`` below it, one line per row of ``rows``."""

    rows: Sequence[Mapping[str, Any]]
    columns: Mapping[str, Getter]
    title: str = ""
    note: str = ""

    def render(self) -> str:
        parts = [self.title] if self.title else []
        parts.append(format_table(self.rows, self.columns))
        if self.note:
            parts.append(self.note)
        return "\n".join(parts)


@dataclass(frozen=True)
class Plot:
    """A plot hook: ``draw(*data, path)`` draws ``filename`` in the output directory and returns its path
    (one of :mod:`bayesguard.experiments.plots`; it raises ImportError without matplotlib)."""

    filename: str
    draw: Callable[..., Path]
    data: tuple[Any, ...]


@dataclass
class Result:
    """What a run returns for :func:`write_report`.

    Attributes:
        raw: CSV file name -> raw rows (one per episode, task or cell), written in this order.
        summary: CSV file name -> summary rows, written after ``raw``.
        tables: the tables printed, in order.
        settings: what the run was given (written to the JSON record at the top level).
        timings: seconds of its parts (written to the JSON record at the top level).
        record: the JSON record's file name (None: no record).
        plots: plot hooks, drawn unless plots are off or matplotlib is missing.
        notes: lines printed after the tables.
        status: the command's exit status (0; 1 when the run found a failure, e.g. a broken audit chain).
    """

    raw: dict[str, Sequence[dict]] = field(default_factory=dict)
    summary: dict[str, Sequence[dict]] = field(default_factory=dict)
    tables: Sequence[Table] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    record: str | None = None
    plots: Sequence[Plot] = ()
    notes: Sequence[str] = ()
    status: int = 0


def write_report(
    result: Result,
    out: str | Path,
    *,
    plots: bool = True,
    command: str | None = None,
    options: Mapping[str, Any] | None = None,
    seconds: float | None = None,
    stream: TextIO | None = None,
) -> list[Path]:
    """Write ``result`` under ``out`` and print it; return the paths written (CSVs, JSON, plots).

    The JSON record holds ``command``, the result's settings and timings (``seconds``, the whole run, is
    added unless the run timed itself), ``options`` (every option as parsed), the CSV file names and,
    from :func:`~bayesguard.experiments.results.write_json`, the time, machine and git commit.
    """
    stream = stream or sys.stdout
    out = Path(out)
    written = [write_csv(rows, out / name) for name, rows in {**result.raw, **result.summary}.items()]
    if result.record is not None:
        timings = dict(result.timings)
        if seconds is not None:
            timings.setdefault("seconds", seconds)
        record = {
            **({"command": command} if command is not None else {}),
            **result.settings,
            **timings,
            "options": dict(options or {}),
            "files": [p.name for p in written],
        }
        written.append(write_json(record, out / result.record))
    for i, table in enumerate(result.tables):
        print(("\n" if i else "") + table.render(), file=stream)
    for note in result.notes:
        print(note, file=stream)
    if written:
        print("wrote " + ", ".join(str(p) for p in written), file=stream)
    if plots:
        written += draw_plots(result.plots, out, stream)
    stream.flush()
    return written


def draw_plots(hooks: Sequence[Plot], out: Path, stream: TextIO) -> list[Path]:
    """Draw each plot into ``out``; without matplotlib say so once and draw none."""
    drawn = []
    for hook in hooks:
        try:
            path = hook.draw(*hook.data, out / hook.filename)
        except ImportError as exc:
            print(f"no plots: {exc}", file=stream)
            break
        print(f"wrote {path}", file=stream)
        drawn.append(Path(path))
    return drawn
