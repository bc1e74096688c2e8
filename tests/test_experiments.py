from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
import yaml

from lmvid_lib.publish import experiment_log as ex

REPO = Path(__file__).resolve().parent.parent
POINTER = re.compile(r"experiments/log\.yaml#([a-z0-9-]+)")


def _entry(**overrides) -> dict:
    entry = {
        "id": "spade-condition",
        "date": "2026-12-01",
        "commit": "0123abc",
        "profile": "cpu",
        "component": "02_factorization.model",
        "change": "SPADE conditioned on heatmaps only",
        "metric": "held_out_frames (6 px, crop scale)",
        "results": [
            {"setting": "heatmaps", "seed": 0, "steps": 1500, "held_out_frames": 60.5, "held_out_attire": 50.0},
            {
                "setting": "heatmaps_appearance",
                "seed": [0, 1],
                "steps": 1500,
                "held_out_frames": 62.6,
                "wrists": [22, 20],
                "elbows": "51-53",
            },
        ],
        "baselines": [{"setting": "untrained encoder", "held_out_frames": 31.2, "split": "train"}],
        "adopted": True,
        "decided_on": "tune",
        "split": "tune",
        "why": "Measured on the cpu profile.",
    }
    entry.update(overrides)
    return entry


def _write(tmp_path: Path, entries: list) -> Path:
    path = tmp_path / "log.yaml"
    path.write_text(yaml.safe_dump(entries, sort_keys=False))
    return path


def test_the_real_record_loads_with_unique_ids_and_valid_links():
    entries = ex.load_log()
    ids = [e.id for e in entries]
    assert len(ids) == len(set(ids)) > 0
    assert all(e.superseded_by in ids for e in entries if e.superseded_by)


def test_every_pointer_to_the_record_names_an_entry():
    ids = {e.id for e in ex.load_log()}
    files = [
        *REPO.glob("params/*.yaml"),
        *REPO.glob("lmvid_lib/**/*.py"),
        *REPO.glob("benchmarks/*.py"),
        *REPO.glob("nbs/*.py"),
        REPO / "README.md",
    ]
    pointers = {(f.name, m) for f in files if f.is_file() for m in POINTER.findall(f.read_text())}
    assert pointers, "no file points into experiments/log.yaml"
    assert [p for p in pointers if p[1] not in ids] == []


def test_profiles_hold_settings_not_measurement_logs():
    for path in REPO.glob("params/*.yaml"):
        comments = [line for line in path.read_text().splitlines() if "#" in line]
        measured = [line for line in comments if re.search(r"\d%|\d+(\.\d+)? / \d+(\.\d+)?", line)]
        assert measured == [], f"{path.name} carries measurements; they belong in experiments/log.yaml"


def test_an_entry_is_parsed_with_its_rows_and_values(tmp_path):
    (entry,) = ex.load_log(_write(tmp_path, [_entry()]))
    assert entry.id == "spade-condition" and entry.date == "2026-12-01" and entry.adopted is True
    heatmaps, both = entry.results
    assert heatmaps.values == {"held_out_frames": 60.5, "held_out_attire": 50.0}
    assert both.seed == (0, 1) and both.values["wrists"] == (22, 20) and both.values["elbows"] == "51-53"
    assert entry.baselines[0].steps is None and entry.baselines[0].seed is None


def test_yaml_dates_and_text_dates_both_load(tmp_path):
    path = tmp_path / "log.yaml"
    text = yaml.safe_dump([_entry()], sort_keys=False).replace("'2026-12-01'", "2026-12-01")
    path.write_text(text)
    assert isinstance(yaml.safe_load(text)[0]["date"], datetime.date)
    assert ex.load_log(path)[0].date == "2026-12-01"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"adopted": "yes"}, r"adopted must be true or false"),
        ({"date": "2026-13-01"}, r"date must be a date YYYY-MM-DD"),
        ({"commit": "main"}, r"commit must be 7-40 hex digits or 'unknown'"),
        ({"id": "Spade Condition"}, r"id must be a slug"),
        ({"results": []}, r"results must list at least one row"),
        ({"why": ""}, r"why must be a non-empty text"),
        ({"colour": "red"}, r"unknown key\(s\) \['colour'\]"),
        ({"superseded_by": "nowhere"}, r"superseded_by names no entry: 'nowhere'"),
        ({"baselines": [{"setting": "untrained encoder"}]}, r"baselines\[0\]: a row needs at least one measured value"),
        (
            {"baselines": [{"setting": "x", "seed": True, "held_out_frames": 1.0}]},
            r"baselines\[0\]: seed must be an int",
        ),
        (
            {"baselines": [{"setting": "x", "held_out_frames": "about 40"}]},
            r"baselines\[0\]: held_out_frames must be a",
        ),
        ({"baselines": [{"held_out_frames": 40.0}]}, r"baselines\[0\]: setting must be a non-empty text"),
        ({"split": "validation"}, r"split must be one of \['train', 'tune'"),
        ({"split": None}, r"results\[0\]: split is missing \(the row's or the entry's\)"),
        ({"baselines": [{"setting": "x", "split": ["test", "dev"], "a": 1.0}]}, r"baselines\[0\]: split must be"),
        ({"decided_on": "tuning"}, r"decided_on must be one of"),
        ({"decided_on": "test"}, r"decided_on is 'test' but no row was measured there \(rows: \['train', 'tune'\]\)"),
        (
            {"decided_on": "test", "split": "test"},
            r"adopted, but decided on 'test' and not superseded by a re-measurement",
        ),
        ({"decided_on": "val", "split": ["test", "val"]}, r"adopted, but decided on 'val'"),
        ({"sources": ["/tmp/run.log of this session"]}, r"sources\[0\] names a build machine's path"),
        ({"why": "as printed in /home/lead/notes.txt"}, r"why names a build machine's path"),
    ],
)
def test_a_malformed_entry_is_named_with_file_index_id_and_key(tmp_path, change, message):
    good = _entry(id="first-entry")
    path = _write(tmp_path, [good, _entry(**change)])
    entry_id = change.get("id", "spade-condition")
    with pytest.raises(ex.ExperimentLogError, match=message) as err:
        ex.load_log(path)
    assert str(err.value).startswith(f"{path}: entry 1 ({entry_id!r})")


def test_a_missing_key_and_a_duplicate_id_are_named(tmp_path):
    entry = _entry()
    del entry["metric"]
    with pytest.raises(ex.ExperimentLogError, match=r"entry 0 \('spade-condition'\): missing key\(s\) \['metric'\]"):
        ex.load_log(_write(tmp_path, [entry]))
    with pytest.raises(ex.ExperimentLogError, match=r"entry 1 \('spade-condition'\): id already used by entry 0"):
        ex.load_log(_write(tmp_path, [_entry(), _entry()]))
    with pytest.raises(ex.ExperimentLogError, match="expected a non-empty list of entries"):
        ex.load_log(_write(tmp_path, {"id": "x"}))
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        ex.load_log(tmp_path / "nope.yaml")


def test_an_adopted_choice_made_on_a_reported_split_must_be_re_decided_on_validation(tmp_path):
    on_test = _entry(id="on-test", split="test", decided_on="test")
    with pytest.raises(ex.ExperimentLogError, match=r"entry 0 \('on-test'\): adopted, but decided on 'test'"):
        ex.load_log(_write(tmp_path, [on_test]))
    # superseded by another choice on test: still rejected; by its re-measurement on tune: accepted
    again = _entry(id="again-on-test", split="test", decided_on="test")
    with pytest.raises(ex.ExperimentLogError, match="'on-test'"):
        ex.load_log(_write(tmp_path, [{**on_test, "superseded_by": "again-on-test"}, again]))
    entries = ex.load_log(_write(tmp_path, [{**on_test, "superseded_by": "re-measured"}, _entry(id="re-measured")]))
    assert [(e.decided_on, e.results[0].split) for e in entries] == [("test", ("test",)), ("tune", ("tune",))]
    # a rejected setting measured on test is history, not a choice in the profile
    assert ex.load_log(_write(tmp_path, [{**on_test, "adopted": False}]))[0].adopted is False
    # so is a decision on time or cost, measured on no split
    timing = _entry(id="timing", split="none", decided_on="none")
    assert ex.load_log(_write(tmp_path, [timing]))[0].results[1].split == ("none",)


def test_the_decision_sentence_counts_what_decided_each_adopted_entry(tmp_path):
    old = _entry(id="old", split="test", decided_on="test", superseded_by="timing")
    entries = [
        _entry(id="on-tune"),
        _entry(id="timing", split="none", decided_on="none"),
        old,
        _entry(id="older", split="val", decided_on="val", superseded_by="on-tune"),
        _entry(id="rejected", split="test", decided_on="test", adopted=False),
    ]
    sentence = ex.decision_sentence(ex.load_log(_write(tmp_path, entries)))
    assert sentence.startswith("Of the 4 adopted entries, 1 were decided on the validation split `tune`, 0 on training")
    assert "and 1 on no data split" in sentence
    assert sentence.endswith(
        "2 were decided on a reported split (test or held-out attire) or an unrecorded one "
        "before the validation splits existed, and 1 of those are superseded by a re-measurement "
        "on `tune`, 1 by a decision on no data split."
    )


def test_the_real_record_says_where_every_number_was_measured():
    entries = ex.load_log()
    assert all(row.split for e in entries for row in (*e.results, *e.baselines))
    adopted_on_tune = [e for e in entries if e.adopted and e.decided_on == "tune"]
    assert adopted_on_tune, "the re-measurements on validation are in the record"
    for entry in entries:
        if entry.adopted and entry.decided_on in ex.REPORTED_SPLITS:
            assert entry.superseded_by is not None, entry.id


def test_summary_table_has_one_row_per_entry_with_its_numbers_and_status(tmp_path):
    old = _entry(id="old-run", date="2026-11-25", adopted=True, superseded_by="spade-condition")
    rejected = _entry(id="rejected", adopted=False)
    entries = ex.load_log(_write(tmp_path, [old, rejected, _entry()]))
    table = ex.summary_table(entries).splitlines()
    assert len(table) == 2 + len(entries)
    for line, entry in zip(table[2:], entries):
        assert f"| {entry.id} |" in line
        assert "heatmaps (seed 0, 1500 steps): held_out_frames 60.5, held_out_attire 50.0" in line
        assert "wrists 22 / 20, elbows 51-53" in line
    assert "adopted, then superseded by spade-condition" in table[2]
    assert "not adopted" in table[3] and table[4].count("adopted") == 1


def test_detail_table_has_a_column_per_value_and_blanks_where_a_row_has_none(tmp_path):
    (entry,) = ex.load_log(_write(tmp_path, [_entry()]))
    header, _, *rows = ex.detail_table(entry).splitlines()
    cells = [c.strip() for c in header.strip("|").split("|")]
    assert cells == [
        "",
        "setting",
        "split",
        "seed",
        "steps",
        "held_out_frames",
        "held_out_attire",
        "wrists",
        "elbows",
        "note",
    ]
    assert len(rows) == 3
    assert [c.strip() for c in rows[1].strip("|").split("|")] == [
        "result",
        "heatmaps_appearance",
        "tune",
        "mean of 0, 1",
        "1500",
        "62.6",
        "",
        "22 / 20",
        "51-53",
        "",
    ]
    assert rows[2].startswith("| baseline | untrained encoder | train |  |  | 31.2 |")


def test_by_component_sorts_components_and_dates():
    entries = ex.load_log()
    groups = ex.by_component(entries)
    assert list(groups) == sorted(groups)
    assert sum(map(len, groups.values())) == len(entries)
    for name, group in groups.items():
        assert all(e.component == name for e in group)
        assert [e.date for e in group] == sorted(e.date for e in group)


def test_a_value_name_that_is_not_an_identifier_is_named(tmp_path):
    entry = _entry(baselines=[{"setting": "x", "Held out": 40.0}])
    with pytest.raises(ex.ExperimentLogError, match=r"baselines\[0\]: value name 'Held out' must be lowercase"):
        ex.load_log(_write(tmp_path, [entry]))
