"""`lmvid run`: --only and --param parsing, the profile check, the run dir, resume (up to date, --force, a failed or
changed notebook reruns, and so does everything after it), the manifest it keeps, and a real failing notebook."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
from pathlib import Path

import nbformat
import pytest

from lmvid_lib import config
from lmvid_lib.paths import REPO, code_digest
from lmvid_lib.publish import notebooks, runner
from lmvid_lib.train.runs import REUSE_STALE_RUNS

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
    assert runner.digest("x = 1\n", {"a": 1, "b": 2}, "c") == runner.digest("x = 1\n", {"b": 2, "a": 1}, "c")
    assert runner.digest("x = 1\n", {"a": 1}, "c") != runner.digest("x = 2\n", {"a": 1}, "c")
    assert runner.digest("x = 1\n", {"a": 1}, "c") != runner.digest("x = 1\n", {"a": 1}, "d")  # the library code


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
    calls = _Calls()

    def execute(chapter, params, root, record):
        calls.append(chapter.stem)
        nb = nbformat.v4.new_notebook()
        calls.environment.append(os.environ.get(REUSE_STALE_RUNS))
        if params["fail"]:
            nbformat.write(nb, chapter.partial)
            raise notebooks.NotebookFailed(f"notebook nbs/{chapter.stem}.py failed in cell 2")
        nb.metadata["lmvid"] = record | {"seconds": 0.5, "finished": next(clock)}
        nbformat.write(nb, chapter.output)
        return 0.5

    monkeypatch.setattr(notebooks, "execute", execute)
    return calls


class _Calls(list):
    """The stems `fake_execute` ran, in order; `environment`: REUSE_STALE_RUNS as each of them saw it."""

    def __init__(self):
        super().__init__()
        self.environment = []


def _run(root: Path, *args: str, reuse_stale_runs: bool = False) -> dict:
    runner.run(
        str(root / "params" / "t.yaml"), None, *_split(args), html=False, root=root, reuse_stale_runs=reuse_stale_runs
    )
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
    good = notebooks.execution_record(root / "book" / "02_b.ipynb")  # the last success stays
    assert good is not None and good["digest"] == runner.digest(
        (root / "nbs" / "02_b.py").read_text(), _run_params(root, "02_b"), code_digest(root / "lmvid_lib")
    )
    assert notebooks.execution_record(root / "book" / "02_b.failed.ipynb") is None  # the partial one is no result
    with pytest.raises(SystemExit):
        _run(root, "02.fail=true")  # the failed parameters never count as up to date
    assert fake_execute[-1] == "02_b"
    record = _run(root)  # the parameters of the last success: its notebook is current
    assert _statuses(record) == ["up to date"] * 3
    record = _run(root, "02.width=6")
    assert fake_execute[-2:] == ["02_b", "00_intro"] and _statuses(record) == ["up to date", "ran", "ran"]


def _run_params(root: Path, stem: str) -> dict:
    return runner.plan(str(root / "params" / "t.yaml"), None, [], [], root).parameters[stem]


def test_a_library_change_reruns_every_notebook_and_the_manifest_names_the_code(tmp_path, fake_execute):
    root = _fake_root(tmp_path)
    (root / "lmvid_lib").mkdir()
    (root / "lmvid_lib" / "core.py").write_text("x = 1\n")
    first = _run(root)
    assert first["code_digest"] == code_digest(root / "lmvid_lib") and first["reuse_stale_runs"] is False
    assert {e["code_digest"] for e in first["notebooks"].values()} == {first["code_digest"]}
    assert all(e["current"] for e in first["notebooks"].values())
    assert _statuses(_run(root)) == ["up to date"] * 3
    (root / "lmvid_lib" / "core.py").write_text("x = 2\n")  # the library alone changes
    record = _run(root, "only=01")
    assert fake_execute[3:] == ["01_a"] and record["code_digest"] != first["code_digest"]
    later = record["notebooks"]["02_b"]
    assert later["status"] == "not selected" and later["code_digest"] == first["code_digest"] and not later["current"]
    assert _statuses(_run(root)) == ["up to date", "ran", "ran"]


def test_reuse_stale_runs_reaches_the_notebooks_and_the_manifest_only_for_that_run(tmp_path, fake_execute):
    root = _fake_root(tmp_path)
    record = _run(root, reuse_stale_runs=True)
    assert record["reuse_stale_runs"] is True and fake_execute.environment == ["1"] * 3
    assert os.environ.get(REUSE_STALE_RUNS) is None  # restored after the run
    _run(root, "force")
    assert fake_execute.environment[3:] == [None] * 3


def test_code_digest_covers_every_python_file_of_the_package(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    before = code_digest(package)
    assert re.fullmatch(r"[0-9a-f]{64}", before) and code_digest(package) == before
    (package / "sub" / "__pycache__").mkdir()
    (package / "sub" / "__pycache__" / "a.cpython-312.pyc").write_bytes(b"\0")
    (package / "notes.txt").write_text("not code")
    assert code_digest(package) == before  # bytecode and other files are not the code
    (package / "sub" / "b.py").write_text("")
    assert code_digest(package) != before  # a new module, committed or not
    (package / "sub" / "b.py").unlink()
    (package / "a.py").write_text("x = 2\n")
    assert code_digest(package) not in (before, code_digest(tmp_path / "other"))


@dataclasses.dataclass
class _Inner:
    k: int = 1


@dataclasses.dataclass
class _Outer:
    steps: int = 1
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    free: dict = dataclasses.field(default_factory=dict)  # a plain mapping: its keys are not checked


def test_mapping_parameters_are_checked_against_their_dataclass():
    configs = {("02_x", "cfg"): _Outer}
    runner.check_mappings({"02_x": {"cfg": {"steps": 3, "inner": {"k": 2}, "free": {"any": 1}}}}, configs)
    runner.check_mappings({"02_x": {"cfg": {}}, "03_y": {"cfg": {"stepz": 1}}}, configs)  # another notebook's
    with pytest.raises(
        ValueError, match=r"02_x\.cfg: unknown parameter\(s\) \['stepz'\]; known: \['free', 'inner', 'st"
    ):
        runner.check_mappings({"02_x": {"cfg": {"stepz": 3}}}, configs)
    with pytest.raises(ValueError, match=r"02_x\.cfg\.inner: unknown parameter\(s\) \['j'\]; known: \['k'\]"):
        runner.check_mappings({"02_x": {"cfg": {"inner": {"j": 2}}}}, configs)


@pytest.mark.parametrize(
    "item, message",
    [
        (
            "02.factorization.stepz=5",
            r"02_factorization\.factorization: unknown parameter\(s\) \['stepz'\]; known: .*'steps'",
        ),
        ("02.factorization.model.n_landmark=5", r"factorization\.model: unknown parameter\(s\) \['n_landmark'\]"),
        ("04.horizon.contxt=5", r"04_dynamics\.horizon: unknown parameter\(s\) \['contxt'\]"),
        ("05.detector.stpes=5", r"05_prediction\.detector: unknown parameter\(s\) \['stpes'\]"),
    ],
)
def test_a_misspelt_key_inside_a_mapping_param_stops_the_plan(item, message):
    with pytest.raises(ValueError, match=message):
        runner.plan("smoke", None, [], [item], REPO)


def test_the_mapping_registry_names_parameters_the_notebooks_declare_with_their_dataclass():
    """Each registered (notebook, parameter) is declared by that notebook, whose parameters cell names the dataclass
    the mapping fills, and every profile passes the check (`plan` runs it)."""
    for (stem, name), cls in runner.MAPPING_CONFIGS.items():
        line = next(
            (line for line in (REPO / "nbs" / f"{stem}.py").read_text().splitlines() if line.startswith(f"{name} = ")),
            None,
        )
        assert line is not None, f"nbs/{stem}.py declares no {name}"
        assert cls.__name__ in line, f"nbs/{stem}.py: {line!r} does not name {cls.__name__}"
        assert dataclasses.is_dataclass(cls)
    assert (
        runner.plan("smoke", None, [], ["02.factorization.steps=5"], REPO).parameters["02_factorization"][
            "factorization"
        ]["steps"]
        == 5
    )


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
    good_source = '# %% tags=["parameters"]\nprofile = "x"\nrun_dir = ""\n\n# %%\nprint("first")\n'
    (root / "nbs" / "02_b.py").write_text(good_source)
    runner.run(str(root / "params" / "t.yaml"), html=False, root=root)  # a good run first
    good = (root / "book" / "02_b.ipynb").read_bytes()
    (root / "nbs" / "02_b.py").write_text(good_source + '\n# %%\nraise ValueError("boom")\n')
    with pytest.raises(SystemExit) as failure:
        runner.run(str(root / "params" / "t.yaml"), html=False, root=root)
    message = str(failure.value)
    assert 'nbs/02_b.py failed in cell 3 (counting from 1, starting `raise ValueError("boom")`)' in message
    assert "ValueError: boom" in message and "partial output: book/02_b.failed.ipynb" in message
    assert "book/02_b.ipynb keeps the last successful run" in message
    assert (root / "book" / "02_b.ipynb").read_bytes() == good  # the last success is kept as it was
    assert notebooks.execution_record(root / "book" / "02_b.ipynb") is not None
    partial = nbformat.read(root / "book" / "02_b.failed.ipynb", as_version=4)
    assert [o.get("text") for c in partial.cells if c.cell_type == "code" for o in c.outputs][:1] == ["first\n"]
    assert any(o.output_type == "error" for c in partial.cells if c.cell_type == "code" for o in c.outputs)
    assert "lmvid" not in partial.metadata
    record = json.loads((root / "runs" / "t" / "manifest.json").read_text())
    assert (
        record["notebooks"]["02_b"]["status"] == "failed" and "ValueError: boom" in record["notebooks"]["02_b"]["error"]
    )
    (root / "nbs" / "02_b.py").write_text(good_source + "\n# %%\nx = 1\n")
    runner.run(str(root / "params" / "t.yaml"), html=False, root=root)  # a success replaces the page, the partial goes
    assert not (root / "book" / "02_b.failed.ipynb").exists() and (root / "book" / "02_b.ipynb").read_bytes() != good
    published = nbformat.read(root / "book" / "02_b.ipynb", as_version=4).metadata
    assert published["papermill"]["output_path"] == "book/02_b.ipynb" and "lmvid" in published


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
