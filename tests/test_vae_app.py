"""Integration: the VAE app end to end on the BSDS500 stand-in (real photos), a few steps."""

import json
import subprocess
import sys

import numpy as np
import tensorflow as tf

METRIC_KEYS = [
    f"{kind}_{metric}_{stat}"
    for kind in ("normal", "anomaly")
    for metric in ("psnr", "ssim")
    for stat in ("mean", "std")
] + [
    "anomaly_roc_auc",
    "real_vs_reconstructed_accuracy",
    "real_vs_reconstructed_auc",
    "anomaly_seen_psnr_mean",
    "heldout_normal_total_loss",
    "steps",
    "wall_seconds",
    "export_path",
    "anomaly_score",
    "anomaly_validation_auc_kl",
    "anomaly_test_auc_elbo",
    "normal_reconstruction_diversity",
    "bare_step_examples_per_second",
    "loop_fraction_of_bare_step",
    "real_vs_reconstructed_threshold",
    "untrained_anomaly_roc_auc",
    "untrained_anomaly_test_auc_mse",
]


def test_vae_app_writes_metrics_figures_events_and_a_loadable_export(real_data_dir, tmp_path):
    out, exports = tmp_path / "run", tmp_path / "exports"
    command = [
        sys.executable,
        "-m",
        "apps.train_vae",
        "--flagfile=apps/configs/endovae_bsds_standin.cfg",
        f"--data_dir={real_data_dir}",
        f"--output_dir={out}",
        f"--export_root={exports}",
        "--train_on=all",
        "--epochs=0",
        "--max_steps=3",
        "--batch_size=16",
        "--log_every=1",
        "--eval_every=2",
        "--checkpoint_every=2",
        "--num_quality_images=10",
        "--classifier_epochs=1",
        "--heldout_loss_images=32",
        "--heldout_fraction=0.05",  # 60 normal + 30 anomalous held-out images: a quick evaluation
        "--validation_fraction=0.03",
        "--bare_step_benchmark=1",
        "--untrained_baseline",
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]

    metrics = json.loads((out / "metrics.json").read_text())
    missing = [key for key in METRIC_KEYS if key not in metrics]
    assert not missing, missing
    assert metrics["steps"] == 3 and metrics["train_on"] == "all"
    assert metrics["num_train"] == metrics["num_normal_train"] + metrics["num_anomaly_train"]
    assert metrics["normal_num_images"] == 10 and metrics["anomaly_num_images"] == 10
    assert 0.0 <= metrics["anomaly_roc_auc"] <= 1.0
    chosen = metrics["anomaly_score"]
    assert metrics["anomaly_roc_auc"] == metrics[f"anomaly_test_auc_{chosen}"]
    assert metrics["num_normal_validation"] == 36 and metrics["num_anomaly_validation"] == 18
    assert metrics["bare_step_examples_per_second"] > 0 and metrics["loop_fraction_of_bare_step"] > 0
    assert 0.0 < metrics["normal_ssim_mean"] < 1.0 and metrics["normal_psnr_mean"] > 5.0
    assert {p.name for p in (out / "figures").glob("*.png")} >= {
        "samples.png",
        "reconstructions_anomaly.png",
        "reconstructions_normal.png",
        "loss_curves.png",
        "anomaly_roc.png",
    }
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert any("heldout/total_loss" in record for record in history)
    assert any("heldout/anomaly_psnr" in record for record in history)

    loaded = tf.saved_model.load(metrics["export_path"])
    assert set(loaded.signatures) == {"encode", "decode", "reconstruct"}
    images = tf.constant(np.random.default_rng(0).random((2, 96, 96, 3)), tf.float32)
    reconstructions = loaded.signatures["reconstruct"](images=images)["reconstructions"].numpy()
    assert reconstructions.shape == (2, 96, 96, 3)
    assert reconstructions.min() >= 0.0 and reconstructions.max() <= 1.0
    encoded = loaded.signatures["encode"](images=images)
    assert encoded["mean"].shape == (2, 6) and encoded["log_variance"].shape == (2, 6)
    decoded = loaded.signatures["decode"](latent=encoded["mean"])["images"].numpy()
    np.testing.assert_allclose(decoded, reconstructions, atol=1e-5)


def test_vae_app_trains_under_mirrored_mixed_bfloat16_and_exports_float32(tmp_path):
    """--precision and --distribution reach the VAE app: a few bfloat16 steps under MirroredStrategy."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, brightness in (("normal", 60), ("lesion", 180)):
        folder = tmp_path / "images" / name
        folder.mkdir(parents=True)
        for i in range(24):
            pixels = np.clip(rng.normal(brightness, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"{i}.png")
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "apps.train_vae",
        f"--dataset=folder:{tmp_path / 'images'}",
        "--normal_classes=normal",
        "--anomaly_classes=lesion",
        "--image_size=16",
        "--precision=mixed_bfloat16",
        "--distribution=mirrored",
        f"--output_dir={out}",
        f"--export_root={tmp_path / 'exports'}",
        "--max_steps=3",
        "--batch_size=8",
        "--log_every=1",
        "--eval_every=3",
        "--checkpoint_every=3",
        "--num_quality_images=4",
        "--classifier_epochs=0",
        "--heldout_loss_images=8",
    ]
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 3
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    losses = [record["total_loss"] for record in history if "total_loss" in record]
    assert losses and all(np.isfinite(losses))
    loaded = tf.saved_model.load(metrics["export_path"])
    images = tf.constant(rng.random((2, 16, 16, 3)), tf.float32)
    reconstructions = loaded.signatures["reconstruct"](images=images)["reconstructions"]
    assert reconstructions.dtype == tf.float32 and reconstructions.shape == (2, 16, 16, 3)
