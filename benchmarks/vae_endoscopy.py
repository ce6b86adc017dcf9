"""EndoVAE, both settings side by side: trained on normal images only vs on all images.

    python -m benchmarks.vae_endoscopy --data_dir=../shared/data                  # Kvasir, 30 min a setting
    python -m benchmarks.vae_endoscopy --data_dir=../shared/data --minutes=2      # a quick end-to-end check
    python -m benchmarks.vae_endoscopy --data_dir=../shared/data --dry_run        # a few steps (smoke)
    python -m benchmarks.vae_endoscopy --data_dir=../shared/data --dataset=bsds500_standin --epochs=20  # no Kvasir

Each setting is one run of apps/train_vae.py with its shipped config and a wall-clock budget of
--minutes of training (the seeds trained 1000 GPU epochs; the issue asks what 30 CPU minutes give).
Reports, per setting: PSNR / SSIM (mean ± std) on 50 held-out polyps and 50 held-out normal images
(for "all" also on 50 polyps it trained on, as the seeds scored it); the anomaly ROC AUC of four
scores (pixel MSE, 1 - SSIM, negative ELBO, KL), the one chosen on the validation split reported
on the test split; the real-vs-reconstructed CNN's accuracy and AUC; the KL term and the
reconstruction diversity at the end (is the latent used?); the same anomaly scoring with the
untrained network (a floor: the two sources' global image statistics alone separate them well);
PSNR against training time; and the
app loop's throughput against a bare training step of the same network, timed in the same process
before and after training.

The ScopeGuide confound (Kvasir): the AUC of a "detector" that only looks at how dark the
lower-left box is, on the raw held-out images and with the box neutralised; with
--settings=normal,all,normal_unmasked the VAE is also trained on unmasked images.

Writes results/vae_endoscopy_<dataset>.{json,md} (with --dry_run: ..._smoke, with --minutes
below 30: ..._<minutes>min) and copies the figures to results/vae_figures_<dataset>/<setting>/.
The seeds' figures (Kvasir, 1000 epochs on a GPU): normal-only PSNR 17.56 / SSIM 0.455 on polyps;
all images 28.33 / 0.793.
"""

import json
import pathlib
import shutil
import tempfile

import numpy as np
from absl import app, flags

from benchmarks import harness

flags.DEFINE_string("data_dir", None, "Data root with kvasir/ (or bsds500/ for the stand-in).")
flags.DEFINE_enum("dataset", "kvasir", ["kvasir", "bsds500_standin"], "Which config to run.")
flags.DEFINE_float("minutes", 30.0, "Training budget per setting, wall-clock minutes (the app's --max_minutes).")
flags.DEFINE_float(
    "epochs", 0, "If > 0, train this many epochs per setting instead of --minutes (how the stand-in was measured)."
)
flags.DEFINE_bool("dry_run", False, "A few steps per setting and a 1-epoch classifier: checks the script end to end.")
flags.DEFINE_integer("seed", 0, "Seed of every run.")
flags.DEFINE_list(
    "settings",
    ["normal", "all"],
    "Settings to run: normal, all (--train_on) and normal_unmasked (normal, ScopeGuide box not neutralised).",
)
flags.DEFINE_list("app_flags", [], "More flags for every app run, e.g. --app_flags=--latent_dim=64 (trials).")
flags.DEFINE_integer("bare_steps", 20, "Bare train steps timed before and after each training (0: skip).")
flags.DEFINE_string("output_root", None, "Keep run directories here (default: a temporary folder).")
flags.DEFINE_string("results_name", None, "Results file name (default from --dataset, --minutes, --dry_run).")
FLAGS = flags.FLAGS

CONFIGS = {
    "bsds500_standin": "apps/configs/endovae_bsds_standin.cfg",
    "kvasir": "apps/configs/endovae_kvasir.cfg",
}
SETTINGS = {
    "normal": ["--train_on=normal"],
    "all": ["--train_on=all"],
    "normal_unmasked": ["--train_on=normal", "--mask_scope_guide=false"],
}
SEEDS_REFERENCE = {"normal": (17.56, 0.455), "all": (28.33, 0.793)}  # Kvasir polyps, 1000 GPU epochs
SCORES = ("mse", "ssim", "elbo", "kl")
FIGURES = ("samples", "reconstructions_anomaly", "reconstructions_normal", "loss_curves", "anomaly_roc")
KEYS = (
    [
        "epochs_trained",
        "steps",
        "batch_size",
        "num_train",
        "num_normal_heldout",
        "num_anomaly_heldout",
        "num_normal_validation",
        "num_anomaly_validation",
        "missing_classes",
        "mask_box",
        "anomaly_psnr_mean",
        "anomaly_psnr_std",
        "anomaly_ssim_mean",
        "anomaly_ssim_std",
        "normal_psnr_mean",
        "normal_psnr_std",
        "normal_ssim_mean",
        "normal_ssim_std",
        "anomaly_seen_psnr_mean",
        "anomaly_seen_psnr_std",
        "anomaly_seen_ssim_mean",
        "anomaly_seen_ssim_std",
        "anomaly_score",
        "anomaly_roc_auc",
        "real_vs_reconstructed_accuracy",
        "real_vs_reconstructed_auc",
        "real_vs_reconstructed_num_test",
        "heldout_normal_total_loss",
        "heldout_normal_kl_loss",
        "normal_reconstruction_diversity",
        "anomaly_reconstruction_diversity",
        "train_examples_per_second",
        "bare_step_examples_per_second",
        "bare_step_examples_per_second_before_after",
        "loop_fraction_of_bare_step",
    ]
    + [
        f"{prefix}anomaly_{split}_auc_{score}"
        for prefix in ("", "untrained_")
        for split in ("validation", "test")
        for score in SCORES
    ]
    + ["untrained_anomaly_score", "untrained_anomaly_roc_auc", "untrained_anomaly_psnr_mean"]
)


def _pm(r, key, digits):
    mean, std = r.get(f"{key}_mean"), r.get(f"{key}_std")
    return "-" if mean is None else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _f(value, digits=3):
    return "-" if value is None else f"{value:.{digits}f}"


def corner_confound(data_dir, seed):
    """AUC of the lower-left box's mean brightness alone as a polyp score, raw and neutralised.

    On the held-out split the VAE is scored on. Raw: what the confound alone
    buys a detector (the box is black in more normal than polyp images, so
    brightness points to polyps); neutralised: exactly 0.5 (every box is identical).
    """
    from kerasda.data import kvasir
    from kerasda.evaluation import image_quality

    result = {}
    for name, box in (("raw", None), ("neutralised", kvasir.SCOPE_GUIDE_BOX)):
        data = kvasir.load_kvasir(
            data_dir,
            normal_classes=kvasir.NORMAL_CLASSES,
            anomaly_classes=kvasir.ANOMALY_CLASSES,
            heldout_fraction=0.2,
            validation_fraction=0.15,
            seed=seed,
            mask_box=box,
        )
        top, right = kvasir.SCOPE_GUIDE_BOX

        def brightness(x):
            h, w = x.shape[1:3]
            return x[:, int(np.floor(top * h)) :, : int(np.ceil(right * w))].astype(float).mean(axis=(1, 2, 3))

        roc = image_quality.anomaly_roc(brightness(data.x_normal_heldout), brightness(data.x_anomaly_heldout))
        result[f"corner_brightness_auc_{name}"] = roc["roc_auc"]
    return result


def psnr_vs_time_figure(histories):
    """Held-out polyp PSNR against training minutes, one line per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.5))
    for setting, history in histories.items():
        points = [
            (r["elapsed_seconds"] / 60, r["heldout/anomaly_psnr"])
            for r in history
            if "heldout/anomaly_psnr" in r and "elapsed_seconds" in r
        ]
        if points:
            axis.plot(*zip(*points), "o-", label=setting)
    for setting, (psnr, _) in SEEDS_REFERENCE.items():
        axis.axhline(psnr, linestyle="--", linewidth=1, color="grey")
        axis.text(0, psnr, f" seeds, {setting}", fontsize=7, va="bottom")
    axis.set_xlabel("training minutes (2 CPU cores)")
    axis.set_ylabel("PSNR on 50 held-out polyps (dB)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _rows(results):
    rows = []
    for setting, r in results.items():
        reference = SEEDS_REFERENCE.get(setting.split("_")[0])
        seen = (
            f"{_pm(r, 'anomaly_seen_psnr', 2)} / {_pm(r, 'anomaly_seen_ssim', 3)}"
            if r.get("anomaly_seen_psnr_mean") is not None
            else "-"
        )
        rows.append(
            [
                setting,
                f"{r['train_wall_seconds'] / 60:.1f}",
                r["steps"],
                _f(r["epochs_trained"], 1),
                _pm(r, "anomaly_psnr", 2),
                _pm(r, "anomaly_ssim", 3),
                seen,
                _pm(r, "normal_psnr", 2),
                _pm(r, "normal_ssim", 3),
                f"{r['anomaly_score']}: {_f(r['anomaly_roc_auc'])}",
                f"{r.get('untrained_anomaly_score')}: {_f(r.get('untrained_anomaly_roc_auc'))}",
                f"{_f(r['real_vs_reconstructed_accuracy'])} / {_f(r['real_vs_reconstructed_auc'])}",
                f"{_f(r['heldout_normal_kl_loss'], 1)} / {_f(r['normal_reconstruction_diversity'], 2)}",
                f"{reference[0]} / {reference[1]}" if reference else "-",
            ]
        )
    return rows


def _score_rows(results):
    rows = []
    for setting, r in results.items():
        for score in SCORES:
            rows.append(
                [
                    setting,
                    score,
                    _f(r.get(f"anomaly_validation_auc_{score}")),
                    _f(r.get(f"anomaly_test_auc_{score}")),
                    _f(r.get(f"untrained_anomaly_test_auc_{score}")),
                    {score: "chosen", f"-{score}": "chosen, reversed (low = anomalous)"}.get(r["anomaly_score"], ""),
                ]
            )
    return rows


def _speed_rows(results):
    return [
        [
            setting,
            _f(r.get("bare_step_examples_per_second"), 1),
            ", ".join(_f(v, 1) for v in r.get("bare_step_examples_per_second_before_after") or []),
            _f(r.get("train_examples_per_second"), 1),
            _f(r.get("loop_fraction_of_bare_step"), 2),
        ]
        for setting, r in results.items()
    ]


def main(argv):
    del argv
    if FLAGS.minutes <= 0:
        raise app.UsageError("--minutes must be > 0.")
    unknown = set(FLAGS.settings) - set(SETTINGS)
    if unknown:
        raise app.UsageError(f"Unknown --settings {sorted(unknown)}; use {sorted(SETTINGS)}.")
    if FLAGS.dry_run:
        suffix = "_smoke"  # never overwrite real results with a smoke check
    elif FLAGS.epochs > 0:
        suffix = "" if FLAGS.dataset == "bsds500_standin" else f"_{FLAGS.epochs:g}epochs"
    else:
        suffix = "" if FLAGS.minutes >= 30 else f"_{FLAGS.minutes:g}min"
    name = FLAGS.results_name or f"vae_endoscopy_{FLAGS.dataset}{suffix}"
    figures_root = harness.RESULTS_DIR / f"vae_figures_{FLAGS.dataset}{suffix}"
    results, histories = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(FLAGS.output_root or tmp)
        root.mkdir(parents=True, exist_ok=True)
        for setting in FLAGS.settings:
            extra = [*SETTINGS[setting], f"--seed={FLAGS.seed}", f"--export_root={root}/exports"]
            if FLAGS.data_dir:
                extra.append(f"--data_dir={FLAGS.data_dir}")
            if FLAGS.dry_run:
                extra += [
                    "--epochs=0",
                    "--max_steps=4",
                    "--eval_every=2",
                    "--checkpoint_every=2",
                    "--log_every=1",
                    "--classifier_epochs=1",
                ]
            elif FLAGS.epochs > 0:
                extra.append(f"--epochs={FLAGS.epochs}")
            else:
                # The budget decides: --epochs is set far beyond what the minutes allow.
                extra += [f"--max_minutes={FLAGS.minutes}", "--epochs=100000"]
            extra.append("--untrained_baseline")
            if FLAGS.bare_steps > 0:
                extra.append(f"--bare_step_benchmark={2 if FLAGS.dry_run else FLAGS.bare_steps}")
            extra += FLAGS.app_flags
            run_dir = root / setting
            done = run_dir / "metrics.json"
            if FLAGS.output_root and done.exists() and "export_path" in json.loads(done.read_text()):
                print(f"Reusing the finished run in {run_dir}.")  # an interrupted benchmark continues
                metrics, wall = json.loads(done.read_text()), None
            else:
                metrics, wall = harness.run_app(
                    "apps.train_vae", CONFIGS[FLAGS.dataset], str(run_dir), extra, log_path=f"{root}/{setting}.log"
                )
            results[setting] = {
                **{key: metrics.get(key) for key in KEYS},
                "train_wall_seconds": metrics["wall_seconds"],
                "process_wall_seconds": wall,
                "app_flags": extra,
            }
            history = harness.read_history(run_dir) if (run_dir / "history.jsonl").exists() else []
            # The final evaluation scores the same 50 held-out polyps as the periodic ones.
            histories[setting] = history + [
                {"elapsed_seconds": metrics["wall_seconds"], "heldout/anomaly_psnr": metrics["anomaly_psnr_mean"]}
            ]
            target = figures_root / setting
            target.mkdir(parents=True, exist_ok=True)
            for figure in FIGURES:
                source = run_dir / "figures" / f"{figure}.png"
                if source.exists():
                    shutil.copy(source, target / source.name)
    from kerasda import runner

    (figures_root).mkdir(parents=True, exist_ok=True)
    (figures_root / "psnr_vs_time.png").write_bytes(runner.figure_to_png(psnr_vs_time_figure(histories)))
    confound = corner_confound(FLAGS.data_dir, FLAGS.seed) if FLAGS.dataset == "kvasir" else {}

    budget = (
        "a few steps (dry run)"
        if FLAGS.dry_run
        else f"{FLAGS.epochs:g} epochs"
        if FLAGS.epochs > 0
        else f"{FLAGS.minutes:g} training minutes"
    )
    header = [
        "setting",
        "train min",
        "steps",
        "epochs",
        "polyp PSNR (held-out)",
        "polyp SSIM (held-out)",
        "polyp PSNR / SSIM (trained on)",
        "normal PSNR (held-out)",
        "normal SSIM (held-out)",
        "anomaly score: test AUC",
        "untrained network: test AUC",
        "real-vs-recon acc / AUC",
        "KL / diversity",
        "seeds (1000 GPU epochs)",
    ]
    markdown = (
        f"EndoVAE on `{FLAGS.dataset}`, seed {FLAGS.seed}, {budget} per setting. PSNR (dB) / SSIM: "
        "mean ± std over 50 random held-out images. Anomaly AUC: held-out normal vs polyps, with the "
        "score chosen on the validation split; 'untrained network': the same scoring before training, "
        "the floor a trained detector must beat. KL: nats per image on held-out normal images; diversity: "
        "per-pixel std of reconstructions across images / that of the images (0 = every image gets "
        "the same reconstruction).\n\n"
        + harness.markdown_table(header, _rows(results))
        + "\n\nAnomaly scores (ROC AUC, validation split / test split; a reversed score's AUC is 1 - the "
        "listed one):\n\n"
        + harness.markdown_table(
            ["setting", "score", "validation AUC", "test AUC", "untrained network, test AUC", ""],
            _score_rows(results),
        )
        + "\n\nSpeed (images/s): bare train step (one tf.function, one fixed batch; timed before, "
        "after) vs the app's loop (input pipeline, logging, evaluations, checkpoints):\n\n"
        + harness.markdown_table(
            ["setting", "bare step", "before, after", "app loop", "loop / bare"], _speed_rows(results)
        )
    )
    if confound:
        markdown += (
            "\n\nScopeGuide confound: AUC of the lower-left box's mean brightness alone as a polyp score "
            f"on the held-out split: raw images {confound['corner_brightness_auc_raw']:.3f}, box neutralised "
            f"{confound['corner_brightness_auc_neutralised']:.3f}.\n"
        )
    markdown += f"\nPSNR against training time: `{figures_root.name}/psnr_vs_time.png`.\n"
    harness.write_results(
        name,
        {
            "dataset": FLAGS.dataset,
            "seed": FLAGS.seed,
            "minutes": FLAGS.minutes,
            "dry_run": FLAGS.dry_run,
            "settings": results,
            "seeds_reference": SEEDS_REFERENCE,
            "scopeguide_confound": confound,
            "psnr_vs_time": {
                s: [[r["elapsed_seconds"], r["heldout/anomaly_psnr"]] for r in h if "heldout/anomaly_psnr" in r]
                for s, h in histories.items()
            },
        },
        markdown,
    )
    print(json.dumps({s: r["anomaly_roc_auc"] for s, r in results.items()}))


if __name__ == "__main__":
    app.run(main)
