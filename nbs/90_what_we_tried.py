# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix A. What we tried
#
# Every setting of the `cpu` profile that the paper does not fix (the edge loss and the landmark terms that replace the
# perceptual loss on machines without VGG19 weights, the model sizes, the step budget, the learning rate, the signer
# stand-in's identities, ...) was chosen by measuring it against alternatives. This appendix is the record of those
# measurements: `experiments/log.yaml`, one entry per experiment, with the commit it was measured on, the profile, what
# was changed, what was measured (the metric, its pixel scale and the split), the numbers of each setting with its
# split, training seed and steps, the baselines they were compared with, the split whose numbers decided, and whether
# the change was adopted and why. Choices are made on the validation split `tune` only: an earlier choice made on test
# numbers is superseded by its re-measurement on `tune`, and the record is refused when it is read
# (`lmvid_lib.publish.experiment_log.load_log`) if an adopted choice rests on a reported split. Everything below is
# generated from it. Most
# entries are single training seeds; the entries of component `common.seeds` show how far another seed moves the same
# configuration, which is the scale below which differences are noise.

# %% tags=["parameters"]
profile = "cpu"  # passed by the book driver; the record does not depend on the profile
run_dir = "runs/cpu"

# %% tags=["hide-input"]
from IPython.display import Markdown, display

from lmvid_lib.publish import experiment_log

entries = experiment_log.load_log()
groups = experiment_log.by_component(entries)
adopted = [e for e in entries if e.adopted]
current = [e for e in adopted if not e.superseded_by]
display(
    Markdown(
        f"The record holds {len(entries)} entries over {len(groups)} components, measured from "
        f"{min(e.date for e in entries)} to {max(e.date for e in entries)}: {len(adopted)} were adopted when measured "
        f"({len(current)} of them still current, {len(adopted) - len(current)} superseded by a later entry) and "
        f"{len(entries) - len(adopted)} were not. {experiment_log.decision_sentence(entries)}"
    )
)

# %% [markdown]
# ## The record by component
#
# One table per component, one row per entry in date order; the `results` column lists each measured setting with its
# values. The details of every entry (all results and baselines, the commit and where the numbers were first written
# down) follow in the next section.

# %% tags=["hide-input"]
for component, group in groups.items():
    display(Markdown(f"### `{component}`\n\n{experiment_log.summary_table(group)}"))

# %% [markdown]
# ## Entry details

# %% tags=["hide-input"]
for group in groups.values():
    for entry in group:
        sources = "; ".join(entry.sources) or "not recorded"
        display(
            Markdown(
                f"### {entry.id}\n\n"
                f"{entry.date}, commit `{entry.commit}`, profile `{entry.profile}`, component `{entry.component}`: "
                f"**{experiment_log.status(entry)}**, decided on `{entry.decided_on}`.\n\n"
                f"*Change.* {entry.change}\n\n*Measured.* {entry.metric}\n\n"
                f"{experiment_log.detail_table(entry)}\n\n*Why.* {entry.why}\n\n*Sources.* {sources}"
            )
        )
