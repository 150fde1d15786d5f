"""The configuration of a fitted guard, read from TOML and written back as TOML.

A guard is fitted from one TOML file (``bayesguard fit CONFIG``)::

    family = "causal"                  # the only family fitted from a config so far

    [data]
    csv = "plant.csv"                  # relative to the config file; header row = variable names
    kind = "continuous"                # or "discrete" (then categories may be declared)
    # categories = { status = ["ok", "critical"] }

    [harm]
    event = "pressure > 2.5"           # the harm, as text (HarmEvent.parse)
    actions = [{}, { valve = 3.0 }]    # interventions; {} is "do nothing"
    action_names = ["do nothing", "open the valve"]
    context = []                       # variables observed before acting

    [rule]
    threshold = 0.05                   # C
    alpha = 0.01
    delta = 0.05

    [prior]
    kind = "uniform"                   # or "erdos-renyi" with expected_edges

    [sampler]
    method = "exact"                   # exact enumeration (d <= 5) or "mcmc" (structure MCMC)
    seed = 0
    n_steps = 20000                    # mcmc: the budget, steps per chain
    n_chains = 4
    n_theories = 1000                  # Monte-Carlo theories behind the 1 - delta bound
    n_param_draws = 16

Every field is checked; an unknown, missing or ill-typed field raises ValueError naming it
(``"harm.event: ..."``). :meth:`FitConfig.to_toml` writes the configuration back (the bundle's
``config.toml``), and :func:`parse_config` of that text gives an equal :class:`FitConfig`.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class Sampler(StrEnum):
    """How the posterior over graphs is computed."""

    EXACT = "exact"
    MCMC = "mcmc"


FAMILIES = ("causal",)
_SECTIONS = {
    "data": {"csv", "kind", "categories", "source"},
    "harm": {"event", "actions", "action_names", "context"},
    "rule": {"threshold", "alpha", "delta"},
    "prior": {"kind", "expected_edges"},
    "sampler": {"method", "seed", "n_steps", "n_chains", "n_theories", "n_param_draws"},
}


@dataclass(frozen=True)
class FitConfig:
    """A causal guard's configuration as given (see the module docstring for each field).

    ``csv`` is resolved against the config file's directory; ``source`` is where the data came from
    (informative only: a bundle's copy is ``data.csv``).
    """

    csv: Path
    harm: str
    actions: tuple[dict[str, Any], ...]
    action_names: tuple[str, ...] | None = None
    context: tuple[str, ...] = ()
    kind: str = "continuous"
    categories: dict[str, tuple[Any, ...]] | None = None
    source: str | None = None
    threshold: float = 0.05
    alpha: float = 0.01
    delta: float = 0.05
    prior: str = "uniform"
    expected_edges: float | None = None
    sampler: Sampler = Sampler.EXACT
    seed: int = 0
    n_steps: int = 20_000
    n_chains: int = 4
    n_theories: int = 1000
    n_param_draws: int = 16
    family: str = "causal"

    def to_toml(self, csv: str | None = None) -> str:
        """The configuration as TOML text, with ``[data] csv`` set to ``csv`` (default: as given)."""
        data: dict[str, Any] = {"csv": csv or str(self.csv), "kind": self.kind}
        if self.source is not None or csv is not None:
            data["source"] = self.source or str(self.csv)
        if self.categories is not None:
            data["categories"] = {k: list(v) for k, v in self.categories.items()}
        harm: dict[str, Any] = {
            "event": self.harm,
            "actions": list(self.actions),
            "context": list(self.context),
        }
        if self.action_names is not None:
            harm["action_names"] = list(self.action_names)
        prior: dict[str, Any] = {"kind": self.prior}
        if self.expected_edges is not None:
            prior["expected_edges"] = self.expected_edges
        sections = {
            "data": data,
            "harm": harm,
            "rule": {"threshold": self.threshold, "alpha": self.alpha, "delta": self.delta},
            "prior": prior,
            "sampler": {
                "method": self.sampler.value,
                "seed": self.seed,
                "n_steps": self.n_steps,
                "n_chains": self.n_chains,
                "n_theories": self.n_theories,
                "n_param_draws": self.n_param_draws,
            },
        }
        lines = [f"family = {_toml(self.family)}"]
        for name, body in sections.items():
            lines += ["", f"[{name}]"] + [f"{k} = {_toml(v)}" for k, v in body.items()]
        return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    """One TOML value: a string, bool, int, finite float, list or inline table."""
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"config: cannot write the non-finite number {value!r}")
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"config: cannot write {type(value).__name__} {value!r} as TOML")


def _get(section: Mapping[str, Any], where: str, key: str, types: tuple[type, ...], default: Any) -> Any:
    value = section.get(key, default)
    if value is _REQUIRED:
        raise ValueError(f"{where}.{key}: required field missing")
    if value is None or value is default:
        return value
    if isinstance(value, bool) and bool not in types:
        raise ValueError(f"{where}.{key}: expected {'/'.join(t.__name__ for t in types)}, got {value!r}")
    if not isinstance(value, types):
        raise ValueError(f"{where}.{key}: expected {'/'.join(t.__name__ for t in types)}, got {value!r}")
    return value


_REQUIRED = object()


def _unit(section: Mapping[str, Any], where: str, key: str, default: float, open_left: bool) -> float:
    value = float(_get(section, where, key, (int, float), default))
    if not (0.0 <= value <= 1.0) or (open_left and value == 0.0):
        bracket = "(0, 1]" if open_left else "[0, 1]"
        raise ValueError(f"{where}.{key}: expected a number in {bracket}, got {value!r}")
    return value


def _count(section: Mapping[str, Any], where: str, key: str, default: int, minimum: int = 1) -> int:
    value = _get(section, where, key, (int,), default)
    if value < minimum:
        raise ValueError(f"{where}.{key}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _strings(value: Any, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{field}: expected a list of strings, got {value!r}")
    return tuple(value)


def parse_config(raw: Mapping[str, Any], base: str | Path = ".") -> FitConfig:
    """Check a parsed TOML document and return its :class:`FitConfig` (``data.csv`` resolved against
    ``base``). Raises ValueError naming the first bad field."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"config: expected a TOML table, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_SECTIONS) - {"family"})
    if unknown:
        raise ValueError(f"config: unknown field {unknown[0]!r}; expected family and {sorted(_SECTIONS)}")
    family = _get(raw, "config", "family", (str,), "causal")
    if family not in FAMILIES:
        raise ValueError(f"config.family: expected one of {FAMILIES}, got {family!r}")
    sec: dict[str, Mapping[str, Any]] = {}
    for name, keys in _SECTIONS.items():
        body = raw.get(name, {})
        if not isinstance(body, Mapping):
            raise ValueError(f"{name}: expected a [{name}] table, got {body!r}")
        extra = sorted(set(body) - keys)
        if extra:
            raise ValueError(f"{name}.{extra[0]}: unknown field; expected one of {sorted(keys)}")
        sec[name] = body
    data, harm, rule, prior, smp = (sec[k] for k in _SECTIONS)
    csv = Path(_get(data, "data", "csv", (str,), _REQUIRED))
    kind = _get(data, "data", "kind", (str,), "continuous")
    if kind not in ("continuous", "discrete"):
        raise ValueError(f"data.kind: expected 'continuous' or 'discrete', got {kind!r}")
    cats = _get(data, "data", "categories", (dict,), None)
    if cats is not None:
        if kind != "discrete":
            raise ValueError("data.categories: only a discrete table declares categories")
        for k, v in cats.items():
            if not isinstance(v, list):
                raise ValueError(f"data.categories.{k}: expected a list of labels, got {v!r}")
        cats = {str(k): tuple(v) for k, v in cats.items()}
    event = _get(harm, "harm", "event", (str,), _REQUIRED)
    actions = _get(harm, "harm", "actions", (list,), _REQUIRED)
    if not actions or not all(isinstance(a, dict) for a in actions):
        raise ValueError(
            f"harm.actions: expected a non-empty list of tables {{variable = value}}, got {actions!r}"
        )
    names = harm.get("action_names")
    action_names = None if names is None else _strings(names, "harm.action_names")
    context = _strings(harm.get("context", []), "harm.context")
    prior_kind = _get(prior, "prior", "kind", (str,), "uniform")
    if prior_kind not in ("uniform", "erdos-renyi"):
        raise ValueError(f"prior.kind: expected 'uniform' or 'erdos-renyi', got {prior_kind!r}")
    edges = _get(prior, "prior", "expected_edges", (int, float), None)
    if (prior_kind == "erdos-renyi") != (edges is not None):
        raise ValueError("prior.expected_edges: give it exactly when prior.kind = 'erdos-renyi'")
    method = _get(smp, "sampler", "method", (str,), "exact")
    try:
        sampler = Sampler(method)
    except ValueError:
        raise ValueError(
            f"sampler.method: expected one of {[s.value for s in Sampler]}, got {method!r}"
        ) from None
    source = _get(data, "data", "source", (str,), None)
    return FitConfig(
        csv=csv if csv.is_absolute() else Path(base) / csv,
        harm=event,
        actions=tuple(dict(a) for a in actions),
        action_names=action_names,
        context=context,
        kind=kind,
        categories=cats,
        source=source,
        threshold=_unit(rule, "rule", "threshold", 0.05, False),
        alpha=_unit(rule, "rule", "alpha", 0.01, True),
        delta=_unit(rule, "rule", "delta", 0.05, True),
        prior=prior_kind,
        expected_edges=None if edges is None else float(edges),
        sampler=sampler,
        seed=_count(smp, "sampler", "seed", 0, minimum=0),
        n_steps=_count(smp, "sampler", "n_steps", 20_000, minimum=2),
        n_chains=_count(smp, "sampler", "n_chains", 4),
        n_theories=_count(smp, "sampler", "n_theories", 1000),
        n_param_draws=_count(smp, "sampler", "n_param_draws", 16),
        family=family,
    )


def load_config(path: str | Path) -> FitConfig:
    """Read and check the TOML file ``path`` (``data.csv`` relative to its directory)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config: {path} is not a file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"config: {path} is not valid TOML ({exc})") from exc
    return parse_config(raw, path.parent)
