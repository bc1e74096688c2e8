"""Configuration is data: dataclasses filled from papermill parameters or `params/<profile>.yaml`.

`load_profile("cpu")` reads `params/cpu.yaml`: a `common` section (dataset, data_root, seed, device, and the decoders x
seeds the runs are trained for) and one section per notebook (keyed by the notebook's stem, e.g. `01_data`).
`notebook_parameters(profile, stem)` merges `common` with that notebook's section (`python -m lmvid_lib.train --profile`
reads its training runs so); `lmvid run` (`lmvid_lib.publish.runner`) hands each notebook the `common` keys its
parameters cell declares, its own section, `profile` and `run_dir`, after `check_profile` has checked every key against
the notebooks' parameters cells; `apply_overrides` applies the `--param NB.KEY=VALUE` overrides.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import yaml

from lmvid_lib import paths

T = TypeVar("T")

RUNNER_KEYS = ("profile", "run_dir")  # set by `lmvid run` itself, never by a profile


def from_dict(cls: type[T], mapping: Mapping[str, Any] | None, name: str | None = None) -> T:
    """Build dataclass `cls` from `mapping`; unknown keys raise a ValueError naming the key and the config.

    Nested dataclass fields are filled recursively from nested mappings. Missing keys keep their defaults.
    """
    name = name or cls.__name__
    mapping = dict(mapping or {})
    _check_fields(cls, mapping, name)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in mapping.items():
        hint = hints.get(key)
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            value = from_dict(hint, value, f"{name}.{key}")
        kwargs[key] = value
    return cls(**kwargs)


def _check_fields(cls: type, mapping: Mapping[str, Any], name: str) -> None:
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {unknown}; known: {sorted(fields)}")


def check_keys(cls: type, mapping: Mapping[str, Any], name: str) -> None:
    """The key check of `from_dict(cls, mapping, name)` alone, nested dataclass fields included, without building
    `cls` (so values the notebook completes later are not judged): a ValueError naming an unknown key and the known
    ones."""
    _check_fields(cls, mapping, name)
    hints = typing.get_type_hints(cls)
    for key, value in mapping.items():
        if dataclasses.is_dataclass(hints.get(key)) and isinstance(value, Mapping):
            check_keys(hints[key], value, f"{name}.{key}")


def profile_path(profile: str | Path) -> Path:
    path = Path(profile)
    if path.suffix in (".yaml", ".yml"):
        return path
    return paths.PARAMS_DIR / f"{profile}.yaml"


def load_profile(profile: str | Path) -> dict[str, Any]:
    """Read a profile (a name such as 'cpu' or a path to a yaml file) into a dict."""
    path = profile_path(profile)
    if not path.is_file():
        known = sorted(p.stem for p in paths.PARAMS_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"profile {str(profile)!r}: no file {path} (known profiles: {known})")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict) or "common" not in data:
        raise ValueError(f"{path}: expected a mapping with a 'common' section")
    return data


def notebook_parameters(profile: str | Path, notebook_stem: str) -> dict[str, Any]:
    """Parameters for one notebook: the profile's `common` section overlaid with the notebook's own section."""
    data = load_profile(profile)
    params = dict(data["common"])
    params.update(data.get(notebook_stem) or {})
    return params


def check_profile(data: Mapping[str, Any], declared: Mapping[str, Collection[str]], path: str | Path) -> None:
    """Raise a ValueError naming the first unknown key of profile `data` (read from `path`) and the valid ones.

    `declared`: {notebook stem: the names its parameters cell declares}. A section must name a notebook, a `common`
    key must be declared by some notebook (it goes to those that declare it), a section key by its notebook;
    `profile` and `run_dir` are the runner's.
    """
    sections = sorted(set(data) - {"common"} - set(declared))
    if sections:
        raise ValueError(f"{path}: section(s) {sections} name no notebook of _toc.yml (notebooks: {sorted(declared)})")
    every = set().union(*declared.values()) - set(RUNNER_KEYS)
    for stem in ["common", *(s for s in data if s != "common")]:
        section = data[stem] if data[stem] is not None else {}
        if not isinstance(section, Mapping):
            raise ValueError(f"{path}: section {stem!r} must be a mapping of parameters, got {section!r}")
        valid = every if stem == "common" else set(declared[stem]) - set(RUNNER_KEYS)
        unknown = sorted(set(section) - valid)
        if unknown:
            who = "no notebook declares" if stem == "common" else f"nbs/{stem}.py does not declare"
            raise ValueError(
                f"{path}: section {stem!r} sets {unknown}, which {who} in its parameters cell (valid: {sorted(valid)})"
            )


def parse_override(item: str) -> tuple[list[str], Any]:
    """`NB.KEY[.SUB...]=VALUE` (a `--param` of `lmvid run`) -> ([NB, KEY, SUB...], VALUE parsed as YAML)."""
    path, sep, text = item.partition("=")
    keys = path.strip().split(".")
    if not sep or len(keys) < 2 or not all(keys):
        raise ValueError(
            f"--param {item!r}: expected NOTEBOOK.KEY=VALUE, e.g. 02_factorization.factorization.steps=200 "
            "(NOTEBOOK: a stem, its numeric prefix, or common)"
        )
    try:
        return keys, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"--param {item!r}: the value is not YAML ({exc})") from None


def apply_overrides(mapping: Mapping[str, Any], overrides: Sequence[tuple[Sequence[str], Any]]) -> dict[str, Any]:
    """A copy of `mapping` with each ([key, sub, ...], value) set; a dotted path sets one entry inside a mapping and
    keeps its other entries (["factorization", "steps"] in a notebook's parameters)."""
    result = copy.deepcopy(dict(mapping))
    for keys, value in overrides:
        node = result
        for depth, key in enumerate(keys[:-1]):
            if node.get(key) is None:
                node[key] = {}
            if not isinstance(node[key], dict):
                raise ValueError(f"{'.'.join(keys[: depth + 1])} is {node[key]!r}, not a mapping")
            node = node[key]
        node[keys[-1]] = value
    return result


# ------------------------------------------------------------------------------------------- parameter checks
# The one set of checks every config and function argument uses, so each bad value gets one error naming it.


def is_int(value: object, low: int | None = None, high: int | None = None) -> bool:
    """Whether `value` is an int (numpy's too; never a bool) with low <= value < high where given."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        return False
    return (low is None or value >= low) and (high is None or value < high)


def check_int(value: object, name: str, low: int = 1, high: int | None = None, what: str = "") -> int:
    """`value` as an int in [low, high) (high None: no upper bound); else a ValueError naming `name`.

    `what` says what the bound counts, e.g. " (the clip's frames)"."""
    if is_int(value, low, high):
        return int(value)
    if high is not None:
        need = f"an int in [{low}, {high}){what}"
    else:
        need = f"a positive int{what}" if low == 1 else f"an int >= {low}{what}"
    raise ValueError(f"{name} must be {need}, got {value!r}")


def check_optional_int(value: object, name: str, low: int = 1) -> int | None:
    """None, or `value` as in `check_int(value, name, low)`."""
    if value is None:
        return None
    if is_int(value, low):
        return int(value)
    need = "a positive int" if low == 1 else f"an int >= {low}"
    raise ValueError(f"{name} must be {need} or None, got {value!r}")


def check_number(
    value: object, name: str, low: float | None = None, high: float | None = None, strict: bool = False
) -> float:
    """`value` as a finite float with low <= value <= high where given (`strict`: low < value); else a ValueError
    naming `name`."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.number)) and math.isfinite(value)
    ok = ok and (low is None or (value > low if strict else value >= low)) and (high is None or value <= high)
    if ok:
        return float(value)
    if strict and low == 0 and high is None:
        need = "a positive number"
    elif low is not None and high is not None and not strict:
        need = f"a number in [{low:g}, {high:g}]"
    else:
        parts = [f"{'>' if strict else '>='} {low:g}"] if low is not None else []
        parts += [f"<= {high:g}"] if high is not None else []
        need = f"a number {' and '.join(parts)}" if parts else "a finite number"
    raise ValueError(f"{name} must be {need}, got {value!r}")


def check_choice(value: object, name: str, choices: Collection[Any]) -> Any:
    """`value` if it is one of `choices`; else a ValueError naming `name` and the choices."""
    if isinstance(value, bool) and not any(isinstance(c, bool) for c in choices) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value
