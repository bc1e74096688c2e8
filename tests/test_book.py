"""The book driver and what chapters show a reader: progress stripping, the one parameters cell, run order (root
after the chapters, the run record last), the executed notebook's record, captioned tables and figures, the claims
behind the reproduction table, the pipeline figure."""

from __future__ import annotations

import json
import subprocess
import sys

import matplotlib
import nbformat
import numpy as np
import pytest
import torch

from lmvid_lib.models.factorization import FactorizationModel, ModelConfig
from lmvid_lib.models.run_config import config_from_parameters, dataset_model_configs
from lmvid_lib.paths import code_digest
from lmvid_lib.publish import notebooks, runner
from lmvid_lib.report.captions import Captions
from lmvid_lib.report.claims import Claim, claims_table, read_claims, write_claims
from lmvid_lib.report.figures import pipeline_figure
from lmvid_lib.report.runs import training_setup
from lmvid_lib.report.tables import Table, markdown_table

matplotlib.use("Agg")


def test_strip_progress_removes_tqdm_frames_and_keeps_other_stderr():
    text = (
        "\rsigner-spade-seed0:   0%|          | 0/20 [00:00<?, ?it/s]"
        "\rsigner-spade-seed0:  45%|####5     | 9/20 [00:07<00:08,  1.32it/s, loss=0.7379]\n"
        "UserWarning: something worth reading\n"
        "landmarks: 5it [00:01,  3.20it/s]\rlandmarks: 9it [00:03, 2.91s/it]\n"
    )
    assert notebooks.strip_progress(text) == "UserWarning: something worth reading\n"
    assert notebooks.strip_progress("\rx:  50%|#####     | 1/2 [00:00<00:00, 3.2it/s]\n") == ""
    assert notebooks.strip_progress("plain text, 3 items [done]\n") == "plain text, 3 items [done]\n"
    # Bars with another unit ("batch/s") are progress too.
    assert notebooks.strip_progress("sequences:  33%|###  | 2/6 [00:00<00:00, 12.58batch/s]\nkept\n") == "kept\n"


def test_literal_defaults_keep_order_and_skip_non_literals():
    declared = {
        "profile": {"default": '"cpu"'},
        "sizes": {"default": "{'a': [1, 2]}"},
        "when": {"default": "time.time()"},
        "seed": {"default": "0"},
    }
    defaults = notebooks.literal_defaults(declared)
    assert defaults == {"profile": "cpu", "sizes": {"a": [1, 2]}, "seed": 0}
    assert list(defaults) == ["profile", "sizes", "seed"]


def _chapter_source(name: str) -> str:
    """A notebook that logs its run order, reports progress on stderr and declares a default the profile leaves."""
    return (
        '# %% tags=["parameters"]\nprofile = "x"\nrun_dir = "runs/x"\nwidth = 3\n\n'
        "# %%\nimport sys\nfrom pathlib import Path\n"
        f"with open(Path(run_dir) / 'order.txt', 'a') as f:\n    f.write('{name}\\n')\n"
        "sys.stderr.write('\\rsteps:  50%|#####     | 1/2 [00:00<00:00,  3.20it/s]')\n"
        "sys.stderr.write('\\rsteps: 100%|##########| 2/2 [00:00<00:00,  3.30it/s]\\n')\n"
        "print(f'run_dir={run_dir} width={width}')\n"
    )


def test_book_runs_root_last_with_one_complete_relative_parameters_cell(tmp_path):
    for folder in ("nbs", "book", "params"):
        (tmp_path / folder).mkdir()
    for name in ("00_intro", "01_a"):
        (tmp_path / "nbs" / f"{name}.py").write_text(_chapter_source(name))
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: book/00_intro\nchapters:\n  - file: book/01_a\n")
    (tmp_path / "params" / "t.yaml").write_text("common: {}\n")
    code = (
        "import sys, lmvid_lib.publish.runner as r, lmvid_lib.paths as p; from pathlib import Path;"
        f"root=Path({str(tmp_path)!r}); p.PARAMS_DIR=root/'params';"
        "sys.exit(r.run('t', html=False, root=root))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs" / "t" / "order.txt").read_text() == "01_a\n00_intro\n"
    assert "3.30it/s" in proc.stderr  # progress reaches the terminal of `make book`

    nb = nbformat.read(tmp_path / "book" / "01_a.ipynb", as_version=4)
    defaults, injected = (c for c in nb.cells if {"parameters", "injected-parameters"} & set(c.metadata.tags))
    assert "remove-cell" in defaults.metadata.tags and "remove-cell" not in injected.metadata.tags
    assert 'run_dir = "runs/t"' in injected.source and "width = 3" in injected.source
    assert nb.metadata.papermill.output_path == "book/01_a.ipynb" and str(tmp_path) not in nbformat.writes(nb)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert [o.text for o in outputs] == ["run_dir=runs/t width=3\n"]  # the stderr frames are gone
    params = {"profile": "t", "run_dir": "runs/t", "width": 3}
    record = notebooks.execution_record(tmp_path / "book" / "01_a.ipynb")
    library = code_digest(tmp_path / "lmvid_lib")  # the fake repository's library: none
    assert record["digest"] == runner.digest((tmp_path / "nbs" / "01_a.py").read_text(), params, library)
    assert record["code_digest"] == library
    assert not (tmp_path / "book" / "01_a.failed.ipynb").exists()  # a success leaves no partial notebook

    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240, check=False)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped (up to date") == 2  # the record papermill's output got is recognised
    assert (tmp_path / "runs" / "t" / "order.txt").read_text() == "01_a\n00_intro\n"


def test_execution_order_puts_the_root_notebook_after_the_chapters_and_the_run_record_last(tmp_path):
    (tmp_path / "nbs").mkdir()
    (tmp_path / "book").mkdir()
    for name in ("00_intro", "01_a", "02_b", "99_record"):
        (tmp_path / "nbs" / f"{name}.py").write_text("# %%\n")
    (tmp_path / "book" / "90_notes.md").write_text("# notes\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/00_intro\nparts:\n  - chapters:\n"
        "    - file: book/01_a\n    - file: book/99_record\n    - file: book/90_notes\n  - chapters:\n"
        "    - file: book/02_b\n"
    )
    assert notebooks.toc_entries(tmp_path) == [
        "book/00_intro",
        "book/01_a",
        "book/99_record",
        "book/90_notes",
        "book/02_b",
    ]
    order = [c.stem for c in notebooks.execution_order(notebooks.chapters(tmp_path))]
    assert order == ["01_a", "02_b", "00_intro", "99_record"]


def test_table_renders_one_html_table_with_its_caption():
    table = Table(
        markdown_table(["method", "accuracy `6 px` (%)"], [["a|b", "61.5"]], [False, True]),
        "Table 3.1. `signer`, held-out frames",
    )
    html = table._repr_html_()
    assert html.count("<table") == 1
    assert "<figcaption>Table 3.1. <code>signer</code>, held-out frames</figcaption>" in html
    assert "<td>a|b</td>" in html and '<td style="text-align:right">61.5</td>' in html
    assert table._repr_markdown_().startswith("**Table 3.1.")
    with pytest.raises(ValueError, match="exactly one markdown table"):
        Table("no table here", "caption")


def test_captions_number_figures_and_tables_per_chapter():
    import matplotlib.pyplot as plt

    captions = Captions(chapter=2)
    first = captions.figure(plt.figure(), "loss curves")
    second = captions.figure("<div>player</div>", "an animation", full_width=True)
    table = captions.table(markdown_table(["a"], [[1]]), "sizes")
    assert "<strong>Figure 2.1.</strong> loss curves" in first._repr_html_()
    assert 'src="data:image/png;base64,' in first._repr_html_() and not plt.get_fignums()
    assert "Figure 2.2." in second._repr_html_() and "full-width" in second._repr_html_()
    assert "<figcaption>Table 2.1. sizes</figcaption>" in table._repr_html_()
    assert "<strong>Figure 1.</strong>" in Captions(chapter=None).figure("<i></i>", "x")._repr_html_()


def test_claims_round_trip_in_notebook_order_and_reject_unknown_fields(tmp_path):
    assert read_claims(tmp_path) == []
    late = Claim("prediction", "quoted", "measured", "walker", "cpu", "5")
    early = Claim("keypoints", "75.0", "61.2 (1 seed)", "signer held-out frames", "cpu", "3")
    write_claims(tmp_path, "05_prediction", [late])
    write_claims(tmp_path, "03_keypoints", [early])
    assert read_claims(tmp_path) == [early, late]
    assert "| keypoints | 75.0 | 61.2 (1 seed) | signer held-out frames | cpu | 3 |" in claims_table([early])
    (tmp_path / "claims" / "04_x.json").write_text(json.dumps([{"claim": "x"}]))
    with pytest.raises(ValueError, match="04_x.json"):
        read_claims(tmp_path)


def test_pipeline_figure_shows_the_models_own_decoding():
    torch.manual_seed(0)
    cfg = ModelConfig(
        image_size=16,
        n_landmarks=3,
        appearance_channels=4,
        pose_widths=(4, 8),
        appearance_width=4,
        decoder_widths=(8, 8),
        decoder_resolution=8,
        decoder_max_resolution=None,
        spade_hidden=4,
    )
    model = FactorizationModel(cfg).train()
    frame = torch.rand(1, 3, 16, 16)
    colors = np.eye(3)
    fig = pipeline_figure(model, frame, colors, title="t")
    assert model.training  # mode restored
    with torch.no_grad():
        recon = model.eval()(frame, frame)["recon"][0].permute(1, 2, 0).numpy()
    panels = [ax.images[0].get_array() for ax in fig.axes]
    assert [np.asarray(p).shape for p in panels] == [(16, 16, 3), (8, 8, 3), (16, 16, 3), (16, 16, 3)]  # maps at S/2
    np.testing.assert_allclose(np.asarray(panels[3]), recon.clip(0, 1), atol=1e-6)
    np.testing.assert_allclose(np.asarray(panels[0]), frame[0].permute(1, 2, 0).numpy())
    assert np.asarray(panels[2]).max() == pytest.approx(1.0)  # each heatmap scaled to its own peak, then tinted


def test_training_setup_states_the_configs_values_and_what_is_ours():
    cfg = config_from_parameters(
        {"model": {"n_landmarks": 12, "spade_condition": "heatmaps_appearance"}, "loss": {"lambda_adv": 0.0}},
        data_root=None,
    )
    text = training_setup(cfg, "cpu", ["spade", "concat"], [0, 1], "runs/cpu")
    assert "K = 12 landmarks" in text and f"{cfg.steps} steps" in text and "`runs/cpu/factorization/`" in text
    assert "conditioned on `heatmaps_appearance` (ours" in text and "(no discriminator)" in text
    assert f"{cfg.augment.temporal_min}-{cfg.augment.temporal_max} frames away" in text
    paper = config_from_parameters(
        {"model": {"spade_condition": "heatmaps"}, "loss": {"lambda_adv": 0.01}, "batch_size": 16, "accumulate": 8}
    )
    text = training_setup(paper, "paper", ["spade"], [0], "runs/paper")
    assert "conditioned on `heatmaps` as in the paper" in text and "0.01 (ours: Eq. 6" in text
    assert "batch 128 per process (8 accumulated micro-batch(es) of 16)" in text


def test_training_setup_lists_the_dataset_models_from_their_configs():
    shared = {"model": {"n_landmarks": 12}, "loss": {"lambda_grad": 20.0}, "steps": 1500}
    main = config_from_parameters(shared)
    models = dataset_model_configs(
        shared,
        {
            "pusher": {"factorization": {"model": {"n_landmarks": 8}, "steps": 400}},
            "walker": {"factorization": {"model": {"channels": 1}, "loss": {"lambda_grad": 5.0}}},
        },
        seed=1,
    )
    text = training_setup(main, "cpu", ["spade"], [1], "runs/cpu", models)
    pusher = next(line for line in text.splitlines() if line.startswith("  - `pusher`"))
    walker = next(line for line in text.splitlines() if line.startswith("  - `walker`"))
    assert "(embedded synthetic stand-in for BAIR): K = 8 landmarks, 64x64 RGB inputs, 400 steps;" in pusher
    assert "run `pusher-spade-seed1`" in pusher and "except" not in pusher  # nothing else differs
    assert (
        "K = 12 landmarks, 64x64 grayscale inputs, 1500 steps; otherwise as above except loss.lambda_grad 5.0" in walker
    )
    assert "decoder `spade`, seed 1" in text
    assert "further dataset" not in training_setup(main, "cpu", ["spade"], [1], "runs/cpu")


def test_run_inventory_lists_finished_runs_with_their_data(tmp_path):
    from lmvid_lib.io import atomic_write_json
    from lmvid_lib.models.run_config import TrainConfig, config_dict
    from lmvid_lib.report.runs import run_inventory

    for name, dataset, finished in (("pusher-spade-seed0", "pusher", True), ("walker-spade-seed0", "walker", False)):
        folder = tmp_path / "factorization" / name
        atomic_write_json(folder / "config.json", config_dict(TrainConfig(dataset=dataset)))
        if finished:
            (folder / "model.pt").write_bytes(b"")
    (tmp_path / "dynamics" / "pusher-residual-seed0").mkdir(parents=True)
    (tmp_path / "dynamics" / "pusher-residual-seed0" / "model.pt").write_bytes(b"")
    (tmp_path / "dynamics" / "pusher-direct-seed0").mkdir()
    assert run_inventory(tmp_path) == {
        "factorization": ["`pusher` (embedded synthetic stand-in for BAIR): pusher-spade-seed0"],
        "dynamics": ["pusher-residual-seed0"],
        "pixel": [],
    }
    assert run_inventory(tmp_path / "missing") == {"factorization": [], "dynamics": [], "pixel": []}
