"""Do two runs compute the same thing? Compares two finished run directories number by number.

    python -m apps.train_adda --flagfile=apps/configs/adda_digits.cfg --source=mnist_m --target=mnist \\
        --seed=0 --deterministic --max_steps=2000 --output_dir=runs/identity/shipped/run
    python -m apps.train_adda --flagfile=apps/configs/adda_digits.cfg --source=mnist_m --target=mnist \\
        --seed=0 --deterministic --max_steps=2000 --source_augmentations=none,geometric \\
        --output_dir=runs/identity/candidate/run
    python -m benchmarks.same_computation --runs=runs/identity/shipped/run,runs/identity/candidate/run \\
        --stages=source_stage:source_stage_none --results_name=adda_source_augmentation_identity

Without --deterministic an adversarial run does not repeat bit for bit, so "config B computes what
config A computes" can only be shown with both runs deterministic: then every logged loss, evaluation
and metric must be equal. Timings, paths and the metrics only one run has (a candidate's own
bookkeeping) are reported, not compared. `--stages=A_SUB:B_SUB,...` also compares sub-runs (ADDA's
stage 1) whose folder names differ. Writes benchmarks/results/<results_name>.{json,md}.
"""

import json
import pathlib

from absl import app, flags

from benchmarks import da_table, harness

FLAGS = flags.FLAGS
IGNORED_WORDS = ("second", "path", "_dir", "wall", "started")


def define_flags():
    flags.DEFINE_list("runs", [], "The two run directories: A,B.")
    flags.DEFINE_list("stages", [], "Sub-runs to compare too: A_SUBDIR:B_SUBDIR,...")
    flags.DEFINE_string("results_name", "same_computation", "Results file name under benchmarks/results/.")


def _compared(key):
    return not any(word in key for word in IGNORED_WORDS)


def _history(run_dir):
    rows = harness.read_history(run_dir)
    return [{key: value for key, value in row.items() if _compared(key)} for row in rows]


def _scalars(run_dir):
    """The metrics a da_table record keeps (nested scores flattened), timings left out."""
    path = pathlib.Path(run_dir) / "metrics.json"
    metrics = da_table.record_metrics(json.loads(path.read_text())) if path.exists() else {}
    return {k: v for k, v in metrics.items() if _compared(k)}


def flag_differences(run_a, run_b):
    """{flag: [A's value, B's value]} from the runs' flags.json, paths left out."""
    values = []
    for run in (run_a, run_b):
        path = pathlib.Path(run) / "flags.json"
        values.append(json.loads(path.read_text()) if path.exists() else {})
    names = sorted((set(values[0]) | set(values[1])) - {"output_dir", "export_root", "export_dir", "log_dir"})
    return {
        name: [values[0].get(name), values[1].get(name)] for name in names if values[0].get(name) != values[1].get(name)
    }


def compare_runs(run_a, run_b):
    """{history_rows, history_equal, first_history_difference, metrics_compared, metrics_differing,
    only_in_a, only_in_b} for one pair of run directories."""
    history_a, history_b = _history(run_a), _history(run_b)
    first = next(
        ({"row": i, "a": a, "b": b} for i, (a, b) in enumerate(zip(history_a, history_b, strict=False)) if a != b),
        None,
    )
    metrics_a, metrics_b = _scalars(run_a), _scalars(run_b)
    shared = sorted(set(metrics_a) & set(metrics_b))
    return {
        "history_rows": [len(history_a), len(history_b)],
        "history_equal": bool(history_a) and history_a == history_b,
        "first_history_difference": first,
        "metrics_compared": len(shared),
        "metrics_differing": {k: [metrics_a[k], metrics_b[k]] for k in shared if metrics_a[k] != metrics_b[k]},
        "only_in_a": sorted(set(metrics_a) - set(metrics_b)),
        "only_in_b": sorted(set(metrics_b) - set(metrics_a)),
    }


def identical(comparison):
    return comparison["history_equal"] and not comparison["metrics_differing"]


def markdown(result):
    rows = []
    for name, c in result["comparisons"].items():
        first = (c["first_history_difference"] or {}).get("row")
        differing = ", ".join(f"{k}: {a} vs {b}" for k, (a, b) in c["metrics_differing"].items()) or "none"
        rows.append(
            [
                name,
                f"{c['history_rows'][0]} / {c['history_rows'][1]}",
                "yes" if c["history_equal"] else f"no (first at row {first})",
                str(c["metrics_compared"]),
                differing,
            ]
        )
    flags_text = ", ".join(f"`{k}`: {a!r} / {b!r}" for k, (a, b) in result["flag_differences"].items()) or "none"
    verdict = "the same computation" if result["identical"] else "NOT the same computation"
    return (
        "# Same computation?\n\n"
        f"Runs A = `{result['runs'][0]}`, B = `{result['runs'][1]}`: **{verdict}** (every logged value and "
        "every shared metric equal; timings and paths not compared). `python -m benchmarks.same_computation`.\n\n"
        f"Flags that differ (A / B): {flags_text}.\n\n"
        + harness.markdown_table(["run", "history rows A / B", "history equal", "metrics compared", "differing"], rows)
        + f"\nHost: {da_table.host_label(result['machine'])}.\n"
    )


def main(argv):
    del argv
    if len(FLAGS.runs) != 2:
        raise SystemExit("--runs: give exactly two run directories, A,B.")
    run_a, run_b = (pathlib.Path(run) for run in FLAGS.runs)
    for run in (run_a, run_b):
        if not (run / "history.jsonl").exists():
            raise SystemExit(f"{run}: no history.jsonl; is it a finished run directory?")
    pairs = {"run": (run_a, run_b)}
    for spec in FLAGS.stages:
        sub_a, sep, sub_b = spec.partition(":")
        if not sep:
            raise SystemExit(f"--stages: expected A_SUBDIR:B_SUBDIR, got {spec!r}")
        pairs[f"{sub_a} / {sub_b}"] = (run_a / sub_a, run_b / sub_b)
    comparisons = {name: compare_runs(a, b) for name, (a, b) in pairs.items()}
    result = {
        "runs": [str(run_a), str(run_b)],
        "comparisons": comparisons,
        "identical": all(identical(c) for c in comparisons.values()),
        "flag_differences": flag_differences(run_a, run_b),
        "machine": harness.machine_info(),
    }
    harness.write_results(FLAGS.results_name, result, markdown(result))


if __name__ == "__main__":
    define_flags()
    app.run(main)
