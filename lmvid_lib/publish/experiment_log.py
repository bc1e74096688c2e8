"""The experiment record `experiments/log.yaml`: what was tried, what it measured, and whether it was adopted.

The record is a YAML list of entries; each is checked into an `Entry` by `load_log`, and any problem is one
`ExperimentLogError` naming the file, the entry (index and id) and the key. An entry has

  id (slug: lowercase letters, digits, hyphens; unique), date (YYYY-MM-DD), commit (7-40 hex digits, or "unknown"),
  profile, component (e.g. "02_factorization.loss"), change (what was tried), metric (what was measured, with its
  pixel scale and split), results (a non-empty list of rows), baselines (a list of rows, may be empty),
  adopted (true | false), decided_on (the split whose numbers made the choice, `SPLITS`), why (one or two sentences),
  optionally split (the split of every row that names none), superseded_by (the id of a later entry that replaced it)
  and sources (where the numbers were first written down).

A row is a mapping with `setting` (text), its `split` (one of `SPLITS` or a list of them, for a row with values on
several; may be left to the entry's `split`), optionally `seed` (an int, or a list of ints for a mean over seeds),
`steps` (an int) and `note` (text), and any number of measured values: a number, a list of numbers, or a range
written as text ("51-53"). A row carries at least one value or a note. Values are kept as the sources wrote them;
their unit is the one the entry's `metric` names.

Choose on validation, report test once: an adopted entry decided on a reported split (`REPORTED_SPLITS`: test, and
val = held-out attire) or on an unrecorded one is an error, unless a later entry decided on validation (or on no split:
speed, cost) supersedes it, so that the choice in the profile rests on the re-measurement (`check_decisions`).

`summary_table` and `detail_table` render entries as markdown for the book's appendix (nbs/90_what_we_tried.py).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lmvid_lib.paths import EXPERIMENT_LOG
from lmvid_lib.report.tables import markdown_table

_ID = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
_COMMIT = re.compile(r"[0-9a-f]{7,40}")
_VALUE_NAME = re.compile(r"[a-z][a-z0-9_]*")
_RANGE = re.compile(r"-?\d+(\.\d+)?-\d+(\.\d+)?")
_TEXT_KEYS = ("id", "commit", "profile", "component", "change", "metric", "why")
_REQUIRED = (*_TEXT_KEYS, "date", "results", "baselines", "adopted", "decided_on")
_OPTIONAL = ("split", "superseded_by", "sources")
_ROW_KEYS = ("setting", "split", "seed", "steps", "note")
# The record is published (chapter 90), so its texts name files of the repository, never a build machine's path.
_MACHINE_PATH = re.compile(r"(^|[\s\"'(])/(tmp|home|root|work|check)\b")
# Where a number was measured: the training split, the validation split (`data.datasets.VALIDATION`), the reported
# splits (test; val = held-out attire), "none" (no data split: step time, memory, determinism) and "unknown" (an early
# entry whose source did not say).
SPLITS = ("train", "tune", "test", "val", "none", "unknown")
REPORTED_SPLITS = ("test", "val")

Value = int | float | str | tuple[int | float, ...]


class ExperimentLogError(ValueError):
    """A malformed experiment record; the message names the file, the entry and the key."""


@dataclass(frozen=True)
class Row:
    """One measured setting (a result or a baseline) of an entry."""

    setting: str
    seed: int | tuple[int, ...] | None
    steps: int | None
    values: dict[str, Value]  # measured values by name, in the order written
    note: str = ""
    split: tuple[str, ...] = ("unknown",)  # where the values were measured (`SPLITS`)


@dataclass(frozen=True)
class Entry:
    """One experiment: a change, what it measured against which baselines, and whether it was adopted."""

    id: str
    date: str  # YYYY-MM-DD
    commit: str  # abbreviated or full hash, or "unknown"
    profile: str
    component: str
    change: str
    metric: str
    results: tuple[Row, ...]
    baselines: tuple[Row, ...]
    adopted: bool
    why: str
    decided_on: str = "unknown"  # the split whose numbers made the choice (`SPLITS`)
    superseded_by: str | None = None
    sources: tuple[str, ...] = ()


# ------------------------------------------------------------------------------------------------------ loading
def load_log(path: str | Path = EXPERIMENT_LOG) -> list[Entry]:
    """Read and check the experiment record at `path` -> its entries in file order.

    Raises ExperimentLogError naming the file, the entry (index and id) and the problem; FileNotFoundError if the
    file does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"experiment record {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ExperimentLogError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(raw, list) or not raw:
        raise ExperimentLogError(f"{path}: expected a non-empty list of entries, got {type(raw).__name__}")
    entries = [parse_entry(item, f"{path}: entry {index}") for index, item in enumerate(raw)]
    check_links(entries, str(path))
    check_decisions(entries, str(path))
    return entries


def parse_entry(raw: Any, where: str) -> Entry:
    """One entry mapping -> Entry; `where` ("<file>: entry <i>") starts every error message."""
    if not isinstance(raw, Mapping):
        raise ExperimentLogError(f"{where}: expected a mapping, got {type(raw).__name__}")
    if isinstance(raw.get("id"), str):
        where = f"{where} ({raw['id']!r})"
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ExperimentLogError(f"{where}: missing key(s) {missing}")
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_OPTIONAL))
    if unknown:
        raise ExperimentLogError(f"{where}: unknown key(s) {unknown}; known: {sorted((*_REQUIRED, *_OPTIONAL))}")
    for key in _TEXT_KEYS:
        _text(raw[key], f"{where}: {key}")
    if not _ID.fullmatch(raw["id"]):
        raise ExperimentLogError(f"{where}: id must be a slug of lowercase letters, digits and hyphens")
    if raw["commit"] != "unknown" and not _COMMIT.fullmatch(raw["commit"]):
        raise ExperimentLogError(f"{where}: commit must be 7-40 hex digits or 'unknown', got {raw['commit']!r}")
    if not isinstance(raw["adopted"], bool):
        raise ExperimentLogError(f"{where}: adopted must be true or false, got {raw['adopted']!r}")
    default = None if raw.get("split") is None else _split(raw["split"], f"{where}: split")
    results = _rows(raw["results"], f"{where}: results", default)
    if not results:
        raise ExperimentLogError(f"{where}: results must list at least one row")
    baselines = _rows(raw["baselines"], f"{where}: baselines", default)
    decided_on = raw["decided_on"]
    if decided_on not in SPLITS:
        raise ExperimentLogError(f"{where}: decided_on must be one of {list(SPLITS)}, got {decided_on!r}")
    measured = {split for row in (*results, *baselines) for split in row.split}
    if decided_on not in ("none", "unknown") and decided_on not in measured:
        raise ExperimentLogError(
            f"{where}: decided_on is {decided_on!r} but no row was measured there (rows: {sorted(measured)})"
        )
    superseded_by = raw.get("superseded_by")
    if superseded_by is not None:
        _text(superseded_by, f"{where}: superseded_by")
    sources = raw.get("sources", [])
    if not isinstance(sources, list):
        raise ExperimentLogError(f"{where}: sources must be a list of texts")
    for i, source in enumerate(sources):
        _text(source, f"{where}: sources[{i}]")
    return Entry(
        id=raw["id"],
        date=_date(raw["date"], f"{where}: date"),
        commit=raw["commit"],
        profile=raw["profile"],
        component=raw["component"],
        change=raw["change"].strip(),
        metric=raw["metric"].strip(),
        results=results,
        baselines=baselines,
        adopted=raw["adopted"],
        why=raw["why"].strip(),
        decided_on=decided_on,
        superseded_by=superseded_by,
        sources=tuple(sources),
    )


def check_links(entries: Sequence[Entry], name: str) -> None:
    """Ids are unique and every `superseded_by` names another entry; ExperimentLogError naming the entry if not."""
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if entry.id in seen:
            raise ExperimentLogError(f"{name}: entry {index} ({entry.id!r}): id already used by entry {seen[entry.id]}")
        seen[entry.id] = index
    for index, entry in enumerate(entries):
        if entry.superseded_by is not None and entry.superseded_by not in seen:
            raise ExperimentLogError(
                f"{name}: entry {index} ({entry.id!r}): superseded_by names no entry: {entry.superseded_by!r}"
            )
        if entry.superseded_by == entry.id:
            raise ExperimentLogError(f"{name}: entry {index} ({entry.id!r}): an entry cannot supersede itself")


_UNSOUND = (*REPORTED_SPLITS, "unknown")  # splits no choice may rest on


def redecided_by(entry: Entry, by_id: Mapping[str, Entry]) -> Entry | None:
    """The first entry down `entry`'s `superseded_by` chain decided on a split a choice may rest on (validation,
    training data or none), or None if the chain has none."""
    later, seen = entry, {entry.id}
    while later.superseded_by is not None and later.superseded_by not in seen:
        later = by_id[later.superseded_by]
        seen.add(later.id)
        if later.decided_on not in _UNSOUND:
            return later
    return None


def check_decisions(entries: Sequence[Entry], name: str) -> None:
    """No adopted entry rests on a reported split: one decided on test, val (held-out attire) or an unrecorded split
    must be superseded (through its `superseded_by` chain) by an entry decided on validation, training data or no split;
    ExperimentLogError naming the entry if not."""
    by_id = {entry.id: entry for entry in entries}
    for index, entry in enumerate(entries):
        if entry.adopted and entry.decided_on in _UNSOUND and redecided_by(entry, by_id) is None:
            raise ExperimentLogError(
                f"{name}: entry {index} ({entry.id!r}): adopted, but decided on {entry.decided_on!r} and not "
                "superseded by a re-measurement on validation: choose on 'tune', report test once"
            )


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ExperimentLogError(f"{where} must be a non-empty text, got {value!r}")
    if _MACHINE_PATH.search(value):
        raise ExperimentLogError(
            f"{where} names a build machine's path ({value!r}); the record is published, "
            "so name the repository file or say what was measured"
        )
    return value


def _date(value: Any, where: str) -> str:
    """A YAML date or a 'YYYY-MM-DD' text -> 'YYYY-MM-DD'."""
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return datetime.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise ExperimentLogError(f"{where} must be a date YYYY-MM-DD, got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _split(value: Any, where: str) -> tuple[str, ...]:
    """A split name or a non-empty list of them -> a tuple of `SPLITS` names."""
    names = value if isinstance(value, list) and value else [value]
    for name in names:
        if name not in SPLITS:
            raise ExperimentLogError(f"{where} must be one of {list(SPLITS)} or a list of them, got {value!r}")
    return tuple(names)


def _rows(raw: Any, where: str, split: tuple[str, ...] | None = None) -> tuple[Row, ...]:
    if not isinstance(raw, list):
        raise ExperimentLogError(f"{where} must be a list of rows, got {type(raw).__name__}")
    return tuple(_row(item, f"{where}[{i}]", split) for i, item in enumerate(raw))


def _row(raw: Any, where: str, default_split: tuple[str, ...] | None = None) -> Row:
    if not isinstance(raw, Mapping):
        raise ExperimentLogError(f"{where} must be a mapping with a 'setting', got {raw!r}")
    setting = _text(raw.get("setting"), f"{where}: setting")
    seed = raw.get("seed")
    if isinstance(seed, list) and seed and all(isinstance(s, int) and not isinstance(s, bool) for s in seed):
        seed = tuple(seed)
    elif seed is not None and not (isinstance(seed, int) and not isinstance(seed, bool)):
        raise ExperimentLogError(f"{where}: seed must be an int or a list of ints, got {seed!r}")
    steps = raw.get("steps")
    if steps is not None and not (isinstance(steps, int) and not isinstance(steps, bool) and steps >= 0):
        raise ExperimentLogError(f"{where}: steps must be an int >= 0, got {steps!r}")
    note = raw.get("note", "")
    if note != "":
        _text(note, f"{where}: note")
    if raw.get("split") is None and default_split is None:
        raise ExperimentLogError(f"{where}: split is missing (the row's or the entry's): one of {list(SPLITS)}")
    split = default_split if raw.get("split") is None else _split(raw["split"], f"{where}: split")
    values = {key: _value(key, value, where) for key, value in raw.items() if key not in _ROW_KEYS}
    if not values and not note:
        raise ExperimentLogError(f"{where}: a row needs at least one measured value or a note")
    return Row(setting=setting, seed=seed, steps=steps, values=values, note=note, split=split)


def _value(name: Any, value: Any, where: str) -> Value:
    """One measured value of a row (`where` names the row) -> a number, a tuple of numbers or a range text."""
    if not isinstance(name, str) or not _VALUE_NAME.fullmatch(name):
        raise ExperimentLogError(f"{where}: value name {name!r} must be lowercase letters, digits and underscores")
    where = f"{where}: {name}"
    if _is_number(value):
        return value
    if isinstance(value, list) and value and all(_is_number(v) for v in value):
        return tuple(value)
    if isinstance(value, str) and _RANGE.fullmatch(value):
        return value
    raise ExperimentLogError(f"{where} must be a number, a list of numbers or a range such as '51-53', got {value!r}")


# ---------------------------------------------------------------------------------------------------- rendering
def format_value(value: Value) -> str:
    """A measured value as written: numbers as YAML read them, lists joined by ' / ', ranges unchanged."""
    if isinstance(value, tuple):
        return " / ".join(str(v) for v in value)
    return str(value)


def status(entry: Entry) -> str:
    """'adopted' (current), 'adopted, then superseded by <id>', or 'not adopted'."""
    if not entry.adopted:
        return "not adopted"
    return f"adopted, then superseded by {entry.superseded_by}" if entry.superseded_by else "adopted"


def decision_sentence(entries: Sequence[Entry]) -> str:
    """Which split decided the adopted entries: on validation, on training data, on no split (speed, cost), and on
    a reported split (test / val) then re-decided on validation by a superseding entry (`check_decisions`)."""
    adopted = [e for e in entries if e.adopted]
    by_id = {entry.id: entry for entry in entries}
    count = {split: sum(e.decided_on == split for e in adopted) for split in SPLITS}
    unsound = [e for e in adopted if e.decided_on in _UNSOUND]
    on_tune = sum(getattr(redecided_by(e, by_id), "decided_on", None) == "tune" for e in unsound)
    return (
        f"Of the {len(adopted)} adopted entries, {count['tune']} were decided on the validation split `tune`, "
        f"{count['train']} on training data and {count['none']} on no data split (speed, memory, cost, equality "
        f"checks); {len(unsound)} were decided on a reported split (test or held-out attire) or an unrecorded one "
        f"before the validation splits existed, and {on_tune} of those are superseded by a re-measurement on `tune`, "
        f"{len(unsound) - on_tune} by a decision on no data split."
    )


def by_component(entries: Sequence[Entry]) -> dict[str, list[Entry]]:
    """Entries grouped by component (components sorted by name), each group in date order (file order on ties)."""
    groups: dict[str, list[Entry]] = {}
    for entry in entries:
        groups.setdefault(entry.component, []).append(entry)
    return {name: sorted(groups[name], key=lambda e: e.date) for name in sorted(groups)}


def _seed_text(seed: int | tuple[int, ...] | None) -> str:
    if seed is None:
        return ""
    return f"mean of {', '.join(map(str, seed))}" if isinstance(seed, tuple) else str(seed)


def row_label(row: Row) -> str:
    """'setting (seed s, N steps)', leaving out what the row does not give."""
    extra = [
        f"seed {_seed_text(row.seed)}" if row.seed is not None else "",
        f"{row.steps} steps" if row.steps is not None else "",
    ]
    extra = [e for e in extra if e]
    return f"{row.setting} ({', '.join(extra)})" if extra else row.setting


def result_summary(entry: Entry) -> str:
    """Each result row with its values ('label: name value, ...'), or its note when it has no values."""
    parts = []
    for row in entry.results:
        values = ", ".join(f"{name} {format_value(v)}" for name, v in row.values.items())
        parts.append(f"{row_label(row)}: {values or row.note}")
    return "; ".join(parts)


def summary_table(entries: Sequence[Entry]) -> str:
    """Markdown table, one row per entry: date, id, change, results, the split that decided, status, why."""
    rows = [(e.date, e.id, e.change, result_summary(e), e.decided_on, status(e), e.why) for e in entries]
    return markdown_table(("date", "id", "change", "results", "decided on", "status", "why"), rows)


def detail_table(entry: Entry) -> str:
    """Markdown table of one entry's results and baselines: one column per measured value name, blanks where absent."""
    rows = [("result", r) for r in entry.results] + [("baseline", r) for r in entry.baselines]
    names = list(dict.fromkeys(name for _, row in rows for name in row.values))
    header = ("", "setting", "split", "seed", "steps", *names, "note")
    cells = [
        (
            role,
            row.setting,
            ", ".join(row.split),
            _seed_text(row.seed),
            "" if row.steps is None else str(row.steps),
            *(format_value(row.values[n]) if n in row.values else "" for n in names),
            row.note,
        )
        for role, row in rows
    ]
    return markdown_table(header, cells, right_align=[False, False, False, False, True, *[True] * len(names), False])
