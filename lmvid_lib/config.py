"""Configuration is data: dataclasses filled from papermill parameters or `params/<profile>.yaml`.

`load_profile("cpu")` reads `params/cpu.yaml`: a `common` section (dataset, data_root, seed, device, and the
decoders x seeds the runs are trained for) and one section per notebook (keyed by the notebook's stem, e.g. `01_data`).
`notebook_parameters(profile, stem)` merges `common` with that notebook's section (`python -m lmvid_lib.train
--profile` reads its training runs so); `make book` (`lmvid_lib.book`) hands each notebook the `common` keys its
parameters cell declares, its own section, `profile` and `run_dir`.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")

PARAMS_DIR = Path(__file__).resolve().parent.parent / "params"


def from_dict(cls: type[T], mapping: Mapping[str, Any] | None, name: str | None = None) -> T:
    """Build dataclass `cls` from `mapping`; unknown keys raise a ValueError naming the key and the config.

    Nested dataclass fields are filled recursively from nested mappings. Missing keys keep their defaults.
    """
    name = name or cls.__name__
    mapping = dict(mapping or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ValueError(f"{name}: unknown parameter(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in mapping.items():
        hint = hints.get(key)
        if dataclasses.is_dataclass(hint) and isinstance(value, Mapping):
            value = from_dict(hint, value, f"{name}.{key}")
        kwargs[key] = value
    return cls(**kwargs)


def profile_path(profile: str | Path) -> Path:
    path = Path(profile)
    if path.suffix in (".yaml", ".yml"):
        return path
    return PARAMS_DIR / f"{profile}.yaml"


def load_profile(profile: str | Path) -> dict[str, Any]:
    """Read a profile (a name such as 'cpu' or a path to a yaml file) into a dict."""
    path = profile_path(profile)
    if not path.is_file():
        known = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
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
