"""`lmvid run`: --only and --param parsing, the profile check, the run dir, resume (up to date, --force, a failed or
changed notebook reruns, and so does everything after it), the manifest it keeps, and a real failing notebook."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import nbformat
import pytest

from lmvid_lib import config
from lmvid_lib.publish import notebooks, runner

STEMS = ["01_data", "02_factorization", "90_what_we_tried", "00_intro"]


def test_only_takes_stems_and_prefixes_comma_or_space_separated_in_run_order():
    assert runner.select(STEMS, []) == STEMS
    assert runner.select(STEMS, ["02,01_data"]) == ["01_data", "02_factorization"]
    assert runner.select(STEMS, ["00", "90_what_we_tried"]) == ["90_what_we_tried", "00_intro"]
    assert runner.select(STEMS, ["01, 02"]) == ["01_data", "02_factorization"]


def test_only_with_an_unknown_or_ambiguous_name_is_an_error_listing_the_valid_ones():
    with pytest.raises(ValueError, match=r"--only '03' names no notebook .*'01_data', '02_factorization'"):
        runner.select(STEMS, ["01,03"])
    with pytest.raises(ValueError, match="'01_dat'"):
        runner.select(STEMS, ["01_dat"])
    with pytest.raises(ValueError, match=r"ambiguous \(\['01_a', '01_b'\]\)"):
        runner.select(["01_a", "01_b"], ["01"])


DECLARED = {
    "01_data": {"profile", "run_dir", "seed", "n_videos"},
    "02_factorization": {"profile", "run_dir", "seed", "factorization", "decoders"},
}


def test_param_values_are_yaml_and_notebooks_may_be_named_by_prefix():
    parsed = runner.parse_params(
        ["02.factorization.steps=200", "01_data.n_videos={signer: 3}", "common.seed=4", "02.decoders=[spade]"],
        DECLARED,
    )
    assert parsed == [
        ("02_factorization", ["factorization", "steps"], 200),
        ("01_data", ["n_videos"], {"signer": 3}),
        ("common", ["seed"], 4),
        ("02_factorization", ["decoders"], ["spade"]),
    ]


@pytest.mark.parametrize(
    "item, message",
    [
        ("02_factorization.steps=200", r"02_factorization declares no parameter 'steps' \(valid: \['decoders', 'fact"),
        ("02.steps=200", r"dotted key, e\.g\. 02_factorization\.<parameter>\.steps=\.\.\."),
        ("03_keypoints.x=1", r"notebook '03_keypoints' names no notebook"),
        ("common.width=1", r"common declares no parameter 'width'"),
        ("02.run_dir=elsewhere", "declares no parameter 'run_dir'"),  # the runner sets it
        ("02_factorization=1", "expected NOTEBOOK.KEY=VALUE"),
        ("02.seed", "expected NOTEBOOK.KEY=VALUE"),
        ("02.seed=[1", "the value is not YAML"),
    ],
)
def test_bad_params_are_errors_naming_them(item, message):
    with pytest.raises(ValueError, match=message):
        runner.parse_params([item], DECLARED)


def test_a_dotted_param_sets_one_entry_and_keeps_the_others():
    params = {"factorization": {"steps": 10, "model": {"k": 4}}, "seed": 0}
    overrides = [("02_x", ["factorization", "model", "k"], 8), ("02_x", ["seed"], 2), ("01_y", ["seed"], 5)]
    assert runner.with_params(params, overrides, "02_x") == {
        "factorization": {"steps": 10, "model": {"k": 8}},
        "seed": 2,
    }
    assert params["factorization"]["model"]["k"] == 4  # the profile's data is left alone
    with pytest.raises(ValueError, match=r"--param of 02_x: seed is 0, not a mapping"):
        runner.with_params(params, [("02_x", ["seed", "x"], 1)], "02_x")


def test_profile_check_names_unknown_sections_common_keys_and_section_keys():
    declared = {"01_a": {"profile", "run_dir", "seed"}, "02_b": {"profile", "run_dir", "steps"}}
    config.check_profile({"common": {"seed": 0}, "02_b": {"steps": 3}, "01_a": None}, declared, "p.yaml")
    with pytest.raises(ValueError, match=r"p.yaml: section\(s\) \['03_c'\] name no notebook.*\['01_a', '02_b'\]"):
        config.check_profile({"common": {}, "03_c": {}}, declared, "p.yaml")
    with pytest.raises(ValueError, match=r"'common' sets \['sede'\], which no notebook declares.*\['seed', 'steps'\]"):
        config.check_profile({"common": {"sede": 0}}, declared, "p.yaml")
    with pytest.raises(ValueError, match=r"'02_b' sets \['seed'\], which nbs/02_b.py does not declare.*\['steps'\]"):
        config.check_profile({"common": {}, "02_b": {"seed": 1}}, declared, "p.yaml")
    with pytest.raises(ValueError, match=r"'common' sets \['run_dir'\]"):
        config.check_profile({"common": {"run_dir": "x"}}, declared, "p.yaml")


def test_the_repository_profiles_pass_the_check():
    declared = {c.stem: set(notebooks.declared_parameters(c.source)) for c in notebooks.chapters()}
    for profile in ("smoke", "cpu", "paper"):
        config.check_profile(config.load_profile(profile), declared, profile)


def test_run_dir_is_relative_inside_the_repository_and_absolute_outside(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    (root / "runs").mkdir(parents=True)
    assert runner.run_dir_for("paper", None, root) == "runs/paper"
    assert runner.run_dir_for(str(tmp_path / "mine.yaml"), None, root) == "runs/mine"
    monkeypatch.chdir(root)
    assert runner.run_dir_for("cpu", "runs/try1", root) == "runs/try1"
    assert runner.run_dir_for("cpu", str(tmp_path / "scratch"), root) == str(tmp_path / "scratch")


def test_is_current_needs_a_record_the_same_digest_and_a_later_finish():
    record = {"digest": "d", "finished": 10.0, "seconds": 1.0}
    assert runner.is_current(record, "d", 9.0)
    assert not runner.is_current(record, "d", 10.0)  # an input finished as late: rerun
    assert not runner.is_current(record, "e", 0.0)
    assert not runner.is_current(None, "d", 0.0)
    assert runner.digest("x = 1\n", {"a": 1, "b": 2}) == runner.digest("x = 1\n", {"b": 2, "a": 1})
    assert runner.digest("x = 1\n", {"a": 1}) != runner.digest("x = 2\n", {"a": 1})


def _fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for folder in ("nbs", "book", "params"):
        (root / folder).mkdir(parents=True)
    for name in ("00_intro", "01_a", "02_b"):
        (root / "nbs" / f"{name}.py").write_text(
            '# %% tags=["parameters"]\nprofile = "x"\nrun_dir = "runs/x"\nwidth = 3\nfail = False\n\n# %%\nx = 1\n'
        )
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: book/00_intro\nchapters:\n  - file: book/01_a\n  - file: book/02_b\n"
    )
    (root / "params" / "t.yaml").write_text("common: {}\n01_a:\n  width: 4\n")
    return root


@pytest.fixture
def fake_execute(monkeypatch):
    """`notebooks.execute` without a kernel: logs each notebook and writes the executed notebook with its record (a
    notebook with `fail` set leaves a partial one without a record and raises, as papermill does)."""
    clock = itertools.count(1_000_000.0)
    calls = []

    def execute(chapter, params, root, record):
        calls.append(chapter.stem)
        nb = nbformat.v4.new_notebook()
        if params["fail"]:
            nbformat.write(nb, chapter.output)
            raise notebooks.NotebookFailed(f"notebook nbs/{chapter.stem}.py failed in cell 2")
        nb.metadata["lmvid"] = record | {"seconds": 0.5, "finished": next(clock)}
        nbformat.write(nb, chapter.output)
        return 0.5

    monkeypatch.setattr(notebooks, "execute", execute)
    return calls


def _run(root: Path, *args: str) -> dict:
    runner.run(str(root / "params" / "t.yaml"), None, *_split(args), html=False, root=root)
    return json.loads((root / "runs" / "t" / "manifest.json").read_text())


def _split(args):
    only = [a.split("=", 1)[1] for a in args if a.startswith("only=")]
    params = [a for a in args if not a.startswith("only=") and a != "force"]
    return only, params, "force" in args


def _statuses(record: dict) -> list[str]:
    return [record["notebooks"][stem]["status"] for stem in record["order"]]


def test_resume_skips_up_to_date_notebooks_and_reruns_changed_ones_and_all_after(tmp_path, fake_execute):
    root = _fake_root(tmp_path)
    record = _run(root)
    assert fake_execute == ["01_a", "02_b", "00_intro"] and _statuses(record) == ["ran"] * 3
    assert record["parameters"]["01_a"] == {
        "profile": str(root / "params/t.yaml"),
        "run_dir": "runs/t",
        "width": 4,
        "fail": False,
    }
    assert _statuses(_run(root)) == ["up to date"] * 3 and len(fake_execute) == 3

    record = _run(root, "02.width=5")  # a changed parameter reruns 02_b, and the root page, which reads it
    assert fake_execute[3:] == ["02_b", "00_intro"] and _statuses(record) == ["up to date", "ran", "ran"]
    assert record["parameters"]["02_b"]["width"] == 5
    assert _statuses(_run(root, "02.width=5")) == ["up to date"] * 3

    (root / "nbs" / "01_a.py").write_text((root / "nbs" / "01_a.py").read_text() + "y = 2\n")  # a changed source
    record = _run(root, "only=01", "02.width=5")
    assert fake_execute[5:] == ["01_a"] and _statuses(record) == ["ran", "not selected", "not selected"]
    record = _run(root, "02.width=5")  # 02_b's input (01_a) is newer than it now
    assert fake_execute[6:] == ["02_b", "00_intro"] and _statuses(record) == ["up to date", "ran", "ran"]

    record = _run(root, "only=02", "force", "02.width=5")
    assert fake_execute[8:] == ["02_b"] and _statuses(record) == ["not selected", "ran", "not selected"]
    assert record["status"] == "ok" and record["finished"] is not None


def test_a_failure_stops_the_run_is_recorded_and_the_failed_notebook_reruns(tmp_path, fake_execute):
    root = _fake_root(tmp_path)
    _run(root)
    with pytest.raises(SystemExit, match=r"nbs/02_b.py failed in cell 2\nrun manifest: runs/t/manifest.json"):
        _run(root, "02.fail=true")
    record = json.loads((root / "runs" / "t" / "manifest.json").read_text())
    assert _statuses(record) == ["up to date", "failed", "pending"] and record["status"] == "failed"
    assert "failed in cell 2" in record["notebooks"]["02_b"]["error"]
    assert notebooks.execution_record(root / "book" / "02_b.ipynb") is None  # the partial notebook is no result
    record = _run(root)  # 02_b failed: never up to date, although its parameters are those of its last success
    assert fake_execute[-2:] == ["02_b", "00_intro"] and _statuses(record) == ["up to date", "ran", "ran"]


def test_an_interrupted_run_leaves_a_valid_manifest_that_says_so(tmp_path, monkeypatch):
    root = _fake_root(tmp_path)

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(notebooks, "execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(root)
    record = json.loads((root / "runs" / "t" / "manifest.json").read_text())
    assert _statuses(record) == ["interrupted", "pending", "pending"] and record["status"] == "interrupted"


def test_unknown_only_and_common_keys_stop_the_run_before_anything_runs(tmp_path, fake_execute):
    root = _fake_root(tmp_path)
    with pytest.raises(ValueError, match=r"--only '03' names no notebook of _toc.yml; valid: \['01_a', '02_b', "):
        runner.run(str(root / "params" / "t.yaml"), only=["01,03"], html=False, root=root)
    (root / "params" / "t.yaml").write_text("common:\n  widht: 4\n")
    with pytest.raises(ValueError, match=r"'common' sets \['widht'\], which no notebook declares"):
        runner.run(str(root / "params" / "t.yaml"), html=False, root=root)
    assert fake_execute == [] and not (root / "runs").exists()


def test_a_real_failing_notebook_names_its_cell_and_keeps_its_partial_output(tmp_path):
    root = _fake_root(tmp_path)
    (root / "_toc.yml").write_text("format: jb-book\nroot: book/intro\nchapters:\n  - file: book/02_b\n")
    (root / "book" / "intro.md").write_text("# intro\n")
    (root / "params" / "t.yaml").write_text("common: {}\n")
    (root / "nbs" / "02_b.py").write_text(
        '# %% tags=["parameters"]\nprofile = "x"\nrun_dir = ""\n\n# %%\nprint("first")\n\n# %%\n'
        'raise ValueError("boom")\n'
    )
    with pytest.raises(SystemExit) as failure:
        runner.run(str(root / "params" / "t.yaml"), html=False, root=root)
    message = str(failure.value)
    assert 'nbs/02_b.py failed in cell 3 (counting from 1, starting `raise ValueError("boom")`)' in message
    assert "ValueError: boom" in message and "partial output: book/02_b.ipynb" in message
    partial = nbformat.read(root / "book" / "02_b.ipynb", as_version=4)
    assert [o.get("text") for c in partial.cells if c.cell_type == "code" for o in c.outputs][:1] == ["first\n"]
    assert any(o.output_type == "error" for c in partial.cells if c.cell_type == "code" for o in c.outputs)
    assert "lmvid" not in partial.metadata
    record = json.loads((root / "runs" / "t" / "manifest.json").read_text())
    assert (
        record["notebooks"]["02_b"]["status"] == "failed" and "ValueError: boom" in record["notebooks"]["02_b"]["error"]
    )


def test_lmvid_run_is_a_subcommand_of_the_console_script(capsys):
    from lmvid_lib import cli

    args = cli.build_parser().parse_args(
        ["run", "--profile", "paper", "--only", "02", "03", "--param", "02.x=1", "--param", "common.seed=2", "--force"]
    )
    assert (args.profile, args.only, args.params, args.force, args.no_html, args.run_dir) == (
        "paper",
        ["02", "03"],
        ["02.x=1", "common.seed=2"],
        True,
        False,
        None,
    )
    assert cli.main(["run", "--only", "01_data,77", "--no-html"]) == 1
    assert "lmvid: error: --only '77' names no notebook of _toc.yml; valid: ['01_data'," in capsys.readouterr().err
