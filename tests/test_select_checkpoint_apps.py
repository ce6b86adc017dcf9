"""Integration: --select_checkpoint=information_maximization in the adaptation apps (ADDA, DANN).

The app must report and export the candidate with the best label-free score, not the last step.
"""

import json
import subprocess

import numpy as np
import pytest
from conftest import adaptation_app_command, served_accuracy, write_npz_domain

APP_FLAGS = {
    "train_adda": [
        "--flagfile=apps/configs/adda_digits.cfg",
        "--source_steps=4",
        "--source_batch_size=16",
        "--discriminator_units=16",
    ],
    "train_dann": ["--flagfile=apps/configs/dann_mnist_to_mnistm.cfg", "--source_only_steps=0"],
}


@pytest.mark.parametrize("app", sorted(APP_FLAGS))
def test_information_maximization_selection_evaluates_and_exports_the_chosen_step(app, tmp_path):
    rng = np.random.default_rng(1)
    source = write_npz_domain(tmp_path / "source.npz", rng, invert=False)
    target = write_npz_domain(tmp_path / "target.npz", rng, invert=True)
    out = tmp_path / "run"
    command = adaptation_app_command(
        app, tmp_path, source, target, *APP_FLAGS[app], "--select_checkpoint=information_maximization"
    )
    subprocess.run(command, check=True, capture_output=True, text=True)
    metrics = json.loads((out / "metrics.json").read_text())
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    scores = {
        r["step"]: r["selection/information_maximization"] for r in history if "selection/information_maximization" in r
    }
    assert sorted(scores) == [0, 2, 4]  # the start of adaptation and every evaluation
    best_step = max(scores, key=scores.get)
    assert metrics["selected_step"] == best_step
    assert metrics["selected_information_maximization"] == pytest.approx(scores[best_step])
    assert 0.0 <= metrics["final_step_target_test_accuracy"] <= 1.0
    # The export is the selected model: it scores the reported target accuracy.
    assert served_accuracy(metrics["export_path"], tmp_path / "target.npz") == pytest.approx(
        metrics["target_test_accuracy"]
    )
