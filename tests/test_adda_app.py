"""Integration: apps.train_adda end to end on two tiny .npz digit domains, and its resume."""

import json
import os
import subprocess

import numpy as np
import pytest
import tensorflow as tf
from conftest import adaptation_app_command, write_npz_domain

ADDA_FLAGS = [
    "--flagfile=apps/configs/adda_digits.cfg",
    "--source_steps=4",
    "--source_batch_size=16",
    "--discriminator_units=16",
]


def _command(tmp, source, target, *extra):
    return [*adaptation_app_command("train_adda", tmp, source, target, *ADDA_FLAGS), *extra]


def _stage_one_dirs(out):
    """Stage 1's run directories: source_stage/, or source_stage_<augmentation>/ per --source_augmentations."""
    dirs = sorted(out.glob("source_stage*"))
    assert dirs, f"no stage-1 run directory in {out}"
    return dirs


@pytest.fixture(scope="module")
def adda_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("adda")
    rng = np.random.default_rng(0)
    source = write_npz_domain(tmp / "source.npz", rng, invert=False)
    target = write_npz_domain(tmp / "target.npz", rng, invert=True)
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
    for stage_dir in _stage_one_dirs(out):
        stage_one = [json.loads(line) for line in (stage_dir / "history.jsonl").read_text().splitlines()]
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

    def stage_one_state():
        return {
            stage_dir.name: ((stage_dir / "history.jsonl").read_text(), sorted(os.listdir(stage_dir / "checkpoints")))
            for stage_dir in _stage_one_dirs(out)
        }

    before = stage_one_state()
    subprocess.run([*command, "--max_steps=6"], check=True, capture_output=True, text=True)
    assert stage_one_state() == before
    metrics = json.loads((out / "metrics.json").read_text())
    # The restored stage-1 model scores exactly as before.
    assert metrics["source_only_target_test_accuracy"] == first["source_only_target_test_accuracy"]
    assert metrics["steps"] == 6 and metrics["source_stage_steps"] == 4
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history if "encoder_loss" in r] == [2, 4, 6]


def test_the_shipped_config_trains_both_source_models_and_adapts_the_best_scored(adda_run):
    out, _, metrics = adda_run
    candidates = metrics["source_stage_candidates"]
    assert set(candidates) == {"none", "geometric"}
    assert {d.name for d in _stage_one_dirs(out)} == {"source_stage_none", "source_stage_geometric"}
    for kind in candidates:
        assert (out / f"source_stage_{kind}" / "checkpoints").is_dir()
        assert -np.log(10) <= candidates[kind]["information_maximization"] <= np.log(10)
    chosen = metrics["source_stage_augmentation"]
    assert candidates[chosen]["information_maximization"] == max(
        c["information_maximization"] for c in candidates.values()
    )
    # The adapted model starts from the chosen stage-1 model, whose results are the source_only_ ones.
    assert metrics["source_only_target_test_accuracy"] == candidates[chosen]["target_test_accuracy"]
    assert metrics["source_only_source_test_accuracy"] == candidates[chosen]["source_test_accuracy"]
    # The label-free scores of metrics.json: the chosen stage-1 model's is the one it was chosen by.
    assert metrics["source_only_target_train_information_maximization"] == pytest.approx(
        candidates[chosen]["information_maximization"]
    )
    for prefix in ("", "source_only_"):
        im = metrics[f"{prefix}target_train_information_maximization"]
        assert -np.log(10) <= im <= np.log(10)
        entropies = (
            metrics[f"{prefix}target_train_marginal_entropy"] - metrics[f"{prefix}target_train_conditional_entropy"]
        )
        assert im == pytest.approx(entropies)


def test_an_empty_source_augmentations_trains_one_source_model(tmp_path):
    rng = np.random.default_rng(1)
    source = write_npz_domain(tmp_path / "source.npz", rng, invert=False)
    target = write_npz_domain(tmp_path / "target.npz", rng, invert=True)
    command = _command(tmp_path, source, target, "--source_augmentations=", "--max_steps=2")
    subprocess.run(command, check=True, capture_output=True, text=True)
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())
    assert [d.name for d in _stage_one_dirs(out)] == ["source_stage"]
    assert "source_stage_candidates" not in metrics and "source_stage_augmentation" not in metrics
    assert metrics["source_stage_steps"] == 4 and metrics["steps"] == 2


def test_source_augmentations_refuses_unknown_or_repeated_kinds(tmp_path):
    for value in ("none,none", "none,colour"):
        result = subprocess.run(
            _command(tmp_path, "npz:unused.npz", "npz:unused.npz", f"--source_augmentations={value}"),
            capture_output=True,
            text=True,
        )
        assert result.returncode != 0
        assert "--source_augmentations lists each of" in result.stderr
