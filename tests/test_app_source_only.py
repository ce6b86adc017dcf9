"""Integration: the source-only app end to end on real data, a few steps."""

import json
import subprocess
import sys

import numpy as np
import tensorflow as tf


def test_source_only_app_writes_metrics_figures_events_and_export(real_data_dir, tmp_path):
    out, exports = tmp_path / "run", tmp_path / "exports"
    command = [
        sys.executable, "-m", "apps.train_source_only",
        "--flagfile=apps/configs/source_only_mnist_to_mnistm.cfg",
        f"--data_dir={real_data_dir}", f"--output_dir={out}", f"--export_root={exports}",
        "--max_steps=30", "--eval_every=15", "--log_every=10", "--checkpoint_every=15",
    ]
    subprocess.run(command, check=True, capture_output=True, text=True)
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("source_test_accuracy", "target_test_accuracy", "steps", "wall_seconds",
                "source_test_f1_macro", "target_test_confusion_matrix"):
        assert key in metrics
    assert metrics["steps"] == 30
    assert metrics["source_test_accuracy"] > 0.3  # well above chance after 30 steps
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "confusion_source.png", "confusion_target.png", "curves.png"}
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    loaded = tf.saved_model.load(metrics["export_path"])
    outputs = loaded.signatures["serving_default"](images=tf.zeros([2, 32, 32, 3]))
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1.0, rtol=1e-5)
