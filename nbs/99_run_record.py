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
# # Appendix B. The run behind this book
#
# `lmvid run` (what `make book` calls) executes every notebook of this book with papermill and keeps a record of the
# run, `manifest.json` in the run directory: the code version, the machine, the package versions, the profile with
# every notebook's effective parameters, and each notebook's status and wall time. It rewrites the record after every
# notebook, so an interrupted run leaves a valid one, and a rerun skips the notebooks that are up to date (see the
# README, "Reruns"). This page renders the record as it stood when this page started, so its own row is not
# in the tables: the record it renders was written before it ran.
#
# A page counts as made from the named commit when the checkout was clean and its executed notebook is what this
# run's notebook source, parameters and library code make (the library code as a digest of every `.py` file under
# `lmvid_lib/`), and every training run in the run directory was trained by that code; the paragraph below the
# summary says whether every page was, or lists those that were not.

# %% tags=["parameters"]
profile = "cpu"  # passed by the book driver
run_dir = "runs/cpu"

# %% tags=["hide-input"]
from IPython.display import Markdown, display

from lmvid_lib.publish import manifest
from lmvid_lib.report.captions import Captions

OWN = "99_run_record"
record = manifest.read(run_dir)
captions = Captions(chapter=None)
display(Markdown(manifest.summary(record, own=OWN)))
display(Markdown(manifest.provenance(record, own=OWN, run_dir=run_dir)))

# %% [markdown]
# ## Notebooks
#
# In the order they ran: the chapters, then the introduction (it summarises the chapters' results). A notebook that
# was up to date keeps the wall time and finish time of the run that executed it. For a notebook that ran, the cost
# plan's estimate of its training (printed before the run started, from a timed probe of each training step; README,
# "Running on a GPU server") stands beside its measured wall time, which also holds its evaluation.

# %% tags=["hide-input"]
display(captions.table(manifest.notebooks_table(record, own=OWN), "Notebooks of this run (this page excluded)."))

# %% [markdown]
# ## Machine, code and packages

# %% tags=["hide-input"]
display(captions.table(manifest.environment_table(record), "Code version, machine and the profile's seeds."))
display(captions.table(manifest.packages_table(record), "The pinned packages of `pyproject.toml`, as installed."))

# %% [markdown]
# ## Parameters
#
# Every parameter each notebook ran with: its own defaults, overlaid with the profile's `common` section and its
# section, and any `--param` override of the run; nested settings are shown with dotted names.

# %% tags=["hide-input"]
display(
    captions.table(
        manifest.parameters_table(record), f"Effective parameters of profile `{record['profile']}`, per notebook."
    )
)
