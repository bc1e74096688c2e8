"""How each real dataset varies, and how its stand-in does: chapter 1's table of the axes of variation.

The real column is what the datasets' own papers and pages describe (BBC Pose: Charles et al., 2013; BAIR robot
pushing: Ebert et al., 2017; KTH: Schuldt et al., 2004); the stand-in column is what `data.synthetic` draws (each
preset's module docstring has the details). A stand-in that differs on an axis says so in its cell.
"""

from __future__ import annotations

AXES = ("camera", "background across videos", "lighting", "objects", "subject appearance", "motion")

VARIATION: dict[str, dict[str, tuple[str, str]]] = {
    "signer": {  # BBC Pose
        "camera": ("static broadcast camera, one framing per video", "static, one framing per identity"),
        "background across videos": (
            "a different broadcast behind each signer (moving video content)",
            "a static textured background per identity; nothing moves behind the signer (differs)",
        ),
        "lighting": ("studio lighting, steady", "fixed shading"),
        "objects": ("none besides the signer", "none"),
        "subject appearance": (
            "20 broadcast videos of several signers, each in their own clothes",
            "identities (skin, hair, build, shirt), attire held out in `val`; `test` shows the training identities "
            "(differs)",
        ),
        "motion": ("continuous signing: hands, arms, head", "signing-like keyframes of arms, torso and head"),
    },
    "pusher": {  # BAIR robot pushing
        "camera": ("one fixed camera over the bin", "one fixed top view, slightly oblique"),
        "background across videos": (
            "the same bin and table in every video",
            "one bin and table in every video of every split",
        ),
        "lighting": ("fixed lab lighting", "fixed shading"),
        "objects": (
            "many household objects per video, of every shape, colour and texture",
            "2-5 textured discs per video, of random size and colour; discs only (differs)",
        ),
        "subject appearance": ("one Sawyer arm", "one two-link arm and gripper"),
        "motion": (
            "random arm motions that push objects",
            "gripper way-points that approach, push or wander; quasi-static contacts",
        ),
    },
    "walker": {  # KTH actions
        "camera": (
            "static, except scenario d2 where the camera zooms in and out",
            "static, except scenario d2: a zoom of up to 1.4x in and out over the clip",
        ),
        "background across videos": (
            "mostly plain outdoor scenes (d1-d3) and one room (d4)",
            "a graded outdoor wall or sky over ground per video (d1-d3), a room with a door edge and a floor (d4)",
        ),
        "lighting": ("outdoor daylight and indoor light", "a lighting gradient per scene"),
        "objects": ("none", "none"),
        "subject appearance": (
            "25 people; other clothes in d3; test people unseen",
            "persons (build, grey levels of clothes, skin, hair; 12, 4 of them held out, by default); other clothes "
            "in d3; test persons unseen",
        ),
        "motion": (
            "6 actions: walking, jogging, running, boxing, hand-waving, hand-clapping",
            "the same 6 actions, side or front view",
        ),
    },
}


def variation_rows(preset: str) -> list[list[str]]:
    """Table rows axis | real dataset | stand-in for one stand-in preset (signer, pusher, walker)."""
    if preset not in VARIATION:
        raise ValueError(f"preset: no variation table for {preset!r}; known: {sorted(VARIATION)}")
    table = VARIATION[preset]
    return [[axis, *table[axis]] for axis in AXES]
