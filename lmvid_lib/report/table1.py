"""Summaries of the keypoint protocol's results (the Table 1 analogue of notebook 03_keypoints).

Seeds are summarised as Table 1 reports them, mean ± std (best) (`summarize_seeds`, `accuracy_table`);
`per_joint_table` and `seed_mean_curves` (Fig. 9) average seeds; `margin_over_baselines` compares the best learned
variant with the better baseline; `identity_diagnosis` puts the per-identity diagnostic into words. The paper's
published BBC numbers are only ever quoted, in a table of their own (`paper_bbc_table`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lmvid_lib.eval.keypoints import KeypointEvalConfig, KeypointResult
from lmvid_lib.report.tables import markdown_table

# Published BBC Pose test accuracies at 6 px, quoted from Shih et al. 2019, Table 1 (mean ± std over 3 seeds, best).
PAPER_BBC_TABLE1: tuple[tuple[str, str], ...] = (
    ("Charles et al. 2013 (supervised)", "79.9"),
    ("Pfister et al. 2015 (supervised)", "88.0"),
    ("Jakab et al. 2018", "68.4"),
    ("Lorenz et al. 2019", "74.5"),
    ("Shih et al. 2019, Lorenz-style decoder", "74.2 ± 1.6 (best 75.7)"),
    ("Shih et al. 2019, SPADE decoder", "75.0 ± 0.9 (best 76.1)"),
)


@dataclass
class Margin:
    """The best learned variant against the better baseline on one split (accuracies: mean over seeds, in [0,1])."""

    learned: str
    learned_accuracy: float
    baseline: str
    baseline_accuracy: float
    split_label: str
    n_seeds: int

    @property
    def points(self) -> float:
        """Margin in percentage points."""
        return 100.0 * (self.learned_accuracy - self.baseline_accuracy)

    def sentence(self, cfg: KeypointEvalConfig) -> str:
        """One sentence, generated from the numbers, stating the measured margin."""
        return (
            f"On {self.split_label}, the best learned variant ({self.learned}, mean of {self.n_seeds} seed(s)) "
            f"reaches {100 * self.learned_accuracy:.1f}% of keypoints within {cfg.threshold:g} {cfg.unit}, the "
            f"better baseline ({self.baseline}) {100 * self.baseline_accuracy:.1f}%: a margin of "
            f"{self.points:+.1f} points."
        )


def margin_over_baselines(
    results: Mapping[str, Sequence[KeypointResult]],
    learned: Sequence[str],
    baselines: Sequence[str],
    split: str,
    split_label: str | None = None,
) -> Margin:
    """Compare the learned method with the highest seed-mean accuracy on `split` to the best baseline."""

    def mean(method: str) -> float:
        if method not in results or not results[method]:
            raise ValueError(f"no results for method {method!r} (have {sorted(results)})")
        return float(np.mean([r.splits[split].accuracy for r in results[method]]))

    if not learned or not baselines:
        raise ValueError("margin_over_baselines needs at least one learned method and one baseline")
    best = max(learned, key=mean)
    base = max(baselines, key=mean)
    return Margin(best, mean(best), base, mean(base), split_label or split, len(results[best]))


def identity_diagnosis(
    results: Mapping[str, Sequence[KeypointResult]],
    learned: str,
    baseline: str,
    split: str,
    split_label: str,
    joint_names: Sequence[str],
    cfg: KeypointEvalConfig,
    weak_below: float = 0.5,
    consistent_within: float = 2.0,
) -> str:
    """What the per-identity diagnostic says about `learned` on `split` (seed means), compared with `baseline`; ""
    when it was not computed (identities unseen in training, `cfg.per_identity` off, or results cached without it).
    A refit gaining less than `consistent_within` points counts as landmarks consistent across identities."""

    def means(method: str) -> tuple[float, float, np.ndarray] | None:
        runs = [r.splits[split] for r in results.get(method, ()) if split in r.splits]
        if not runs or any(r.per_identity_accuracy is None for r in runs):
            return None
        return (
            float(np.mean([r.accuracy for r in runs])),
            float(np.mean([r.per_identity_accuracy for r in runs])),
            np.mean([r.per_identity_per_joint for r in runs], axis=0),
        )

    ours, base = means(learned), means(baseline)
    if ours is None:
        return ""
    accuracy, per_identity, per_joint = ours
    gain = 100 * (per_identity - accuracy)
    text = (
        f"Diagnosis (not the protocol): with one regressor per identity, fitted on that identity's training "
        f"frames only, {learned} reaches {100 * per_identity:.1f}% on {split_label} instead of "
        f"{100 * accuracy:.1f}%, "
        + (
            f"so {gain:.1f} points are lost because a landmark does not mark the same body part in every identity"
            if gain >= consistent_within
            else "so its landmarks mark the same body parts in every identity"
        )
    )
    if base is not None:
        text += f" (the same refit moves {baseline} by {100 * (base[1] - base[0]):+.1f} points)"
    weak = [f"{name} {100 * a:.0f}%" for name, a in zip(joint_names, per_joint) if a < weak_below]
    if weak:
        text += (
            f". Even per identity, {', '.join(weak)} stay below {100 * weak_below:.0f}% within "
            f"{cfg.threshold:g} px: no landmark follows these joints closely"
        )
    return text + "."


@dataclass
class SeedSummary:
    """Accuracy over training seeds, as Table 1 reports it: mean ± std (sample std, ddof=1) and best."""

    mean: float
    std: float
    best: float
    n: int

    def format(self, percent: bool = True) -> str:
        s = 100.0 if percent else 1.0
        if self.n == 1:
            return f"{s * self.mean:.1f} (1 seed)"
        return f"{s * self.mean:.1f} ± {s * self.std:.1f} (best {s * self.best:.1f}, {self.n} seeds)"


def summarize_seeds(values: Sequence[float]) -> SeedSummary:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"values must be a non-empty 1-D sequence of accuracies, got shape {values.shape}")
    std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return SeedSummary(float(values.mean()), std, float(values.max()), len(values))


def accuracy_table(
    results: Mapping[str, Sequence[KeypointResult]], split_labels: Mapping[str, str], cfg: KeypointEvalConfig
) -> str:
    """Table 1 analogue: one row per method (several results = several seeds -> mean ± std, best), one column per split.

    `split_labels` maps split names to column headers (they should name the dataset).
    """
    header = ["Method"] + [f"{label}: accuracy at {cfg.threshold:g} {cfg.unit} (%)" for label in split_labels.values()]
    rows = []
    for method, runs in results.items():
        if not runs:
            raise ValueError(f"method {method!r} has no results")
        rows.append([method] + [summarize_seeds([r.splits[s].accuracy for r in runs]).format() for s in split_labels])
    return markdown_table(header, rows)


def per_joint_table(
    results: Mapping[str, KeypointResult | Sequence[KeypointResult]],
    split: str,
    joint_names: Sequence[str],
    cfg: KeypointEvalConfig,
) -> str:
    """Accuracy at cfg.threshold per joint (%), one row per method, on `split`; a method with several results
    (seeds) shows their mean."""
    header = ["Method"] + list(joint_names) + [f"all joints (accuracy at {cfg.threshold:g} {cfg.unit}, %)"]
    rows = []
    for method, runs in results.items():
        runs = [runs] if isinstance(runs, KeypointResult) else list(runs)
        if not runs:
            raise ValueError(f"method {method!r} has no results")
        per_joint = np.mean([r.splits[split].per_joint for r in runs], axis=0)
        if len(per_joint) != len(joint_names):
            raise ValueError(f"{method}: {len(per_joint)} joints but {len(joint_names)} joint names")
        accuracy = np.mean([r.splits[split].accuracy for r in runs])
        rows.append([method] + [f"{100 * v:.1f}" for v in per_joint] + [f"{100 * accuracy:.1f}"])
    return markdown_table(header, rows)


def seed_mean_curves(
    results: Mapping[str, Sequence[KeypointResult]], split: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Fig. 9 input: method -> (thresholds [T], accuracy [T] averaged over the method's seeds) on `split`.
    The label says how many seeds were averaged."""
    curves = {}
    for method, runs in results.items():
        if not runs:
            raise ValueError(f"method {method!r} has no results")
        thresholds = runs[0].thresholds
        if any(not np.array_equal(r.thresholds, thresholds) for r in runs):
            raise ValueError(f"method {method!r}: its results were scored at different thresholds")
        n = len(runs)
        curves[f"{method} ({n} seed{'s' if n > 1 else ''})"] = (
            thresholds,
            np.mean([r.splits[split].curve for r in runs], axis=0),
        )
    return curves


def paper_bbc_table() -> str:
    """The published BBC Pose numbers, quoted (never computed here): a table of its own."""
    return markdown_table(["Method", "BBC Pose, quoted from Shih et al. 2019: accuracy at 6 px (%)"], PAPER_BBC_TABLE1)
