"""EndoVAE, both settings side by side: trained on normal images only vs on all images.

    python -m benchmarks.vae_endoscopy --data_dir=../shared/data                     # BSDS500 stand-in
    python -m benchmarks.vae_endoscopy --data_dir=... --dataset=kvasir --epochs=20   # real Kvasir

Each setting is one run of apps/train_vae.py for --epochs passes over its
training images (a fixed budget, so the two settings see the same number of
epochs; the "all" setting has more images per epoch). Reports PSNR / SSIM on
50 held-out anomalous and 50 held-out normal images, the anomaly ROC AUC, the
real-vs-reconstructed classifier, and for "all" also PSNR / SSIM on anomalous
images it trained on (how the seeds scored it). Writes
results/vae_endoscopy_<dataset>.json and .md.

The seeds' figures (Kvasir, 1000 epochs on a GPU): normal-only PSNR 17.56 /
SSIM 0.455 on polyps; all images 28.33 / 0.793.
"""

import pathlib
import tempfile

from absl import app, flags

from benchmarks import harness

flags.DEFINE_string("data_dir", None, "Data root with bsds500/ (stand-in) or kvasir/.")
flags.DEFINE_enum("dataset", "bsds500_standin", ["bsds500_standin", "kvasir"], "Which config to run.")
flags.DEFINE_float(
    "epochs", 20, "Epochs per setting (stand-in on 2 idle CPU cores: ~7 min for normal, ~10 for all)."
)
flags.DEFINE_integer("max_steps", 0, "If > 0, train this many steps instead of --epochs (smoke checks).")
flags.DEFINE_integer("seed", 0, "Seed of both runs.")
flags.DEFINE_list("settings", ["normal", "all"], "Values of --train_on to run.")
flags.DEFINE_string("output_root", None, "Keep run directories here (default: a temporary folder).")
FLAGS = flags.FLAGS

CONFIGS = {
    "bsds500_standin": "apps/configs/endovae_bsds_standin.cfg",
    "kvasir": "apps/configs/endovae_kvasir.cfg",
}
SEEDS_REFERENCE = {"normal": (17.56, 0.455), "all": (28.33, 0.793)}  # Kvasir polyps, 1000 GPU epochs


def _row(setting, r):
    seen = (
        f"{r['anomaly_seen_psnr_mean']:.2f} / {r['anomaly_seen_ssim_mean']:.3f}"
        if r.get("anomaly_seen_psnr_mean") is not None
        else "-"
    )
    return [
        setting,
        f"{r['epochs_trained']:.1f}",
        r["steps"],
        f"{r['train_wall_seconds'] / 60:.1f}",
        f"{r['anomaly_psnr_mean']:.2f} ± {r['anomaly_psnr_std']:.2f}",
        f"{r['anomaly_ssim_mean']:.3f} ± {r['anomaly_ssim_std']:.3f}",
        seen,
        f"{r['normal_psnr_mean']:.2f} ± {r['normal_psnr_std']:.2f}",
        f"{r['normal_ssim_mean']:.3f} ± {r['normal_ssim_std']:.3f}",
        f"{r['anomaly_roc_auc']:.3f}",
        f"{r['real_vs_reconstructed_accuracy']:.3f} / {r['real_vs_reconstructed_auc']:.3f}",
        f"{SEEDS_REFERENCE[setting][0]} / {SEEDS_REFERENCE[setting][1]}",
    ]


KEYS = [
    "epochs_trained", "steps", "batch_size", "num_train", "num_normal_heldout", "num_anomaly_heldout",
    "anomaly_psnr_mean", "anomaly_psnr_std", "anomaly_ssim_mean", "anomaly_ssim_std",
    "normal_psnr_mean", "normal_psnr_std", "normal_ssim_mean", "normal_ssim_std",
    "anomaly_seen_psnr_mean", "anomaly_seen_psnr_std", "anomaly_seen_ssim_mean", "anomaly_seen_ssim_std",
    "anomaly_roc_auc", "real_vs_reconstructed_accuracy", "real_vs_reconstructed_auc",
    "real_vs_reconstructed_num_test", "heldout_normal_total_loss", "train_examples_per_second",
]


def main(argv):
    del argv
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(FLAGS.output_root or tmp)
        root.mkdir(parents=True, exist_ok=True)
        for setting in FLAGS.settings:
            extra = [f"--train_on={setting}", f"--seed={FLAGS.seed}", f"--export_root={root}/exports"]
            if FLAGS.data_dir:
                extra.append(f"--data_dir={FLAGS.data_dir}")
            if FLAGS.max_steps > 0:
                extra += ["--epochs=0", f"--max_steps={FLAGS.max_steps}"]
            else:
                extra.append(f"--epochs={FLAGS.epochs}")
            metrics, wall = harness.run_app(
                "apps.train_vae",
                CONFIGS[FLAGS.dataset],
                f"{root}/{setting}",
                extra,
                log_path=f"{root}/{setting}.log",
            )
            results[setting] = {
                **{key: metrics.get(key) for key in KEYS},
                "train_wall_seconds": metrics["wall_seconds"],
                "process_wall_seconds": wall,
            }
    header = [
        "trained on", "epochs", "steps", "train min", "anomaly PSNR (held-out)", "anomaly SSIM (held-out)",
        "anomaly PSNR / SSIM (trained on)", "normal PSNR (held-out)", "normal SSIM (held-out)",
        "anomaly ROC AUC", "real-vs-recon acc / AUC", "seeds (Kvasir, 1000 GPU epochs)",
    ]
    markdown = (
        f"EndoVAE on `{FLAGS.dataset}`, seed {FLAGS.seed}; PSNR (dB) / SSIM as mean ± std over 50 "
        "random held-out images; AUC of per-image reconstruction MSE, normal vs anomaly, over all "
        "held-out images.\n\n" + harness.markdown_table(header, [_row(s, results[s]) for s in results])
    )
    smoke = "_smoke" if FLAGS.max_steps > 0 else ""  # never overwrite real results with a smoke check
    harness.write_results(
        f"vae_endoscopy_{FLAGS.dataset}{smoke}",
        {"dataset": FLAGS.dataset, "seed": FLAGS.seed, "settings": results, "seeds_reference": SEEDS_REFERENCE},
        markdown,
    )


if __name__ == "__main__":
    app.run(main)
