"""The paper profile's attributions: every setting sourced to the paper names the place in the paper that says it."""

import re
from pathlib import Path

import yaml

PAPER_PROFILE = Path(__file__).resolve().parents[1] / "params" / "paper.yaml"
PLACE = re.compile(r"Sec\.|§|Eq\.|Table|Fig\.|appendix", re.IGNORECASE)
PAPER = re.compile(r"\bpaper\b", re.IGNORECASE)
OURS = re.compile(r"\bours\b", re.IGNORECASE)


def comments(text: str) -> list[tuple[int, str]]:
    """(line number, comment text) of every comment after the profile's opening comment block, inline or on its own
    line. A '#' inside a quoted YAML value does not start a comment (the profiles quote none)."""
    found, header = [], True
    for number, line in enumerate(text.splitlines(), 1):
        header = header and line.startswith("#")
        if not header and "#" in line:
            found.append((number, line.split("#", 1)[1].strip()))
    return found


def unplaced_paper_sources(text: str) -> list[str]:
    """'line N: comment' for every comment whose source (its text before the first ':') says "paper" without a place
    (Sec./§, Eq., Table, Fig., appendix), or that mentions the paper with neither a place nor an "ours" label."""
    bad = []
    for number, comment in comments(text):
        source = comment.split(":", 1)[0]
        if PAPER.search(source) and not PLACE.search(source):
            bad.append(f"line {number}: {comment}")
        elif PAPER.search(comment) and not (PLACE.search(comment) or OURS.search(comment)):
            bad.append(f"line {number}: {comment}")
    return bad


def test_every_paper_source_in_the_paper_profile_names_its_place():
    bad = unplaced_paper_sources(PAPER_PROFILE.read_text())
    assert not bad, "params/paper.yaml cites the paper without a place (Sec., Eq., Table, Fig., appendix):\n" + (
        "\n".join(bad)
    )


def test_the_check_catches_a_paper_source_without_a_place():
    text = (
        "# header: the paper's settings\n"
        "a:\n"
        "  lr: 1.0  # paper Sec. 3.1: fine\n"
        "  decay: constant  # as the paper: no place before the colon\n"
        "  steps: 5  # ours: the paper gives none\n"
        "  batch: 4  # the paper's batch\n"
        "  size: 3  # appendix A: as in the paper\n"
    )
    assert unplaced_paper_sources(text) == [
        "line 4: as the paper: no place before the colon",
        "line 6: the paper's batch",
    ]


def test_the_profiles_score_the_bbc_horizon_they_say():
    for name, horizon in (("paper", 98), ("cpu", 98)):  # Fig. 3: 98 frames predicted from 2
        profile = yaml.safe_load((PAPER_PROFILE.parent / f"{name}.yaml").read_text())
        assert profile["04_dynamics"]["horizon"]["context"] == 2, name
        assert profile["04_dynamics"]["horizon"]["horizon"] == horizon, name


GPU_PROFILE = PAPER_PROFILE.with_name("gpu.yaml")
MARKED = re.compile(r"#\s*(reduced|gpu):")


def _leaves(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    """key path -> line (0-based) of every value of a composed YAML mapping that is not itself a mapping."""
    if not isinstance(node, yaml.MappingNode):
        return {path: node.start_mark.line}
    found = {}
    for key, value in node.value:
        found.update(_leaves(value, (*path, key.value)))
    return found


def _value(data, path):
    for key in path:
        data = data[key]
    return data


def unmarked_changes(text: str, paper: dict) -> list[str]:
    """'KEY.PATH (line N)' for every setting of a profile `text` that differs from (or is missing in) the paper
    profile `paper` without a "reduced:" / "gpu:" comment on its line, and for every paper setting it lacks."""
    lines, data = text.splitlines(), yaml.safe_load(text)
    leaves = _leaves(yaml.compose(text))
    bad = []
    for path, line in leaves.items():
        try:
            same = _value(paper, path) == _value(data, path)
        except (KeyError, TypeError):
            same = False
        if not same and not MARKED.search(lines[line]):
            bad.append(f"{'.'.join(path)} (line {line + 1})")
    missing = set(_leaves(yaml.compose(yaml.safe_dump(paper)))) - set(leaves)
    return bad + [f"{'.'.join(p)} (missing)" for p in sorted(missing)]


def test_every_setting_the_gpu_profile_changes_from_the_paper_profile_says_so_on_its_line():
    text, paper = GPU_PROFILE.read_text(), yaml.safe_load(PAPER_PROFILE.read_text())
    assert unmarked_changes(text, paper) == []
    assert unplaced_paper_sources(text) == []
    gpu = yaml.safe_load(text)
    assert (
        gpu["common"]["device"] == "cuda"
        and gpu["02_factorization"]["factorization"]["model"]
        == (
            paper["02_factorization"]["factorization"]["model"]  # the paper's sizes
        )
    )


def test_the_change_check_catches_an_unmarked_change_and_a_missing_setting():
    paper = {"a": {"steps": 10, "lr": 1.0, "seeds": [0, 1]}}
    text = "a:\n  steps: 5  # reduced: half\n  lr: 2.0  # ours: faster\n"
    assert unmarked_changes(text, paper) == ["a.lr (line 3)", "a.seeds (missing)"]
