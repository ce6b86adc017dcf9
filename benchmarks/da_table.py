"""The domain-adaptation table: lower bound / adapted methods / upper bound across domain pairs.

    python -m benchmarks.da_table --data_dir=../shared/data                      # the whole table
    python -m benchmarks.da_table --data_dir=... --dry_run                       # the commands only
    python -m benchmarks.da_table --methods=source_only,dann,target_only --seeds=0 \\
        --pairs="mnist->mnist_m,mnist_m->mnist" --max_steps=source_only=600,dann=2000

Rows are methods, columns are SOURCE->TARGET pairs (issue 11, item 4). Each method is one app and
its ONE shipped flagfile, used unchanged in every column; only --source/--target, --seed,
--output_dir, --export_root, --data_dir and the optional overrides below differ:

    source_only   apps.train_source_only  target_test_accuracy         (the lower bound)
    dann          apps.train_dann         target_test_accuracy
    adda          apps.train_adda         target_test_accuracy
    pixelda       apps.train_pixelda      target_test_accuracy         (mnist -> MNIST-M columns only;
                  --every_pair runs it on the others too, for a table of its own)
    target_only   apps.train_source_only with --source=T --target=S, source_test_accuracy
                  (trained on T's labels, scored on T's test split: the upper bound)

target_only has no settings of its own: it is the source_only run with the roles swapped, so
the source_only run (A, B) is both the lower bound of A->B and the upper bound of B->A (and of
any X->A), and is trained once.

Runs are cached under --work_dir by (app, flagfile and its contents, source, target, seed,
--max_steps override, extra flags): each finished run writes records/<run id>.json, and a rerun
reuses them, so the table (~4 hours on 2 CPU cores) can be run in pieces. A run that exits
non-zero is recorded as failed with the tail of its log, the table goes on and shows "failed";
failed runs are retried on the next invocation unless --noretry_failed. After every finished
run, results/<results_name>.{json,md,png} are rewritten, so a partial table is always on disk.
To run it in pieces, stop it (Ctrl-C) and rerun the same command: finished runs are reused and
the interrupted one resumes from its last checkpoint. The outputs show the invocation's own
--methods/--pairs/--seeds, so give a subset its own --results_name.

Overrides (comma lists; METHOD may be `all`):
    --max_steps=N                    every method trains N steps (smoke tests)
    --max_steps=source_only=600,dann=2000
    --flagfiles=dann=apps/configs/my_dann.cfg
    --extra_flags=dann=--source_only_steps=0,all=--batch_size=16
"""

import dataclasses
import hashlib
import json
import math
import os
import pathlib
import re
import shlex
import statistics
import subprocess
import sys
import time

from absl import app, flags

from benchmarks import harness

FLAGS = flags.FLAGS

CONFIGS = harness.CONFIGS_DIR.relative_to(harness.REPO_ROOT).as_posix()  # "apps/configs", as commands name it


@dataclasses.dataclass(frozen=True)
class Method:
    """One row: which app and flagfile, which metric it reports, and where it applies."""

    label: str
    app: str
    flagfile: str
    metric: str = "target_test_accuracy"
    swap_domains: bool = False  # target_only: train on T (as --source), score T's test split
    settings_from: str | None = None  # share another method's flagfile and overrides (and runs)
    applies: object = None  # callable(source, target) -> bool; None = every column


MNIST_M_NAMES = ("mnist_m", "mnist_m_original", "mnist_m_synth")


def _pixelda_applies(source, target):
    """PixelDA is only reported, and only configured, for MNIST -> MNIST-M."""
    return source == "mnist" and target in MNIST_M_NAMES


METHODS = {
    "source_only": Method(
        "source-only (lower bound)", "apps.train_source_only", f"{CONFIGS}/source_only_mnist_to_mnistm.cfg"
    ),
    "dann": Method("DANN", "apps.train_dann", f"{CONFIGS}/dann_mnist_to_mnistm.cfg"),
    "adda": Method("ADDA", "apps.train_adda", f"{CONFIGS}/adda_digits.cfg"),
    "pixelda": Method(
        "PixelDA", "apps.train_pixelda", f"{CONFIGS}/pixelda_mnist_to_mnistm_cpu.cfg", applies=_pixelda_applies
    ),
    "target_only": Method(
        "target-only (upper bound)",
        "apps.train_source_only",
        f"{CONFIGS}/source_only_mnist_to_mnistm.cfg",
        metric="source_test_accuracy",
        swap_domains=True,
        settings_from="source_only",
    ),
}
ADAPTED = ("dann", "adda", "pixelda")
BASELINE = "source_only"
TARGET_GAIN_POINTS = 5.0  # issue 11: every adapted method beats source-only by >= 5 points

DEFAULT_PAIRS = ["mnist->mnist_m", "mnist_m->mnist", "mnist->uci_digits", "uci_digits->mnist", "mnist->mnist_m_synth"]
SVHN_PAIRS = ["svhn->mnist_m", "mnist_m->svhn", "svhn->mnist"]
SVHN_FILES = ("svhn/train_32x32.mat", "svhn/test_32x32.mat")
USPS_PAIRS = ["mnist->usps", "usps->mnist"]
USPS_FILES = ("usps/usps.bz2", "usps/usps.t.bz2")

DOMAIN_LABELS = {
    "mnist": "MNIST",
    "mnist_m": "MNIST-M",
    "mnist_m_original": "MNIST-M",
    "mnist_m_synth": "MNIST-M (synth.)",
    "uci_digits": "UCI digits",
    "svhn": "SVHN",
    "usps": "USPS",
}

# Published target-test accuracies (%), by pair and method; a string where a paper reports two.
PUBLISHED = {
    "mnist->mnist_m": {
        # Ganin et al., "Domain-Adversarial Training of Neural Networks", JMLR 17, 2016.
        "source_only": 52.25,
        # JMLR 2016 / Ganin & Lempitsky, "Unsupervised Domain Adaptation by Backpropagation", ICML 2015.
        "dann": "76.66 / 81.49",
        # Bousmalis et al., "Unsupervised Pixel-Level Domain Adaptation with GANs", CVPR 2017.
        "pixelda": 98.2,
        # Bousmalis et al. CVPR 2017: the "target-only" classifier trained on MNIST-M labels.
        "target_only": 96.5,
        # ADDA (Tzeng et al., CVPR 2017) does not report MNIST -> MNIST-M.
    },
    "svhn->mnist": {
        "source_only": 54.9,  # Ganin et al. JMLR 2016
        "dann": 73.85,  # Ganin et al. JMLR 2016
        # Tzeng et al., "Adversarial Discriminative Domain Adaptation", CVPR 2017.
        "adda": 76.0,
        "target_only": 99.42,  # Ganin et al. JMLR 2016, "train on target"
    },
    # Tzeng et al. CVPR 2017, Table 2 (their protocol samples 2,000 MNIST / 1,800 USPS training images;
    # kerasda trains on the full splits, so these are references, not like-for-like).
    "mnist->usps": {"source_only": 75.2, "adda": 89.4},
    "usps->mnist": {"source_only": 57.1, "adda": 90.1},
}
PUBLISHED["mnist->mnist_m_original"] = PUBLISHED["mnist->mnist_m"]  # the registry's explicit name for it
# The synthesised MNIST-M follows Ganin & Lempitsky's recipe, so the original's numbers are its reference.
PUBLISHED_ALIASES = {"mnist->mnist_m_synth": "mnist->mnist_m"}
CITATIONS = (
    "Published: Ganin et al., JMLR 2016 and Ganin & Lempitsky, ICML 2015 (the second "
    "DANN MNIST-M number); Bousmalis et al., CVPR 2017 (PixelDA and MNIST-M target-only); "
    'Tzeng et al., CVPR 2017 (ADDA). "-" = no standard published number. † = the original '
    "MNIST-M's numbers, shown for the synthesised replica."
)


@dataclasses.dataclass
class Config:
    """Everything a table needs, separate from absl so tests can build one directly."""

    pairs: list  # [(source, target)]
    methods: list
    seeds: list
    work_dir: pathlib.Path
    results_dir: pathlib.Path
    results_name: str = "da_table"
    data_dir: str | None = None
    max_steps: dict = dataclasses.field(default_factory=dict)  # method -> steps
    flagfiles: dict = dataclasses.field(default_factory=dict)  # method -> path
    extra_flags: dict = dataclasses.field(default_factory=dict)  # method -> [flags]
    retry_failed: bool = True
    every_pair: bool = False  # also run methods on pairs their paper leaves out (PixelDA's n/a cells)

    def applies(self, method, pair):
        """Whether the table runs `method` on `pair`: its paper's rule, unless --every_pair."""
        rule = METHODS[method].applies
        return self.every_pair or rule is None or rule(*pair)


# ---------------------------------------------------------------------------- parsing


def parse_pairs(text):
    """'A->B,C->D' -> [(A, B), (C, D)]; specs may contain ':' and '/' (npz:/x.npz)."""
    pairs = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        source, arrow, target = item.partition("->")
        if not arrow or not source.strip() or not target.strip():
            raise ValueError(f"Pair {item!r} is not SOURCE->TARGET.")
        pairs.append((source.strip(), target.strip()))
    return pairs


def parse_method_values(items, known, allow_bare=False):
    """['dann=2000', 'all=x', '3'] -> {method: [values]}; a bare value (or all=) goes to every method."""
    values = {}
    for item in items:
        method, sep, value = item.partition("=")
        if not sep:
            if not allow_bare:
                raise ValueError(f"{item!r} is not METHOD=VALUE.")
            method, value = "all", item
        method = method.strip()
        if method != "all" and method not in known:
            raise ValueError(f"Unknown method {method!r} in {item!r}; choose from {sorted(known)} or all.")
        for name in known if method == "all" else [method]:
            values.setdefault(name, []).append(value.strip())
    return values


def default_pairs(data_dir):
    """The five standard columns, plus the SVHN and USPS ones when their files are there."""
    # Same resolution as kerasda.data.paths.resolve_data_dir (not imported: it pulls in TensorFlow).
    root = pathlib.Path(data_dir or os.environ.get("KERASDA_DATA_DIR") or "~/kerasda_data").expanduser()
    pairs = list(DEFAULT_PAIRS)
    if all((root / name).is_file() for name in SVHN_FILES):
        pairs += SVHN_PAIRS
    if all((root / name).is_file() for name in USPS_FILES):
        pairs += USPS_PAIRS
    return parse_pairs(",".join(pairs))


def define_flags():
    """Defined only when run as a script, so importing this module (tests) registers no absl flags
    that could clash with an app's (both have --data_dir, --max_steps...)."""
    flags.DEFINE_string("data_dir", None, "Dataset root passed to every app; default $KERASDA_DATA_DIR.")
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of every cell.")
    flags.DEFINE_list("methods", list(METHODS), f"Rows, from {list(METHODS)}.")
    flags.DEFINE_string(
        "pairs",
        None,
        "Columns: comma list of SOURCE->TARGET (specs may be npz:/path or folder:/path). "
        f"Default {DEFAULT_PAIRS}, plus {SVHN_PAIRS} when <data_dir>/svhn has the .mat files "
        f"and {USPS_PAIRS} when <data_dir>/usps has the LIBSVM files.",
    )
    flags.DEFINE_list("max_steps", [], "Steps override: N for every method, or METHOD=N,...")
    flags.DEFINE_list("flagfiles", [], "Flagfile overrides: METHOD=path,...")
    flags.DEFINE_list("extra_flags", [], "Extra app flags: METHOD=--flag=value,... (METHOD may be all).")
    flags.DEFINE_string("results_name", "da_table", "Output name: <results_dir>/<results_name>.{json,md,png}.")
    flags.DEFINE_string("results_dir", None, "Output folder; default benchmarks/results.")
    flags.DEFINE_string("work_dir", "runs/da_table", "Run directories and the per-run records (the cache).")
    flags.DEFINE_bool(
        "every_pair",
        False,
        "Also run methods on the pairs their paper leaves out (PixelDA beyond MNIST -> MNIST-M, n/a in the "
        "table); use a --results_name of its own, as the main table keeps them n/a.",
    )
    flags.DEFINE_bool("retry_failed", True, "Rerun runs recorded as failed (else keep showing 'failed').")
    flags.DEFINE_bool("dry_run", False, "Print the commands (and whether each is done) and exit.")
    flags.DEFINE_bool(
        "train",
        True,
        "Train the missing runs; --notrain only writes the table from the finished ones (the rest show as pending).",
    )


def config_from_flags():
    methods = [m.strip() for m in FLAGS.methods if m.strip()]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise app.UsageError(f"Unknown methods {unknown}; choose from {list(METHODS)}.")
    try:
        pairs = parse_pairs(FLAGS.pairs) if FLAGS.pairs else default_pairs(FLAGS.data_dir)
        steps = parse_method_values(FLAGS.max_steps, list(METHODS), allow_bare=True)
        flagfiles = parse_method_values(FLAGS.flagfiles, list(METHODS))
        extra = parse_method_values(FLAGS.extra_flags, list(METHODS))
        max_steps = {m: int(v[-1]) for m, v in steps.items()}
        for option, given in (
            ("max_steps", FLAGS.max_steps),
            ("flagfiles", FLAGS.flagfiles),
            ("extra_flags", FLAGS.extra_flags),
        ):
            if any(item.startswith("target_only=") for item in given):
                raise ValueError(
                    f"--{option}: target_only has no settings of its own; it reuses "
                    "source_only's (so their runs are shared). Set source_only=..."
                )
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    if not pairs:
        raise app.UsageError("--pairs gave no SOURCE->TARGET pair.")
    return Config(
        pairs=pairs,
        methods=methods,
        seeds=[int(s) for s in FLAGS.seeds],
        work_dir=pathlib.Path(FLAGS.work_dir).expanduser().resolve(),
        results_dir=pathlib.Path(FLAGS.results_dir or harness.RESULTS_DIR).expanduser().resolve(),
        results_name=FLAGS.results_name,
        data_dir=str(pathlib.Path(FLAGS.data_dir).expanduser().resolve()) if FLAGS.data_dir else None,
        max_steps=max_steps,
        flagfiles={m: v[-1] for m, v in flagfiles.items()},
        extra_flags=extra,
        retry_failed=FLAGS.retry_failed,
        every_pair=FLAGS.every_pair,
    )


# ---------------------------------------------------------------------------- runs


def pair_name(pair):
    return f"{pair[0]}->{pair[1]}"


def domain_label(spec):
    return DOMAIN_LABELS.get(spec, spec)


def column_label(pair):
    return f"{domain_label(pair[0])} → {domain_label(pair[1])}"


def short_domain_label(spec):
    """For the chart's narrow ticks: path specs by their file or folder name."""
    kind, sep, path = spec.partition(":")
    return DOMAIN_LABELS.get(spec) or (f"{kind}:{pathlib.PurePath(path).stem}" if sep else spec)


def _repo_relative(path):
    path = pathlib.Path(path)
    absolute = path if path.is_absolute() else harness.REPO_ROOT / path
    try:
        return absolute.resolve().relative_to(harness.REPO_ROOT.resolve()).as_posix()
    except ValueError:
        return str(absolute.resolve())


def flagfile_digest(path):
    """Hash of the flagfile's flag lines (not comments): editing the config invalidates its runs."""
    absolute = harness.REPO_ROOT / path
    if not absolute.is_file():
        return "missing"
    lines = [line.strip() for line in absolute.read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith(("#", "//"))]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def run_key(config, method, pair, seed):
    """What identifies one training run: equal keys are the same run, trained once."""
    settings = METHODS[method].settings_from or method
    spec = METHODS[settings]
    flagfile = _repo_relative(config.flagfiles.get(settings, spec.flagfile))
    source, target = (pair[1], pair[0]) if METHODS[method].swap_domains else pair
    return {
        "app": spec.app,
        "flagfile": flagfile,
        "flagfile_digest": flagfile_digest(flagfile),
        "source": source,
        "target": target,
        "seed": seed,
        "max_steps": config.max_steps.get(settings),
        "extra_flags": list(config.extra_flags.get(settings, [])),
    }


def _slug(spec, limit=32):
    """A readable file-name part for a domain spec: 'mnist_m', or 'npz_dark' for npz:/a/b/dark.npz
    (the run id's hash, not the slug, keeps different paths apart)."""
    kind, sep, path = spec.partition(":")
    text = f"{kind}_{pathlib.PurePath(path).stem}" if sep else spec
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:limit] or "x"


def run_id(key):
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    app_name = key["app"].rsplit(".", 1)[-1].removeprefix("train_")
    return f"{app_name}__{_slug(key['source'])}__to__{_slug(key['target'])}__seed{key['seed']}__{digest}"


def app_flags(config, key, run_dir):
    """The flags after --flagfile and --output_dir: the only ones that vary between cells."""
    extra = [
        f"--source={key['source']}",
        f"--target={key['target']}",
        f"--seed={key['seed']}",
        f"--export_root={run_dir / 'exports'}",
    ]
    if config.data_dir:
        extra.append(f"--data_dir={config.data_dir}")
    if key["max_steps"] is not None:
        extra.append(f"--max_steps={key['max_steps']}")
    return extra + key["extra_flags"]


def command_line(config, key):
    run_dir = config.work_dir / run_id(key)
    command = [
        sys.executable,
        "-m",
        key["app"],
        f"--flagfile={key['flagfile']}",
        f"--output_dir={run_dir / 'run'}",
        *app_flags(config, key, run_dir),
    ]
    return shlex.join(command)


def record_path(config, key):
    return config.work_dir / "records" / f"{run_id(key)}.json"


def load_record(config, key):
    path = record_path(config, key)
    return json.loads(path.read_text()) if path.is_file() else None


def ok_records(folder, method, selected=None):
    """{(source, target, seed): record} of the finished runs of `method` in a records folder (the studies
    that compare configs read them); `selected` True / False keeps only the runs that chose a checkpoint
    (`selected_step`) / that report their final step, None keeps all."""
    found = {}
    for path in sorted(pathlib.Path(folder).glob(f"{method}__*.json")):
        record = json.loads(path.read_text())
        if record.get("status") != "ok":
            continue
        if selected is None or ("selected_step" in record["metrics"]) == selected:
            key = record["key"]
            found[(key["source"], key["target"], key["seed"])] = record
    return found


def record_metrics(metrics, prefix=""):
    """What a run's record keeps: numbers and short labels, nested dicts flattened to dotted keys.

    Labels such as ADDA's chosen stage-1 model (`source_stage_augmentation`) and its candidates' scores
    are part of what a study reports; confusion matrices, lists and machine-specific paths are not.
    """
    kept = {}
    for name, value in metrics.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            kept.update(record_metrics(value, prefix=f"{key}."))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, (int, float)):
            kept[key] = value
        elif isinstance(value, str) and not key.endswith(("_path", "_dir")) and len(value) <= 64:
            kept[key] = value
    return kept


def _log_tail(path, lines=40):
    try:
        return "\n".join(pathlib.Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def train(config, key):
    """Run one app to the end (resuming its checkpoint if a previous attempt stopped) and record it."""
    run_dir = config.work_dir / run_id(key)
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "log.txt"
    record = {
        "run_id": run_id(key),
        "key": key,
        "command": command_line(config, key),
        "log": str(log_path),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": harness.machine_info(),
    }
    start = time.perf_counter()
    try:
        metrics, wall = harness.run_app(
            key["app"], key["flagfile"], run_dir / "run", app_flags(config, key, run_dir), log_path=log_path
        )
        record.update(status="ok", metrics=record_metrics(metrics), wall_seconds=wall)
    except (subprocess.CalledProcessError, OSError, ValueError) as error:
        # OSError: no metrics.json; ValueError: unreadable JSON. Either way the cell shows "failed".
        record.update(
            status="failed", error=str(error), log_tail=_log_tail(log_path), wall_seconds=time.perf_counter() - start
        )
        print(f"FAILED {record['run_id']}: {error}\n{record['log_tail']}", flush=True)
    path = record_path(config, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True))
    tmp.replace(path)  # atomic: a killed table never leaves half a record
    return record


def cells(config):
    """Every (method, pair, seed) the table shows a number for, in run order.

    Seed-major, so a partial table already has one seed in every cell.
    """
    return [
        (method, pair, seed)
        for seed in config.seeds
        for method in config.methods
        for pair in config.pairs
        if config.applies(method, pair)
    ]


def host_label(machine):
    """Where a run ran, as the every-run table shows it ("-": records written before hosts were kept)."""
    if not machine:
        return "-"
    label = f"{machine['cpu']}, {machine['cpu_cores']} cores"
    if "avx512" in machine:
        label += ", AVX512" if machine["avx512"] else ", no AVX512"
    return label + (f", {', '.join(machine['gpus'])}" if machine.get("gpus") else "")


def collect(config, origins):
    """One entry per (method, pair, seed): accuracy read from its run's record (None = pending)."""
    entries = []
    for method, pair, seed in cells(config):
        key = run_key(config, method, pair, seed)
        record = load_record(config, key)
        entry = {
            "method": method,
            "pair": pair_name(pair),
            "source": pair[0],
            "target": pair[1],
            "seed": seed,
            "run_id": run_id(key),
            "run_source": key["source"],
            "run_target": key["target"],
            "metric": METHODS[method].metric,
            "flagfile": key["flagfile"],
            "command": command_line(config, key),
            "origin": origins.get(run_id(key), "cached" if record else "pending"),
            "status": record["status"] if record else "pending",
            "accuracy": None,
            "steps": None,
            "wall_seconds": None,
            "host": host_label(record.get("machine")) if record else "-",
        }
        if record:
            metrics = record.get("metrics", {})
            entry["wall_seconds"] = record["wall_seconds"]
            # Time-budgeted configs (PixelDA's --max_minutes) reach a host-dependent step count.
            entry["steps"] = metrics.get("steps")
            value = metrics.get(METHODS[method].metric)
            if record["status"] == "ok" and value is None:
                entry["status"] = "failed"
                entry["error"] = f"metrics.json has no {METHODS[method].metric}"
            entry["accuracy"] = value
            if record["status"] == "failed":
                entry["error"] = record.get("error")
                entry["log_tail"] = record.get("log_tail")
        entries.append(entry)
    return entries


# ---------------------------------------------------------------------------- summary


def summarise(config, entries):
    """Per pair and method: mean/std accuracy (%), n, mean seconds per run, status."""
    summary = {}
    for pair in config.pairs:
        column = summary.setdefault(pair_name(pair), {})
        for method in config.methods:
            if not config.applies(method, pair):
                column[method] = {"status": "n/a"}
                continue
            group = [e for e in entries if e["method"] == method and e["pair"] == pair_name(pair)]
            done = [e for e in group if e["status"] == "ok"]
            accuracies = [100.0 * e["accuracy"] for e in done]
            times = [e["wall_seconds"] for e in group if e["wall_seconds"] is not None]
            cell = {
                "n": len(done),
                "n_requested": len(config.seeds),
                "n_failed": sum(e["status"] == "failed" for e in group),
                "accuracies": accuracies,
                "mean": statistics.mean(accuracies) if accuracies else None,
                # A sample std needs two seeds; one seed has none, not a std of zero.
                "std": statistics.stdev(accuracies) if len(accuracies) > 1 else None,
                "mean_wall_seconds": statistics.mean(times) if times else None,
            }
            cell["status"] = "ok" if done else "failed" if cell["n_failed"] else "pending"
            column[method] = cell
    return summary


def gains(config, summary):
    """Adapted method minus source-only, in points, per column (the issue's >= 5-point target)."""
    result = {}
    for pair in config.pairs:
        column = summary[pair_name(pair)]
        base = column.get(BASELINE, {}).get("mean")
        result[pair_name(pair)] = {
            m: (None if base is None or column[m].get("mean") is None else column[m]["mean"] - base)
            for m in config.methods
            if m in ADAPTED and column[m]["status"] != "n/a"
        }
    measured = [g for column in result.values() for g in column.values() if g is not None]
    expected = sum(len(column) for column in result.values())
    return result, {
        "threshold_points": TARGET_GAIN_POINTS,
        "met": bool(measured) and len(measured) == expected and min(measured) >= TARGET_GAIN_POINTS,
        "cells_measured": len(measured),
        "cells_expected": expected,
    }


def published(pair, method):
    name = pair_name(pair)
    value = PUBLISHED.get(PUBLISHED_ALIASES.get(name, name), {}).get(method)
    if value is None:
        return "-"
    text = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
    return text + (" †" if name in PUBLISHED_ALIASES else "")


def format_cell(cell):
    if cell["status"] in ("n/a", "pending"):
        return cell["status"]
    if cell["status"] == "failed":
        return "failed"
    # One seed has no spread to show: print the value alone, never a misleading "± 0.00".
    text = f"{cell['mean']:.2f}" if cell["n"] == 1 else f"{cell['mean']:.2f} ± {cell['std']:.2f}"
    if cell["n"] < cell["n_requested"]:
        text += f" (n={cell['n']})"
    if cell["n_failed"]:
        text += f" ({cell['n_failed']} failed)"
    return text


def format_seconds(cell):
    if cell["status"] == "n/a":
        return "n/a"
    return "-" if cell.get("mean_wall_seconds") is None else f"{cell['mean_wall_seconds']:.0f}"


def settings(config):
    """Per method: app, flagfile, overrides (the exact configuration each row used)."""
    result = {}
    for method in config.methods:
        key = run_key(config, method, ("SOURCE", "TARGET"), 0)
        result[method] = {
            "app": key["app"],
            "flagfile": key["flagfile"],
            "flagfile_digest": key["flagfile_digest"],
            "metric": METHODS[method].metric,
            "max_steps_override": key["max_steps"],
            "extra_flags": key["extra_flags"],
            "swap_domains": METHODS[method].swap_domains,
        }
    return result


def markdown(config, summary, gain, entries):
    header = ["method"] + [column_label(p) for p in config.pairs]
    rows = []
    for method in config.methods:
        rows.append([METHODS[method].label] + [format_cell(summary[pair_name(p)][method]) for p in config.pairs])
        rows.append(
            [f"*{METHODS[method].label}, published*"]
            + ["n/a" if not config.applies(method, p) else published(p, method) for p in config.pairs]
        )
    gain_rows = [
        [METHODS[m].label]
        + [
            "n/a"
            if m not in gain[pair_name(p)]
            else "-"
            if gain[pair_name(p)][m] is None
            else f"{gain[pair_name(p)][m]:+.2f}"
            for p in config.pairs
        ]
        for m in config.methods
        if m in ADAPTED
    ]
    time_rows = [
        [METHODS[m].label] + [format_seconds(summary[pair_name(p)][m]) for p in config.pairs] for m in config.methods
    ]
    setup_rows = []
    for method, info in settings(config).items():
        per_cell = ["--source=T --target=S" if info["swap_domains"] else "--source=S --target=T"]
        if info["max_steps_override"] is not None:
            per_cell.append(f"--max_steps={info['max_steps_override']}")
        setup_rows.append(
            [
                METHODS[method].label,
                f"`{info['app']}`",
                f"`{info['flagfile']}`",
                f"`{' '.join(per_cell + info['extra_flags'])}`",
                f"`{info['metric']}`",
            ]
        )
    run_rows = [
        [
            METHODS[e["method"]].label,
            column_label((e["source"], e["target"])),
            str(e["seed"]),
            e["status"] if e["accuracy"] is None else f"{100.0 * e['accuracy']:.2f}",
            "-" if e["steps"] is None else str(e["steps"]),
            "-" if e["wall_seconds"] is None else f"{e['wall_seconds']:.0f}",
            e["host"],
        ]
        for e in entries
    ]
    commands = sorted({e["command"] for e in entries})
    seeds = ",".join(str(s) for s in config.seeds)
    pixelda_scope = (
        "PixelDA is also run beyond MNIST -> MNIST-M, where the paper does not apply it (--every_pair). "
        if config.every_pair
        else "PixelDA is run only for MNIST -> MNIST-M (where the paper applies it); n/a elsewhere. "
    )
    return (
        "# Domain adaptation: lower bound, adapted methods, upper bound\n\n"
        f"Target-test accuracy in %, mean ± std (sample) over seeds {seeds}; (n=k) when fewer seeds "
        "have finished. Each row is one app with its one shipped flagfile, unchanged in every "
        "column (only the domains, seed, output paths and the overrides listed below differ). "
        "Source-only = trained on the source labels only (lower bound); target-only = the same "
        "app trained on the target's training labels and scored on its test split (upper bound), "
        "i.e. the source-only run of the reversed pair. "
        + pixelda_scope
        + "pending = not run yet.\n\n"
        + harness.markdown_table(header, rows)
        + f"\n{CITATIONS}\n\n"
        f"## Gain over source-only (points; target >= {TARGET_GAIN_POINTS:g} in every column)\n\n"
        + harness.markdown_table(header, gain_rows)
        + "\n## Time per run (mean seconds of the whole app process, per cell)\n\n"
        "A run shared by two cells (a source-only run is also the reversed pair's target-only "
        "run) is trained once and its time shown in both.\n\n"
        + harness.markdown_table(header, time_rows)
        + "\n## Configuration\n\n"
        + harness.markdown_table(["method", "app", "flagfile", "per-cell flags", "metric"], setup_rows)
        + "\n<details><summary>Every run (accuracy %, training steps reached, seconds, host)</summary>\n\n"
        "Adversarial runs do not repeat bit for bit across CPU types: compare configs on one host.\n\n"
        + harness.markdown_table(["method", "column", "seed", "accuracy", "steps", "seconds", "host"], run_rows)
        + "\n</details>\n"
        + "\n<details><summary>Every command</summary>\n\n```\n"
        + "\n".join(commands)
        + "\n```\n\n</details>\n"
    )


def plot(config, summary, path):
    """Grouped bars: one group per column, one bar per method, error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    width = 0.8 / max(1, len(config.methods))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.5 * len(config.pairs) + 1.5), 4.8))
    for i, method in enumerate(config.methods):
        cells_ = [summary[pair_name(p)][method] for p in config.pairs]
        heights = [c["mean"] if c.get("mean") is not None else math.nan for c in cells_]
        errors = [c["std"] if c.get("std") is not None else 0.0 for c in cells_]
        xs = [j + (i - (len(config.methods) - 1) / 2) * width for j in range(len(config.pairs))]
        ax.bar(xs, heights, width, yerr=errors, capsize=2, label=METHODS[method].label)
    ax.set_xticks(range(len(config.pairs)))
    ax.set_xticklabels(
        [f"{short_domain_label(s)}\n→ {short_domain_label(t)}" for s, t in config.pairs], fontsize="small"
    )
    ax.set_ylabel("target test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        fontsize="small", ncol=min(3, len(config.methods)), loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_outputs(config, origins):
    """Rewrite <results_name>.{json,md,png} from the records on disk (called after every run)."""
    entries = collect(config, origins)
    summary = summarise(config, entries)
    gain, target = gains(config, summary)
    payload = {
        "methods": config.methods,
        "pairs": [pair_name(p) for p in config.pairs],
        "column_labels": {pair_name(p): column_label(p) for p in config.pairs},
        "seeds": config.seeds,
        "data_dir": config.data_dir,
        "work_dir": str(config.work_dir),
        "settings": settings(config),
        "runs": entries,
        "cells": summary,
        "gain_over_source_only": gain,
        "gain_target": target,
        "published": {pair_name(p): {m: published(p, m) for m in config.methods} for p in config.pairs},
    }
    default_dir, harness.RESULTS_DIR = harness.RESULTS_DIR, config.results_dir  # write_results reads it
    try:
        result = harness.write_results(config.results_name, payload, markdown(config, summary, gain, entries))
    finally:
        harness.RESULTS_DIR = default_dir
    plot(config, summary, config.results_dir / f"{config.results_name}.png")
    return result


def planned_runs(config):
    """Each distinct run once, in cell order: [(key, [cells it serves])]."""
    runs = {}
    for method, pair, seed in cells(config):
        key = run_key(config, method, pair, seed)
        runs.setdefault(run_id(key), (key, []))[1].append((method, pair, seed))
    return list(runs.values())


def is_done(config, key):
    record = load_record(config, key)
    return record is not None and (record["status"] == "ok" or not config.retry_failed)


def print_plan(config):
    """--dry_run: every distinct run's command, the cells it serves, and whether it is done."""
    runs = planned_runs(config)
    for key, served in runs:
        print("# " + "; ".join(f"{m} {pair_name(p)} seed {s}" for m, p, s in served))
        print(("# done: " if is_done(config, key) else "") + command_line(config, key))
    done = sum(is_done(config, key) for key, _ in runs)
    print(f"{len(runs)} runs ({done} done) for {len(cells(config))} cells.")


def run_table(config, dry_run=False, train_missing=True):
    """Train every missing run (each once), rewriting the outputs after each; returns the payload.

    With `train_missing=False` only the outputs are written, from the runs already finished
    (the others show as pending): the table as it stands, without hours of training.
    """
    if dry_run:
        return print_plan(config)
    if not train_missing:
        return write_outputs(config, {})
    todo = [key for key, _ in planned_runs(config) if not is_done(config, key)]
    print(f"{len(todo)} runs to train, {len(cells(config))} cells.", flush=True)
    origins = {}  # run id -> "ran" for runs this invocation trained (the rest are "cached")
    result = write_outputs(config, origins)  # the table as it stands, before hours of training
    for i, key in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {run_id(key)}", flush=True)
        train(config, key)
        origins[run_id(key)] = "ran"
        result = write_outputs(config, origins)
    return result


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    run_table(config_from_flags(), dry_run=FLAGS.dry_run, train_missing=FLAGS.train)


if __name__ == "__main__":
    define_flags()
    app.run(main)
