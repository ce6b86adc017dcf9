"""Does a label-free checkpoint choice beat the final step? ADDA's stage 2 and DANN, on every pair.

    python -m benchmarks.da_table --data_dir=../shared/data --methods=adda --seeds=0,1,2
    python -m benchmarks.checkpoint_selection
    python -m benchmarks.da_table --data_dir=../shared/data --methods=dann --seeds=0,1,2 \\
        --extra_flags=dann=--select_checkpoint=information_maximization,dann=--eval_every=500
    python -m benchmarks.checkpoint_selection --method=dann

The first command trains the table's ADDA row with the shipped flagfile (`adda_digits.cfg`: 10,000
stage-2 steps, `--select_checkpoint=information_maximization`); the third trains DANN's row with the
same choice added to its flagfile (not adopted: docs/dann.md). This script compares, per pair and on the
full target test split:

- the final step of a baseline config (ADDA: its previous 3,000-stage-2-step config; DANN: the shipped
  config), from the records in `--baseline_records` (those without a selected step);
- the final step of the selecting runs (`final_step_target_test_accuracy`);
- the model the information-maximisation score chose from unlabelled target images
  (`target_test_accuracy`, `selected_step`).

It also reads each run's history: the periodic target accuracy (2,000 test images, logged for the
curves only) against the selection score, as a rank correlation and a figure. The best periodic
accuracy among the candidates is shown as an *oracle* (it reads target labels, so it is a
ceiling, not a result).
Writes benchmarks/results/<results_name>.{json,md,png}.
"""

import dataclasses
import pathlib
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from absl import app, flags  # noqa: E402
from scipy import stats  # noqa: E402

from benchmarks import da_table, harness  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("work_dir", "runs/da_table", "The da_table work directory (its records/ and run folders).")
flags.DEFINE_string(
    "baseline_records",
    None,
    "Records of the final-step baseline; default: the method's (ADDA: its 3,000-step config's, "
    "benchmarks/results/adda_3k_final_records; DANN: the table's row, benchmarks/results/da_table_records).",
)
flags.DEFINE_enum("method", "adda", ["adda", "dann"], "The method whose runs are compared.")
flags.DEFINE_string(
    "results_name", None, "Results file name under benchmarks/results/; default <method>_checkpoint_selection."
)

SCORE = "selection/information_maximization"
ACCURACY = "eval/target_accuracy"


@dataclasses.dataclass(frozen=True)
class Study:
    """How one method's runs are described; `start_is_source_model`: its step-0 candidate is the
    source-trained model (ADDA's stage 1), scored by `source_only_target_test_accuracy`."""

    name: str
    source_model: str
    previous: str  # the header of the final-step baseline column, then its description
    previous_note: str
    runs: str  # what the selecting runs are, then their flagfile
    runs_note: str
    baseline_records: str
    step: str
    start_is_source_model: bool


STUDIES = {
    "adda": Study(
        name="ADDA",
        source_model="stage-1 model",
        previous="previous config (3k, final step)",
        previous_note="`apps/configs/adda_digits.cfg` before this study (3,000 stage-2 steps, final step)",
        runs="shipped: 10k",
        runs_note="the shipped flagfile, `--max_steps=10000 --select_checkpoint=information_maximization`; "
        "the candidates are step 0 (the stage-1 model) and every multiple of 500",
        baseline_records="benchmarks/results/adda_3k_final_records",
        step="stage-2 step",
        start_is_source_model=True,
    ),
    "dann": Study(
        name="DANN",
        source_model="source-only tower (1,000 steps)",
        previous="shipped config (final step)",
        previous_note="`apps/configs/dann_mnist_to_mnistm.cfg` as shipped (5,000 steps, final step), the "
        "domain-adaptation table's DANN row",
        runs="candidate",
        runs_note="the shipped flagfile + `--select_checkpoint=information_maximization --eval_every=500`, "
        "not adopted; the candidates are every multiple of 500 (step 0, the untrained network, is scored "
        "too and never chosen)",
        baseline_records="benchmarks/results/da_table_records",
        step="step",
        start_is_source_model=False,
    ),
}


def curves(record):
    """(steps, periodic target accuracy, selection score) from the run's history, or None if absent."""
    history_path = pathlib.Path(record["log"]).parent / "run" / "history.jsonl"
    if not history_path.is_file():
        return None
    history = harness.read_history(history_path.parent)
    accuracy = {r["step"]: r[ACCURACY] for r in history if ACCURACY in r}
    score = {r["step"]: r[SCORE] for r in history if SCORE in r}
    steps = sorted(set(accuracy) & set(score))
    return {
        "steps": steps,
        "accuracy": [accuracy[s] for s in steps],
        "score": [score[s] for s in steps],
        "score_at_step_0": score.get(0),
    }


def mean_std(values):
    values = [100 * v for v in values if v is not None]
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.2f} (n=1)"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def compare(study, baseline, start_is_source_model=True):
    """One row per pair: the per-seed numbers and their summaries."""
    rows = []
    for source, target in dict.fromkeys((s, t) for s, t, _ in study):
        seeds = sorted(seed for s, t, seed in study if (s, t) == (source, target))
        runs = []
        for seed in seeds:
            metrics = study[(source, target, seed)]["metrics"]
            previous = baseline.get((source, target, seed))
            trace = curves(study[(source, target, seed)])
            correlation = None
            if trace and len(trace["steps"]) > 2:
                correlation = float(stats.spearmanr(trace["score"], trace["accuracy"]).statistic)
            candidates = trace["accuracy"] if trace else []
            if start_is_source_model:  # step 0 is a candidate: the source model, scored on the full test split
                candidates = candidates + [metrics["source_only_target_test_accuracy"]]
            runs.append(
                {
                    "seed": seed,
                    "source_model": metrics.get("source_only_target_test_accuracy"),
                    "previous_config": previous["metrics"]["target_test_accuracy"] if previous else None,
                    "final_step": metrics["final_step_target_test_accuracy"],
                    "selected": metrics["target_test_accuracy"],
                    "selected_step": metrics["selected_step"],
                    "steps": metrics["steps"],
                    "oracle": max(candidates) if trace else None,
                    "spearman_score_vs_accuracy": correlation,
                    "curves": trace,
                }
            )
        rows.append({"source": source, "target": target, "runs": runs})
    return rows


def markdown(rows, work_dir, study=STUDIES["adda"]):
    header = [
        "pair",
        study.source_model,
        study.previous,
        f"{study.runs}, final step",
        f"**{study.runs}, IM-selected**",
        "selected steps",
        "Spearman(IM, acc.)",
        "oracle (best candidate)",
    ]
    table = []
    for row in rows:
        runs = row["runs"]
        correlations = [r["spearman_score_vs_accuracy"] for r in runs if r["spearman_score_vs_accuracy"] is not None]
        table.append(
            [
                da_table.column_label((row["source"], row["target"])),
                mean_std([r["source_model"] for r in runs]),
                mean_std([r["previous_config"] for r in runs]),
                mean_std([r["final_step"] for r in runs]),
                f"**{mean_std([r['selected'] for r in runs])}**",
                ", ".join(str(r["selected_step"]) for r in runs),
                ", ".join(f"{c:+.2f}" for c in correlations) or "-",
                mean_std([r["oracle"] for r in runs]),
            ]
        )
    seeds = sorted({r["seed"] for row in rows for r in row["runs"]})
    return (
        f"# Label-free checkpoint selection for {study.name}\n\n"
        f"Target test accuracy %, mean ± std over seeds {', '.join(map(str, seeds))} (full test split unless "
        f"stated). Runs: `{work_dir}`; `python -m benchmarks.checkpoint_selection --method={study.name.lower()}`.\n\n"
        + harness.markdown_table(header, table)
        + f"\n- *{study.previous}*: {study.previous_note}.\n"
        f"- *{study.runs}*: {study.runs_note}; *final step* is the last step's model, "
        "*IM-selected* the candidate with the best information-maximisation score on 2,000 unlabelled target "
        "**training** images.\n"
        "- *Spearman*: rank correlation, per seed, between the score and the periodic target accuracy over the "
        "evaluations.\n"
        "- *oracle*: the best target accuracy among the candidates (the periodic evaluations on 2,000 test "
        "images, and for ADDA the stage-1 model on the full test split). It reads target labels: a ceiling for "
        "any selection rule, not a result.\n"
    )


def plot(rows, path, study=STUDIES["adda"]):
    figure, axes = plt.subplots(len(rows), 1, figsize=(9, 2.6 * len(rows)), squeeze=False)
    for axis, row in zip(axes[:, 0], rows):
        twin = axis.twinx()
        for run in row["runs"]:
            trace = run["curves"]
            if not trace:
                continue
            (line,) = axis.plot(trace["steps"], [100 * a for a in trace["accuracy"]], label=f"seed {run['seed']}")
            twin.plot(trace["steps"], trace["score"], linestyle=":", color=line.get_color())
            axis.axvline(run["selected_step"], color=line.get_color(), linestyle="--", linewidth=0.8)
        label = da_table.column_label((row["source"], row["target"]))
        axis.set_title(f"{study.name} {label}: target accuracy (solid), IM score (dotted), chosen step (dashed)")
        axis.set_ylabel("target acc. %")
        twin.set_ylabel("IM score (nats)")
        axis.legend(loc="lower right", fontsize=8)
    axes[-1, 0].set_xlabel(study.step)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv):
    del argv
    study = da_table.ok_records(pathlib.Path(FLAGS.work_dir) / "records", FLAGS.method, selected=True)
    if not study:
        raise SystemExit(f"no finished {FLAGS.method} runs in {FLAGS.work_dir}/records: run benchmarks.da_table first.")
    description = STUDIES[FLAGS.method]
    baseline = da_table.ok_records(FLAGS.baseline_records or description.baseline_records, FLAGS.method, selected=False)
    rows = compare(study, baseline, description.start_is_source_model)
    results_name = FLAGS.results_name or f"{FLAGS.method}_checkpoint_selection"
    plot(rows, harness.RESULTS_DIR / f"{results_name}.png", description)
    harness.write_results(results_name, {"pairs": rows}, markdown(rows, FLAGS.work_dir, description))


if __name__ == "__main__":
    app.run(main)
