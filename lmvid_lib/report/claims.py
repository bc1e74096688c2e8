"""The paper claims each chapter tests: `write_claims` writes a chapter's, with its measured numbers, to
`<run_dir>/claims/<chapter>.json`; the introduction reads them all (`read_claims`) into the reproduction table
(`claims_table`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lmvid_lib.io import atomic_write_json
from lmvid_lib.paths import claims_dir
from lmvid_lib.report.tables import markdown_table


@dataclass
class Claim:
    """One paper claim tested by a chapter. `paper`: the published number or statement (quoted); `ours`: what this
    run measured, with its conditions; `dataset`: the data `ours` was measured on."""

    claim: str
    paper: str
    ours: str
    dataset: str
    profile: str
    chapter: str


def write_claims(run_dir: str | Path, stem: str, claims: Sequence[Claim]) -> Path:
    """Write `claims` to `<run_dir>/claims/<stem>.json`, `stem` being the notebook's (atomic; replaces that notebook's
    previous claims)."""
    return atomic_write_json(claims_dir(run_dir) / f"{stem}.json", [asdict(c) for c in claims])


def read_claims(run_dir: str | Path) -> list[Claim]:
    """Every notebook's claims under `<run_dir>/claims/`, in notebook (file name) order; [] when there are none."""
    names = {f.name for f in fields(Claim)}
    result = []
    for path in sorted(claims_dir(run_dir).glob("*.json")):
        for entry in json.loads(path.read_text()):
            if set(entry) != names:
                raise ValueError(f"{path}: a claim has fields {sorted(entry)}, expected {sorted(names)}")
            result.append(Claim(**entry))
    return result


def claims_table(claims: Sequence[Claim]) -> str:
    """The reproduction table: one row per claim (markdown)."""
    header = ["paper claim", "paper (quoted)", "ours (measured)", "dataset", "profile", "chapter"]
    return markdown_table(header, [[c.claim, c.paper, c.ours, c.dataset, c.profile, c.chapter] for c in claims])
