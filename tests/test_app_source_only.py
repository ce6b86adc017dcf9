"""Integration: the source-only app and apps.evaluate end to end on real data, a few steps."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf


@pytest.fixture(scope="module")
def source_only_run(real_data_dir, tmp_path_factory):
    """One short training run shared by the tests below: (output dir, metrics)."""
    tmp = tmp_path_factory.mktemp("source_only")
    out = tmp / "run"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.train_source_only",
            "--flagfile=apps/configs/source_only_mnist_to_mnistm.cfg",
            f"--data_dir={real_data_dir}",
            f"--output_dir={out}",
            f"--export_root={tmp / 'exports'}",
            "--max_steps=30",
            "--eval_every=15",
            "--log_every=10",
            "--checkpoint_every=15",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return out, json.loads((out / "metrics.json").read_text())


def test_source_only_app_writes_metrics_figures_events_and_export(source_only_run):
    out, metrics = source_only_run
    for key in (
        "source_test_accuracy",
        "target_test_accuracy",
        "steps",
        "wall_seconds",
        "source_test_f1_macro",
        "target_test_confusion_matrix",
    ):
        assert key in metrics
    assert metrics["steps"] == 30
    assert metrics["source_test_accuracy"] > 0.3  # well above chance after 30 steps
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "confusion_source.png",
        "confusion_target.png",
        "curves.png",
    }
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    loaded = tf.saved_model.load(metrics["export_path"])
    outputs = loaded.signatures["serving_default"](images=tf.zeros([2, 32, 32, 3]))
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)


def test_evaluate_app_scores_the_export_as_the_training_run_did(source_only_run, real_data_dir, tmp_path):
    _, trained = source_only_run
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "apps.evaluate",
            f"--model={trained['export_path']}",
            "--domain=mnist_m",
            f"--data_dir={real_data_dir}",
            f"--output_dir={tmp_path / 'eval'}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    assert "mnist_m test accuracy" in result.stdout
    served = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert abs(served["accuracy"] - trained["target_test_accuracy"]) < 1e-3
    assert (tmp_path / "eval" / "confusion_mnist_m.png").exists()
