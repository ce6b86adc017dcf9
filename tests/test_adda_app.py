"""Integration: apps.train_adda end to end on two tiny .npz digit domains, and its resume."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import make_digits

TINY_FLAGS = [
    "--source_steps=4",
    "--source_batch_size=16",
    "--batch_size=16",
    "--max_steps=4",
    "--eval_every=2",
    "--log_every=2",
    "--checkpoint_every=2",
    "--discriminator_units=16",
    "--tsne_examples=20",
    "--pad_examples=20",
]


def _write_domain(path, rng, invert):
    """28x28 bar 'digits'; the target domain is the colour-inverted, tinted version."""
    arrays = {}
    for split, n in (("train", 64), ("test", 32)):
        x, y = make_digits(n, rng)
        x = np.repeat(x[..., None], 3, axis=-1)
        if invert:
            x = (255 - x) // np.array([1, 2, 3], np.uint8)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    np.savez(path, **arrays)
    return f"npz:{path}"


def _command(tmp, source, target, *extra):
    return [
        sys.executable,
        "-m",
        "apps.train_adda",
        "--flagfile=apps/configs/adda_digits.cfg",
        f"--source={source}",
        f"--target={target}",
        f"--output_dir={tmp / 'run'}",
        f"--export_root={tmp / 'exports'}",
        *TINY_FLAGS,
        *extra,
    ]


@pytest.fixture(scope="module")
def adda_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adda")
    rng = np.random.default_rng(0)
    source = _write_domain(tmp / "source.npz", rng, invert=False)
    target = _write_domain(tmp / "target.npz", rng, invert=True)
    command = _command(tmp, source, target)
    subprocess.run(command, check=True, capture_output=True, text=True)
    out = tmp / "run"
    return out, command, json.loads((out / "metrics.json").read_text())


def test_adda_app_writes_metrics_figures_and_both_stages(adda_run):
    out, _, metrics = adda_run
    for prefix in ("", "source_only_"):
        for domain in ("source", "target"):
            for key in ("accuracy", "precision_macro", "recall_macro", "f1_macro"):
                assert 0.0 <= metrics[f"{prefix}{domain}_test_{key}"] <= 1.0
            assert np.sum(metrics[f"{prefix}{domain}_test_confusion_matrix"]) == 32
    assert metrics["steps"] == 4 and metrics["source_stage_steps"] == 4
    for name in ("adda", "source_only"):
        assert -2.0 <= metrics[f"proxy_a_distance_{name}"] <= 2.0
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "confusion_source.png",
        "confusion_target.png",
        "curves.png",
        "tsne.png",
    }
    assert (out / "tensorboard" / "projector" / "projector_config.pbtxt").exists()
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    losses = [r for r in history if "encoder_loss" in r]
    assert [r["step"] for r in losses] == [2, 4]
    assert all(np.isfinite(r["discriminator_loss"]) for r in losses)
    stage_one = [json.loads(line) for line in (out / "source_stage" / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in stage_one if "accuracy" in r] == [2, 4]


def test_adda_app_exports_one_classifier_serving_probabilities(adda_run):
    _, _, metrics = adda_run
    assert "adda_classifier" in metrics["export_path"]
    loaded = tf.saved_model.load(metrics["export_path"])
    outputs = loaded.signatures["serving_default"](images=tf.zeros([3, 28, 28, 3]))
    assert outputs["probabilities"].shape == (3, 10)
    assert outputs["classes"].shape == (3,)
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)


def test_rerun_skips_the_finished_stage_one_and_resumes_stage_two(adda_run):
    """The same command with a longer --max_steps: stage 1 is restored, not retrained."""
    out, command, first = adda_run
    stage_one = out / "source_stage"
    history_before = (stage_one / "history.jsonl").read_text()
    checkpoints_before = sorted(p.name for p in (stage_one / "checkpoints").iterdir())
    subprocess.run([*command, "--max_steps=6"], check=True, capture_output=True, text=True)
    assert (stage_one / "history.jsonl").read_text() == history_before
    assert sorted(p.name for p in (stage_one / "checkpoints").iterdir()) == checkpoints_before
    metrics = json.loads((out / "metrics.json").read_text())
    # The restored stage-1 model scores exactly as before.
    assert metrics["source_only_target_test_accuracy"] == first["source_only_target_test_accuracy"]
    assert metrics["steps"] == 6 and metrics["source_stage_steps"] == 4
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history if "encoder_loss" in r] == [2, 4, 6]


def test_information_maximization_selection_evaluates_and_exports_the_chosen_step(tmp_path):
    rng = np.random.default_rng(1)
    source = _write_domain(tmp_path / "source.npz", rng, invert=False)
    target = _write_domain(tmp_path / "target.npz", rng, invert=True)
    command = _command(tmp_path, source, target, "--select_checkpoint=information_maximization")
    subprocess.run(command, check=True, capture_output=True, text=True)
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    scores = {
        r["step"]: r["selection/information_maximization"] for r in history if "selection/information_maximization" in r
    }
    assert sorted(scores) == [0, 2, 4]  # the unadapted start and every evaluation
    best_step = max(scores, key=scores.get)
    assert metrics["selected_step"] == best_step
    assert metrics["selected_information_maximization"] == pytest.approx(scores[best_step])
    assert 0.0 <= metrics["final_step_target_test_accuracy"] <= 1.0
    # The export is the selected model: it scores the reported target accuracy.
    loaded = tf.saved_model.load(metrics["export_path"])
    test = np.load(tmp_path / "target.npz")
    images = tf.constant(test["x_test"].astype(np.float32) / 127.5 - 1.0)
    classes = loaded.signatures["serving_default"](images=images)["classes"].numpy()
    assert np.mean(classes == test["y_test"]) == pytest.approx(metrics["target_test_accuracy"])
