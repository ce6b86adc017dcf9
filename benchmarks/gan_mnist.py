"""GAN benchmark on 32x32 MNIST: quality targets, the seeds' DCGAN experiments, time per epoch.

Trains each configuration with `apps/train_gan.py` (one subprocess per run, so
every run is exactly what a user would get) and collects their metrics.json:

- dcgan, cgan, acgan with their shipped configs (apps/configs/*_mnist.cfg);
- the seeds' DCGAN experiment: --ndf 16, 32 (and the shipped 64), --init=keras_default, and
  the shipped DCGAN config again with another seed;
- the cGAN cD(x) ablation (--nocondition_discriminator);
- the DCGAN mode-coverage study: a third seed of the shipped config, 12 epochs, one-sided label
  smoothing over three seeds, and a generator twice as wide.

Finished runs are reused (their metrics.json), so the benchmark can be run in
pieces (`--runs=...`) and a last full invocation assembles the table.

Targets checked: cGAN and ACGAN >= 98% of samples classified as their
requested label; DCGAN all 10 digits present with max/min class frequency
<= 2.5 over 10,000 samples. Writes benchmarks/results/<name>.json and .md.

    python -m benchmarks.gan_mnist                      # the full benchmark
    python -m benchmarks.gan_mnist --runs=dcgan,dcgan_seed1,dcgan_seed2,cgan,acgan  # the targets only
    python -m benchmarks.gan_mnist --max_minutes=5      # each run capped (shortened runs say so)
    python -m benchmarks.gan_mnist --max_steps=3 --num_eval_samples=200 \\
        --name=gan_mnist_smoke                          # a check of the script
"""

import datetime
import json
import os
import pathlib
import sys

from absl import app, flags

from benchmarks import harness

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Dataset root (default $KERASDA_DATA_DIR).")
flags.DEFINE_string("output_root", "runs/benchmarks/gan_mnist", "Where the runs' directories go.")
flags.DEFINE_string("name", "gan_mnist", "Results file stem under benchmarks/results/.")
flags.DEFINE_list("runs", None, "Subset of runs to do (default: all).")
flags.DEFINE_float("epochs", None, "Override every run's --epochs.")
flags.DEFINE_integer("max_steps", None, "Override with a step count (to check the script).")
flags.DEFINE_float(
    "max_minutes",
    None,
    "Per-run wall-clock budget; a run that hits it stops early (its table row shows the epochs it reached).",
)
flags.DEFINE_integer("num_eval_samples", 10000, "Samples scored per run.")
flags.DEFINE_bool(
    "resume",
    True,
    "Reuse finished runs (their metrics.json); --noresume re-enters "
    "them, so a run cut by --max_minutes continues from its checkpoint.",
)


# name -> (model, extra flags, what it shows)
_SMOOTHING = "--label_smoothing=0.1"
RUNS = {
    "dcgan": ("dcgan", [], "DCGAN, shipped config (ngf=32, ndf=64, N(0, 0.02) init)"),
    "dcgan_seed1": ("dcgan", ["--seed=1"], "DCGAN, shipped config, seed 1"),
    "dcgan_seed2": ("dcgan", ["--seed=2"], "DCGAN, shipped config, seed 2"),
    "dcgan_seed1_12ep": ("dcgan", ["--seed=1", "--epochs=12"], "DCGAN, shipped config, seed 1, 12 epochs"),
    "dcgan_ls": ("dcgan", [_SMOOTHING], "DCGAN, one-sided label smoothing 0.1"),
    "dcgan_ls_seed1": ("dcgan", [_SMOOTHING, "--seed=1"], "DCGAN, label smoothing 0.1, seed 1"),
    "dcgan_ls_seed2": ("dcgan", [_SMOOTHING, "--seed=2"], "DCGAN, label smoothing 0.1, seed 2"),
    "dcgan_ls_seed1_ngf64": (
        "dcgan",
        [_SMOOTHING, "--seed=1", "--ngf=64"],
        "DCGAN, label smoothing 0.1, G twice as wide, seed 1",
    ),
    "dcgan_ndf16": ("dcgan", ["--ndf=16"], "DCGAN, D a quarter as wide"),
    "dcgan_ndf32": ("dcgan", ["--ndf=32"], "DCGAN, D half as wide"),
    "dcgan_ndf32_keras_init": (
        "dcgan",
        ["--ndf=32", "--init=keras_default"],
        "DCGAN, D half as wide, Keras default init (compare dcgan_ndf32)",
    ),
    "cgan": ("cgan", [], "cGAN, label into G and D"),
    "cgan_cdx": ("cgan", ["--nocondition_discriminator"], "cGAN ablation cD(x): D ignores the label"),
    "acgan": ("acgan", [], "ACGAN, D classifies"),
}
# Every seed of the shipped DCGAN config is judged against the mode-coverage target on its own.
SHIPPED_DCGAN_RUNS = ("dcgan", "dcgan_seed1", "dcgan_seed2")
TARGET_LABEL_ACCURACY = 0.98
TARGET_MAX_MIN_RATIO = 2.5


def _extra_flags(model, extra, output_dir):
    """App flags beyond the flagfile and output dir (which harness.run_app adds)."""
    flags_ = [
        f"--model={model}",
        f"--export_root={output_dir / 'exports'}",
        f"--num_eval_samples={FLAGS.num_eval_samples}",
        *extra,
    ]
    if FLAGS.data_dir:
        flags_.append(f"--data_dir={FLAGS.data_dir}")
    if FLAGS.epochs is not None:
        flags_.append(f"--epochs={FLAGS.epochs}")
    if FLAGS.max_steps is not None:
        flags_.append(f"--max_steps={FLAGS.max_steps}")
    if FLAGS.max_minutes is not None:
        flags_.append(f"--max_minutes={FLAGS.max_minutes}")
    return flags_


def _run(name):
    model, extra, description = RUNS[name]
    output_dir = pathlib.Path(FLAGS.output_root) / FLAGS.name / name
    metrics_path = output_dir / "metrics.json"
    if FLAGS.resume and metrics_path.exists() and "frechet_distance" in json.loads(metrics_path.read_text()):
        print(f"[{name}] reusing {metrics_path}")
    else:
        output_dir.mkdir(parents=True, exist_ok=True)
        _, wall = harness.run_app(
            "apps.train_gan",
            f"apps/configs/{model}_mnist.cfg",
            output_dir,
            _extra_flags(model, extra, output_dir),
            log_path=output_dir / "log.txt",
        )
        print(f"[{name}] done in {wall:.0f} s", flush=True)
    metrics = json.loads(metrics_path.read_text())
    flags_used = json.loads((output_dir / "flags.json").read_text())
    return {
        "name": name,
        "model": model,
        "description": description,
        "flags": {
            k: flags_used[k]
            for k in (
                "ngf",
                "ndf",
                "nz",
                "init",
                "lr_d",
                "lr_g",
                "batch_size",
                "epochs",
                "condition_discriminator",
                "seed",
                "label_smoothing",
            )
        },
        "steps": metrics["steps"],
        "epochs_trained": metrics["epochs_trained"],
        # Stopped by --max_minutes before the epochs it asked for (with --max_steps, by design).
        "shortened": FLAGS.max_steps is None and metrics["epochs_trained"] < flags_used["epochs"] - 1e-6,
        "wall_seconds": metrics["wall_seconds"],
        "seconds_per_epoch": metrics.get("seconds_per_epoch"),
        "frechet_distance": metrics["frechet_distance"],
        "label_accuracy": metrics.get("label_accuracy"),
        "class_counts": metrics["class_counts"],
        "classes_present": metrics["classes_present"],
        "max_min_ratio": metrics["max_min_ratio"],
        "normalized_entropy": metrics["normalized_entropy"],
        "judge_test_accuracy": metrics["judge_test_accuracy"],
        "output_dir": str(output_dir),
    }


def _targets(results):
    by_name = {r["name"]: r for r in results}
    targets = {}
    for name in ("cgan", "acgan"):
        if name in by_name:
            value = by_name[name]["label_accuracy"]
            targets[f"{name}_label_accuracy>={TARGET_LABEL_ACCURACY}"] = {
                "value": value,
                "met": value is not None and value >= TARGET_LABEL_ACCURACY,
            }
    for name in SHIPPED_DCGAN_RUNS:
        if name not in by_name:
            continue
        r = by_name[name]
        ratio = r["max_min_ratio"]
        targets[f"{name}_all_10_digits_and_max_min<={TARGET_MAX_MIN_RATIO}"] = {
            "value": {"classes_present": r["classes_present"], "max_min_ratio": ratio},
            "met": r["classes_present"] == 10 and ratio is not None and ratio <= TARGET_MAX_MIN_RATIO,
        }
    return targets


def _fmt(value, spec=".3f"):
    return "-" if value is None else format(value, spec)


def _markdown(report):
    lines = [
        f"# GAN benchmark on 32x32 MNIST ({report['date']})",
        "",
        f"Machine: {report['machine']['cpu']} ({report['machine']['cpu_cores']} cores). "
        f"Load average before/after: {report['load_before']} / "
        f"{report['load_after']} (other jobs share the cores). Scores over "
        f"{report['num_eval_samples']} samples, judged by the digits classifier "
        f"(MNIST test accuracy {_fmt(report['results'][0]['judge_test_accuracy'], '.4f')}).",
        "",
        "| run | what | epochs | s/epoch | Frechet dist. | label acc. | classes | max/min | norm. entropy |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['name']} | {r['description']} | {r['epochs_trained']:.2f}"
            f"{' of ' + format(r['flags']['epochs'], 'g') + ' (budget hit)' if r['shortened'] else ''} "
            f"| {_fmt(r['seconds_per_epoch'], '.0f')} "
            f"| {r['frechet_distance']:.2f} | {_fmt(r['label_accuracy'], '.4f')} | {r['classes_present']} "
            f"| {_fmt(r['max_min_ratio'], '.2f')} | {r['normalized_entropy']:.4f} |"
        )
    lines += ["", "## Targets", "", "| target | value | met |", "|---|---|---|"]
    for name, target in report["targets"].items():
        lines.append(f"| {name} | {target['value']} | {'yes' if target['met'] else 'NO'} |")
    lines += ["", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)


def main(argv):
    del argv
    names = FLAGS.runs or list(RUNS)
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        raise app.UsageError(f"Unknown runs {unknown}; choose from {sorted(RUNS)}.")
    load_before = [round(v, 2) for v in os.getloadavg()]
    results = [_run(name) for name in names]
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": harness.machine_info(),
        "load_before": load_before,
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "num_eval_samples": FLAGS.num_eval_samples,
        "command": " ".join(["python -m benchmarks.gan_mnist", *sys.argv[1:]]),
        "results": results,
        "targets": _targets(results),
    }
    harness.write_results(FLAGS.name, report, _markdown(report))


if __name__ == "__main__":
    app.run(main)
