"""Should a candidate config replace the shipped one? The pre-registered rule, column by column.

    python -m benchmarks.da_table --data_dir=../shared/data --methods=dann --seeds=0,1,2 \\
        --extra_flags=dann=--batch_norm,dann=--separate_domain_batches,dann=--target_batch_statistics \\
        --work_dir=runs/dann_adabn
    python -m benchmarks.config_candidates --work_dir=runs/dann_adabn \\
        --candidates="domain batch norm=moving_statistics_,domain batch norm + AdaBN="

The first command trains the candidate on every pair and seed of the domain-adaptation table. One run
can report more than one candidate: `NAME=PREFIX` reads `<PREFIX>target_test_accuracy`,
`<PREFIX>source_test_accuracy` and `<PREFIX>target_train_information_maximization` from its metrics
(DANN with `--target_batch_statistics` keeps the numbers before the statistics change as
`moving_statistics_*`). The baseline is the shipped config's final step
(`--baseline_records`, the table's records). Adversarial training amplifies the numeric differences between
CPU types (ADDA: 82.37% on an AVX512 host, 78.16% without), so the baseline can be layered:
`--baseline_records=benchmarks/results/da_table_records,runs/same_host/records` takes each (pair, seed) from
the last folder that has it, e.g. the shipped config rerun on the candidate runs' host. The rule, written
before the candidate runs (issue 11's practice; `benchmarks/results/<results_name>_rule.txt`): a candidate
is kept only if its mean over seeds is not lower than the baseline's by more than `--max_drop` points on
any column (the *guard* metric), and its mean over the columns is higher (the *gain* metric). `--judge`
says which metrics: `label_free` (the default) guards source test accuracy and gains on the
information-maximisation score of unlabelled target *training* images (`target_train_information_maximization`,
which the DANN and ADDA apps write), so no target label chooses the config, as issue 11 asks;
`target_test_accuracy` guards and gains on target test accuracy, what the studies before 2026-11-29 used
(it reads target test labels, so a config it keeps is not an untouched estimate on those splits).
A candidate that only sometimes changes the computation (ADDA's `--source_augmentations`, which may keep
the shipped stage-1 model) can name the metric that says so: with
`--shipped_computation_when=source_stage_augmentation=none`, a column where every candidate run kept it is
judged unchanged, since there the two configs compute the same thing.
Writes benchmarks/results/<results_name>.{json,md}.
"""

import dataclasses
import pathlib
import statistics

from absl import app, flags

from benchmarks import da_table, harness

FLAGS = flags.FLAGS
SCORE = "target_train_information_maximization"


@dataclasses.dataclass(frozen=True)
class Judge:
    """What the rule reads: no column may drop by more than --max_drop on `guard`, the mean over the
    columns must rise on `gain`. Accuracies are in %, scores as the metric gives them (`gain_scale`)."""

    guard: str
    gain: str
    gain_scale: float
    reads_target_labels: bool
    description: str


JUDGES = {
    "label_free": Judge(
        "source_test_accuracy",
        SCORE,
        1.0,
        False,
        "source test accuracy on every column, and the information-maximisation score (nats) of the "
        "predictions on unlabelled target training images averaged over the columns; no target label is read",
    ),
    "target_test_accuracy": Judge(
        "target_test_accuracy",
        "target_test_accuracy",
        100.0,
        True,
        "target test accuracy, on every column and averaged over the columns (reads target test labels)",
    ),
}


def define_flags():
    """Defined only when run as a program, so that tests can import the module beside other benchmarks."""
    flags.DEFINE_string("work_dir", None, "The da_table work directory of the candidate runs (its records/).")
    flags.DEFINE_list(
        "baseline_records",
        ["benchmarks/results/da_table_records"],
        "Records folders of the shipped config; a later folder's run replaces an earlier one's (same pair and seed).",
    )
    flags.DEFINE_string("method", "dann", "The method (the records' file-name prefix).")
    flags.DEFINE_list("candidates", ["candidate="], "NAME=METRIC_PREFIX, ...: the candidates the runs report.")
    flags.DEFINE_float("max_drop", 1.0, "The largest drop, in points, allowed on any column.")
    flags.DEFINE_string(
        "shipped_computation_when",
        None,
        "KEY=VALUE: a column where every candidate run's metrics have KEY == VALUE computes what the shipped "
        "config computes (shown bit for bit with --deterministic), so it is judged equal to the shipped column, "
        "e.g. source_stage_augmentation=none.",
    )
    flags.DEFINE_string("results_name", "dann_domain_batch_norm", "Results file name under benchmarks/results/.")
    flags.DEFINE_enum(
        "judge",
        "label_free",
        list(JUDGES),
        "label_free: guard source test accuracy, gain on the target-training information-maximisation score "
        "(no target label); target_test_accuracy: both on target test accuracy (the earlier studies' rule).",
    )


def layered_records(folders, method):
    """{(source, target, seed): record} over `folders`, a later folder's run replacing an earlier one's."""
    records = {}
    for folder in folders:
        records.update(da_table.ok_records(folder, method))
    return records


def column_hosts(records):
    """{(source, target): sorted host labels} of the runs behind each column (records keep their machine)."""
    hosts = {}
    for (source, target, _), record in records.items():
        hosts.setdefault((source, target), set()).add(da_table.host_label(record.get("machine")))
    return {pair: sorted(labels) for pair, labels in hosts.items()}


def column_means(records, prefix="", metric="target_test_accuracy", scale=100.0):
    """{(source, target): (mean, std, seeds)} of `scale` * `<prefix><metric>` (% by default) over the
    seeds that report it, from `da_table.ok_records`."""
    values = {}
    for (source, target, _), record in records.items():
        value = record["metrics"].get(prefix + metric)
        if value is not None:
            values.setdefault((source, target), []).append(scale * value)
    return {
        pair: (statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0, len(v)) for pair, v in values.items()
    }


def adoption_verdict(
    baseline,
    candidate,
    max_drop=1.0,
    seeds=None,
    shipped_computation=(),
    baseline_gain=None,
    candidate_gain=None,
    gain_digits=2,
):
    """The rule on {pair: mean}: kept if no column drops by more than `max_drop` and the mean rises.

    `baseline` / `candidate` are the guard metric's column means; the mean over the columns is compared
    on `baseline_gain` / `candidate_gain` when given (another metric), else on the guard's. Only the
    columns both report are compared; a column the candidate lacks, or (with `seeds`,
    {pair: (baseline seeds, candidate seeds)}) has fewer seeds of, or a gain metric missing on either
    side, leaves the study incomplete (`complete` False), which is a reason to keep the baseline. A
    column in `shipped_computation` ran the shipped config's computation in every candidate run, so its
    measured difference is run-to-run float noise (adversarial runs do not repeat bit for bit): it
    counts as no change.
    """
    if baseline_gain is None:
        baseline_gain, candidate_gain = baseline, candidate
    missing = sorted(set(baseline) - set(candidate))
    short = [pair for pair, (wanted, ran) in (seeds or {}).items() if pair in candidate and ran < wanted]
    candidate = {pair: baseline[pair] if pair in shipped_computation else value for pair, value in candidate.items()}
    candidate_gain = {
        pair: baseline_gain.get(pair) if pair in shipped_computation else value
        for pair, value in candidate_gain.items()
    }
    drops = {pair: candidate[pair] - baseline[pair] for pair in baseline if pair in candidate}
    no_gain = sorted(pair for pair in drops if baseline_gain.get(pair) is None or candidate_gain.get(pair) is None)
    worst = min(drops.values()) if drops else None
    compared = drops and not no_gain
    baseline_mean = statistics.mean(baseline_gain[pair] for pair in drops) if compared else None
    candidate_mean = statistics.mean(candidate_gain[pair] for pair in drops) if compared else None
    reasons = []
    if missing:
        reasons.append(f"no runs for {', '.join(da_table.column_label(p) for p in missing)}")
    if no_gain:
        reasons.append(f"no gain metric for {', '.join(da_table.column_label(p) for p in no_gain)}")
    for pair, change in drops.items():
        if change < -max_drop:
            reasons.append(f"{da_table.column_label(pair)} is {-change:.2f} points lower")
    if compared and candidate_mean <= baseline_mean:
        reasons.append(
            f"the column mean is not higher ({candidate_mean:.{gain_digits}f} vs {baseline_mean:.{gain_digits}f})"
        )
    for pair in short:
        wanted, ran = seeds[pair]
        reasons.append(f"{da_table.column_label(pair)} has {ran} of {wanted} seeds")
    return {
        "kept": bool(drops) and not reasons,
        "complete": not missing and not short and not no_gain,
        "reasons": reasons,
        "worst_change": worst,
        "baseline_mean": baseline_mean,
        "candidate_mean": candidate_mean,
    }


def parse_candidates(specs):
    candidates = {}
    for spec in specs:
        name, sep, prefix = spec.partition("=")
        if not sep or not name:
            raise SystemExit(f"--candidates: expected NAME=METRIC_PREFIX, got {spec!r}")
        candidates[name] = prefix
    return candidates


def _cell(summary, digits=2):
    if summary is None:
        return "-"
    mean, std, n = summary
    return f"{mean:.{digits}f} ± {std:.{digits}f}" + ("" if n == 3 else f" (n={n})")


def shipped_computation_columns(records, condition):
    """The columns where every run's metrics have KEY == VALUE (`condition`, "KEY=VALUE"; None: none)."""
    if not condition:
        return set()
    key, sep, value = condition.partition("=")
    if not sep or not key:
        raise SystemExit(f"--shipped_computation_when: expected KEY=VALUE, got {condition!r}")
    runs = {}
    for (source, target, _), record in records.items():
        runs.setdefault((source, target), []).append(str(record["metrics"].get(key)) == value)
    return {pair for pair, matches in runs.items() if all(matches)}


def compare(
    baseline_records, candidate_records, candidates, max_drop, shipped_computation_when=None, judge="label_free"
):
    rule = JUDGES[judge]
    baseline = column_means(baseline_records)
    # Every column of the shipped config is judged: one the candidate has not run (or has fewer
    # seeds of) leaves it unjudged, not kept.
    run_pairs = {(source, target) for source, target, _ in candidate_records} | set(baseline)
    table_order = da_table.parse_pairs(",".join(da_table.DEFAULT_PAIRS))
    pairs = [pair for pair in table_order if pair in run_pairs]
    pairs += sorted(run_pairs - set(pairs))
    result = {"pairs": [list(p) for p in pairs], "baseline": {}, "candidates": {}}
    baseline_source = column_means(baseline_records, "", "source_test_accuracy")
    baseline_score = column_means(baseline_records, "", SCORE, scale=1.0)
    result["judge"] = {"name": judge, **dataclasses.asdict(rule)}
    result["baseline"] = {
        "target": {da_table.column_label(p): s for p, s in baseline.items()},
        "source": {da_table.column_label(p): s for p, s in baseline_source.items() if p in pairs},
        SCORE: {da_table.column_label(p): s for p, s in baseline_score.items()},
    }
    baseline_guard = column_means(baseline_records, "", rule.guard)
    baseline_gain = column_means(baseline_records, "", rule.gain, rule.gain_scale)
    result["hosts"] = {
        "shipped": {da_table.column_label(p): h for p, h in column_hosts(baseline_records).items()},
        "candidates": {da_table.column_label(p): h for p, h in column_hosts(candidate_records).items()},
    }
    same = shipped_computation_columns(candidate_records, shipped_computation_when)
    result["shipped_computation_when"] = shipped_computation_when
    result["shipped_computation_columns"] = [da_table.column_label(p) for p in pairs if p in same]
    for name, prefix in candidates.items():
        target = column_means(candidate_records, prefix)
        source = column_means(candidate_records, prefix, "source_test_accuracy")
        score = column_means(candidate_records, prefix, SCORE, scale=1.0)
        guard = column_means(candidate_records, prefix, rule.guard)
        gain = column_means(candidate_records, prefix, rule.gain, rule.gain_scale)
        verdict = adoption_verdict(
            {p: s[0] for p, s in baseline_guard.items()},
            {p: s[0] for p, s in guard.items()},
            max_drop,
            seeds={p: (baseline_guard[p][2], guard[p][2]) for p in baseline_guard if p in guard},
            shipped_computation=same,
            baseline_gain={p: s[0] for p, s in baseline_gain.items()},
            candidate_gain={p: s[0] for p, s in gain.items()},
            gain_digits=2 if rule.gain_scale == 100.0 else 3,
        )
        result["candidates"][name] = {
            "metric_prefix": prefix,
            "target": {da_table.column_label(p): s for p, s in target.items()},
            "source": {da_table.column_label(p): s for p, s in source.items()},
            SCORE: {da_table.column_label(p): s for p, s in score.items()},
            "verdict": verdict,
        }
    return result


def markdown(result, work_dir, max_drop, baseline_folders=("benchmarks/results/da_table_records",)):
    labels = [da_table.column_label(tuple(p)) for p in result["pairs"]]
    header = ["config", *labels, "mean", "verdict"]
    baseline = result["baseline"]["target"]
    rows = [["shipped", *[_cell(baseline.get(label)) for label in labels], _mean(baseline, labels), "-"]]
    for name, candidate in result["candidates"].items():
        verdict = candidate["verdict"]
        if verdict["kept"]:
            outcome = "**kept**"
        else:
            outcome = ("reverted: " if verdict["complete"] else "not judged yet: ") + "; ".join(verdict["reasons"])
        rows.append(
            [
                name,
                *[_cell(candidate["target"].get(label)) for label in labels],
                _mean(candidate["target"], labels),
                outcome,
            ]
        )
    source_rows = [["shipped", *[_cell(result["baseline"]["source"].get(label)) for label in labels]]]
    source_rows += [
        [name, *[_cell(candidate["source"].get(label)) for label in labels]]
        for name, candidate in result["candidates"].items()
    ]
    same = result.get("shipped_computation_columns") or []
    same_note = (
        f"\nColumns where every candidate run had `{result['shipped_computation_when']}`, i.e. ran the shipped "
        f"config's computation (shown bit for bit with `--deterministic`), count as unchanged: {', '.join(same)}. "
        "Their measured difference is run-to-run float noise, which the shipped config has against itself.\n"
        if same
        else ""
    )
    hosts = result.get("hosts", {})
    host_rows = [
        [name, *["; ".join(hosts.get(key, {}).get(label, [])) or "-" for label in labels]]
        for name, key in (("shipped", "shipped"), ("candidates", "candidates"))
    ]
    judge = result.get("judge") or {
        "name": "target_test_accuracy",
        **dataclasses.asdict(JUDGES["target_test_accuracy"]),
    }
    score_rows = [
        ["shipped", *[_cell(result["baseline"].get(SCORE, {}).get(label), 3) for label in labels]],
        *[
            [name, *[_cell(candidate.get(SCORE, {}).get(label), 3) for label in labels]]
            for name, candidate in result["candidates"].items()
        ],
    ]
    return (
        "# Candidate configs against the shipped one\n\n"
        f"Target test accuracy %, mean ± std over seeds (full test splits). Candidate runs: `{work_dir}`; "
        f"`python -m benchmarks.config_candidates --judge={judge['name']}`. Rule (written before the runs): keep a "
        f"candidate only if no column's `{judge['guard']}` is more than {max_drop:g} point(s) lower than the "
        f"shipped config's and the mean over the columns of `{judge['gain']}` is higher. It judges on "
        f"{judge['description']}.\n\n"
        + harness.markdown_table(header, rows)
        + same_note
        + "\nSource test accuracy % (the source domain's test split), same runs:\n\n"
        + harness.markdown_table(["config", *labels], source_rows)
        + "\nInformation-maximisation score (nats; higher: confident predictions spread over the classes) on "
        'unlabelled target training images, same runs ("-": runs from before the apps wrote it):\n\n'
        + harness.markdown_table(["config", *labels], score_rows)
        + '\nWhere the runs ran (CPU, cores, AVX512; "-": a record from before hosts were kept). Shipped '
        f"config's records: {', '.join(f'`{folder}`' for folder in baseline_folders)}, a later folder's run "
        "replacing an earlier one's of the same pair and seed.\n\n"
        + harness.markdown_table(["config", *labels], host_rows)
    )


def _mean(summaries, labels):
    values = [summaries[label][0] for label in labels if label in summaries]
    return f"{statistics.mean(values):.2f}" if len(values) == len(labels) else "-"


def main(argv):
    del argv
    if not FLAGS.work_dir:
        raise SystemExit("--work_dir: the da_table work directory of the candidate runs is required.")
    candidate_records = da_table.ok_records(pathlib.Path(FLAGS.work_dir) / "records", FLAGS.method)
    if not candidate_records:
        raise SystemExit(f"no finished {FLAGS.method} runs in {FLAGS.work_dir}/records: run benchmarks.da_table first.")
    baseline_records = layered_records(FLAGS.baseline_records, FLAGS.method)
    result = compare(
        baseline_records,
        candidate_records,
        parse_candidates(FLAGS.candidates),
        FLAGS.max_drop,
        FLAGS.shipped_computation_when,
        FLAGS.judge,
    )
    result["baseline_records"] = FLAGS.baseline_records
    text = markdown(result, FLAGS.work_dir, FLAGS.max_drop, FLAGS.baseline_records)
    harness.write_results(FLAGS.results_name, result, text)


if __name__ == "__main__":
    define_flags()
    app.run(main)
