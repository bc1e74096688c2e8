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
