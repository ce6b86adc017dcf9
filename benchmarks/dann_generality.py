"""DANN input-handling variants across domain pairs, at 5,000 steps: which rule helps on EVERY pair?

    python -m benchmarks.dann_generality --data_dir=../shared/data
    python -m benchmarks.dann_generality --variants=shipped,jitter --pairs=mnist->uci_digits

Each variant is the shipped flagfile plus a few flags, run unchanged on every pair (issue 11, item 5:
no setting may depend on the target). A run directory that already holds metrics.json is reused,
so the study can be run in pieces. Each DANN run also trains its own source-only baseline of the
same tower with the same input handling (1,000 steps), so every row shows what adaptation added.
Writes benchmarks/results/dann_generality.{json,md}.
"""

import json
import pathlib

from absl import app, flags

from benchmarks import harness

FLAGS = flags.FLAGS
flags.DEFINE_string("data_dir", None, "Data root.")
flags.DEFINE_string("run_root", "runs/dann_generality", "Where the runs live (reused when finished).")
flags.DEFINE_list("variants", None, "Variants to run (default: all of VARIANTS).")
flags.DEFINE_list("pairs", ["mnist->mnist_m", "mnist->uci_digits"], "SOURCE->TARGET pairs.")
flags.DEFINE_integer("max_steps", 5000, "DANN steps per run.")
flags.DEFINE_integer("seed", 0, "Seed of every run.")
flags.DEFINE_bool("run_missing", True, "Train runs that have no metrics.json yet (else only tabulate).")

FLAGFILE = "apps/configs/dann_mnist_to_mnistm.cfg"
VARIANTS = {  # relative to the shipped flagfile (which has jitter and the entropy term on)
    "no_jitter_no_entropy": ["--augmentation=none", "--target_entropy_weight=0"],
    "channel_standardization": ["--augmentation=none", "--target_entropy_weight=0", "--input_standardization=channel"],
    "jitter": ["--target_entropy_weight=0"],
    "shipped": [],  # jitter + entropy 0.1
}
COMMON = ["--source_only_steps=1000", "--tsne_examples=100", "--pad_examples=200"]


def run_dir(variant, pair):
    source, target = pair.split("->")
    return pathlib.Path(FLAGS.run_root) / f"{variant}__{source}__to__{target}"


def run_one(variant, pair):
    directory = run_dir(variant, pair)
    metrics_path = directory / "metrics.json"
    if not metrics_path.is_file():
        if not FLAGS.run_missing:
            return None
        source, target = pair.split("->")
        extra = [
            f"--source={source}",
            f"--target={target}",
            f"--seed={FLAGS.seed}",
            f"--max_steps={FLAGS.max_steps}",
            f"--export_root={directory}/exports",
            *COMMON,
            *VARIANTS[variant],
        ]
        if FLAGS.data_dir:
            extra.append(f"--data_dir={FLAGS.data_dir}")
        directory.parent.mkdir(parents=True, exist_ok=True)
        harness.run_app("apps.train_dann", FLAGFILE, directory, extra, log_path=directory.with_suffix(".log"))
    metrics = json.loads(metrics_path.read_text())
    history = harness.read_history(directory)
    return {
        "variant": variant,
        "pair": pair,
        "flags": VARIANTS[variant],
        "target_test_accuracy": metrics["target_test_accuracy"],
        "source_test_accuracy": metrics["source_test_accuracy"],
        "source_only_target_test_accuracy": metrics.get("source_only_target_test_accuracy"),
        "periodic_target_accuracy": [r["eval/target_accuracy"] for r in history if "eval/target_accuracy" in r],
        "steps": metrics["steps"],
    }


def percent(value):
    return "-" if value is None else f"{100 * value:.2f}"


def main(argv):
    del argv
    variants = FLAGS.variants or list(VARIANTS)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise app.UsageError(f"Unknown variants {sorted(unknown)}; choose from {sorted(VARIANTS)}.")
    runs = [r for v in variants for p in FLAGS.pairs if (r := run_one(v, p)) is not None]
    rows = []
    for r in runs:
        gain = (
            None
            if r["source_only_target_test_accuracy"] is None
            else r["target_test_accuracy"] - r["source_only_target_test_accuracy"]
        )
        rows.append(
            [
                r["variant"],
                " ".join(r["flags"]) or "(the flagfile)",
                r["pair"],
                percent(r["target_test_accuracy"]),
                percent(r["source_only_target_test_accuracy"]),
                "-" if gain is None else f"{100 * gain:+.2f}",
                percent(r["source_test_accuracy"]),
                " / ".join(percent(a) for a in r["periodic_target_accuracy"]),
            ]
        )
    markdown = (
        "# DANN: input-handling variants on every pair\n\n"
        f"`{FLAGFILE}` + the variant's flags + `{' '.join(COMMON)}`, {FLAGS.max_steps} steps, seed "
        f"{FLAGS.seed}, one run per cell. Target = the pair's target test split (MNIST-M = the original "
        "release). Source-only = the same tower and input handling trained on source labels only, "
        '1,000 steps ("-" where a run was made with `--source_only_steps=0`). Periodic = the '
        "1,000-step evaluations on 2,000 target test images (all 540 for UCI digits).\n\n"
        + harness.markdown_table(
            [
                "variant",
                "flags",
                "pair",
                "DANN target %",
                "source-only target %",
                "gain",
                "source %",
                "periodic target %",
            ],
            rows,
        )
    )
    harness.write_results("dann_generality", {"max_steps": FLAGS.max_steps, "seed": FLAGS.seed, "runs": runs}, markdown)


if __name__ == "__main__":
    app.run(main)
