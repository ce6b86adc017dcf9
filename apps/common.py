"""Flags every app shares and the few steps every app takes the same way."""

import functools
import json
import math
import os
import pathlib
import re
import shutil
import signal
import sys
import threading
import traceback

from absl import app, flags, logging

import apps
from kerasda import distribute, errors, precision, runner, validation
from kerasda.callbacks import UnsupervisedModelSelection, hparams, model_selection
from kerasda.data import augmentation, download, load_domain, paths, registry
from kerasda.evaluation import embeddings, image_quality

FLAGS = flags.FLAGS

CONFIG_DIR = pathlib.Path(__file__).parent / "configs"
USER_ERROR_EXIT_CODE = 2
# What a shell reports for a process killed by the signal (128 + its number): the same status whether
# the signal killed the process or run_app caught it, checkpointed and exited.
INTERRUPT_EXIT_CODES = {signal.SIGINT: 128 + signal.SIGINT, signal.SIGTERM: 128 + signal.SIGTERM}

flags.DEFINE_bool(
    "verbose",
    False,
    "Show TensorFlow's C++ log lines and the traceback of user errors (give it on the command line: "
    "TensorFlow reads its log level before flags are parsed).",
)

# Flag checks run before any work (see `check_flags`); a rule applies to every app that defines the flag.
_AT_LEAST_ONE = (
    "batch_size",
    "max_steps",
    "log_every",
    "eval_every",
    "checkpoint_every",
    "steps_per_execution",
    "source_batch_size",
    "discriminator_units",
    "nz",
    "ngf",
    "ndf",
    "latent_dim",
    "retries",
    "num_images",
    "num_figure_images",
    "attack_max_steps",
    "head_epochs",
)
_AT_LEAST_ZERO = (
    "seed",
    "source_only_steps",
    "source_steps",
    "tsne_examples",
    "pad_examples",
    "eval_samples",
    "num_eval_samples",
    "judge_epochs",
    "classifier_epochs",
    "num_quality_images",
    "heldout_loss_images",
    "epochs",
    "num_examples",
    "num_train",
    "num_test",
    "smoothgrad_samples",
)
_POSITIVE = (
    "learning_rate",
    "source_learning_rate",
    "discriminator_learning_rate",
    "target_encoder_learning_rate",
    "lr_d",
    "lr_g",
    "max_minutes",
    "fine_tune_learning_rate",
    "attack_step_size",
    "vis_learning_rate",
)
_FRACTION = ("momentum", "beta_1", "beta1", "label_smoothing", "validation_fraction")  # in [0, 1)
FLAG_RULES = {
    **{name: (lambda v: v >= 1, "an integer >= 1") for name in _AT_LEAST_ONE},
    **{name: (lambda v: v >= 0, "a number >= 0") for name in _AT_LEAST_ZERO},
    **{name: (lambda v: math.isfinite(v) and v > 0, "a finite number > 0") for name in _POSITIVE},
    **{name: (lambda v: 0 <= v < 1, "a number in [0, 1)") for name in _FRACTION},
    "heldout_fraction": (lambda v: 0 < v < 1, "a number in (0, 1)"),
    "image_size": (lambda v: 8 <= v <= 1024, "an integer in 8..1024"),
    "inversion_probability": (lambda v: 0 <= v <= 1, "a number in [0, 1]"),
}
TSNE_MIN_EXAMPLES, PAD_MIN_EXAMPLES = 5, 4  # the fewest points t-SNE / the proxy A-distance accept


def _flag_values():
    return {name: FLAGS[name].value for name in FLAGS}


def check_flags(values=None):
    """Raise a FlagError for the first flag value, or combination, that cannot work.

    Args:
        values: {flag name: value}; default: the parsed FLAGS. Flags an app
            does not define are not checked.
    """
    values = _flag_values() if values is None else values
    for name, (valid, expected) in FLAG_RULES.items():
        value = values.get(name)
        if value is not None and not valid(value):
            raise errors.FlagError(f"--{name}={value}: expected {expected}.")
    heldout, held_for_validation = values.get("heldout_fraction"), values.get("validation_fraction")
    if heldout is not None and held_for_validation is not None and heldout + held_for_validation >= 1:
        raise errors.FlagError(
            f"--heldout_fraction={heldout} --validation_fraction={held_for_validation}: expected a sum < 1 "
            "(both are fractions of every class, and training needs the rest)."
        )
    tsne, pad = values.get("tsne_examples"), values.get("pad_examples")
    if tsne is not None and pad is not None and (tsne or pad):
        if tsne < TSNE_MIN_EXAMPLES or pad < PAD_MIN_EXAMPLES:
            raise errors.FlagError(
                f"--tsne_examples={tsne} --pad_examples={pad}: expected both 0 (skip the embedding "
                f"comparison) or --tsne_examples >= {TSNE_MIN_EXAMPLES} and --pad_examples >= {PAD_MIN_EXAMPLES}."
            )


def check_paths(values=None, writes_data_dir=False):
    """Raise a UserError for a domain, data folder or output folder that cannot work. Writes nothing.

    Args:
        values: {flag name: value}; default: the parsed FLAGS.
        writes_data_dir: the app fills --data_dir (apps.prepare_data): it must be
            writable rather than exist.
    """
    values = _flag_values() if values is None else values
    for name in ("source", "target", "domain"):
        if values.get(name) is not None:
            registry.check_spec(values[name], f"--{name}")
    if writes_data_dir:
        for name in ("data_dir", "download_dir"):
            if values.get(name):
                validation.check_writable_dir(values[name], f"--{name}")
    elif values.get("data_dir") and not values.get("download"):  # --download creates it
        data_dir = pathlib.Path(values["data_dir"]).expanduser()
        if not data_dir.is_dir():
            what = "is not a folder" if data_dir.exists() else "does not exist"
            raise paths.MissingDataError(f"--data_dir={data_dir} {what}; point it at the dataset root.")
    if values.get("output_dir"):
        validation.check_writable_dir(values["output_dir"], "--output_dir")
    elif "max_steps" in values:  # a training app writes runs/<app>/<time> by default
        validation.check_writable_dir("runs", "--output_dir (default runs/)")
    if values.get("export_dir"):
        validation.check_new_or_empty_dir(
            values["export_dir"],
            "--export_dir",
            "choose a new --export_dir, or leave it unset to write the next version under --export_root",
        )
    elif values.get("export_root"):
        validation.check_writable_dir(values["export_root"], "--export_root")


def one_line(error):
    """The message of `error` as a single line."""
    return " ".join(str(error).split()) or type(error).__name__


class _SignalWatch:
    """Turns SIGTERM into `errors.Terminated` and records which signals reached the process.

    The runner installs its own SIGTERM handler while it trains (it checkpoints
    and raises KeyboardInterrupt, as for Ctrl-C); Python's wakeup fd still
    receives the number of every signal that arrives, whichever handler runs,
    so the exit status can tell Ctrl-C from SIGTERM. Does nothing off the main thread.
    """

    def __init__(self):
        self._read_fd = self._write_fd = None
        self._previous_wakeup_fd = -1
        self._previous_sigterm = None
        self._seen = set()

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        self._previous_sigterm = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            self._read_fd, self._write_fd = os.pipe()
            os.set_blocking(self._read_fd, False)
            os.set_blocking(self._write_fd, False)
            self._previous_wakeup_fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)
        except (OSError, ValueError, AttributeError):  # no wakeup pipe (e.g. Windows): the runner's SIGTERM
            self._close_pipe()  # then reads as Ctrl-C (status 130)
        return self

    def _close_pipe(self):
        for fd in (self._read_fd, self._write_fd):
            if fd is not None:
                os.close(fd)
        self._read_fd = self._write_fd = None

    def _on_sigterm(self, signum, frame):
        del frame
        self._seen.add(signum)
        raise errors.Terminated(f"received signal {signum}")

    def signals(self):
        """The numbers of the signals received so far."""
        if self._read_fd is not None:
            try:
                self._seen.update(os.read(self._read_fd, 1024))
            except BlockingIOError:
                pass
        return self._seen

    def __exit__(self, *exc_info):
        if threading.current_thread() is not threading.main_thread():
            return False
        previous = self._previous_sigterm  # None: a handler not set from Python
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
        if self._read_fd is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            self._close_pipe()
        return False


def _run_in_traceback(tb):
    """The innermost `runner.Run` held by a frame of `tb` (the run the error stopped), or None."""
    found = None
    for frame, _ in traceback.walk_tb(tb):
        for value in list(frame.f_locals.values()):
            if isinstance(value, runner.Run):
                found = value
    return found


BEFORE_TRAINING = "Interrupted before training started; nothing to resume: rerun the same command to start again."


def _saved_by_runner(error):
    """The match of "interrupted at step N" in the runner's KeyboardInterrupt (raised once step N is saved), or None."""
    return re.search(r"interrupted at step (\d+)", str(error))


def interrupted_message(error, run, output_dir_flag, training_app=True):
    """The one line printed for Ctrl-C / SIGTERM.

    Args:
        error: the KeyboardInterrupt; the runner's reads "interrupted at step N"
            once it has saved the checkpoint of step N.
        run: the `runner.Run` the interrupt stopped, or None.
        output_dir_flag: --output_dir as given (None: the run folder is a new
            timestamped one, so resuming needs it named).
        training_app: whether the app trains (has a run folder to resume).
    """
    match = _saved_by_runner(error)
    if run is None:
        if training_app and match is None:
            return BEFORE_TRAINING
        if not training_app:
            return "Interrupted; rerun the same command to start again."
    rerun = "rerun the same command"
    if run is not None and not output_dir_flag:
        rerun += f" with --output_dir={run.output_dir}"
    where = f" in {run.output_dir / 'checkpoints'}" if run is not None else ""
    if match is not None:
        return f"Interrupted at step {match.group(1)}; the checkpoint is saved{where}: {rerun} to resume."
    step = getattr(run, "step", None)
    at = f" at step {step}" if step is not None else ""
    return f"Interrupted{at}, outside the training loop: {rerun} to continue from the last checkpoint{where}."


def _holds_only_setup(folder):
    """True if `folder` holds nothing a run produced: flags.json, empty folders, TensorBoard event files."""
    for path in folder.rglob("*"):
        if path.is_dir():
            continue
        if path.parent == folder and path.name == "flags.json":
            continue
        if path.parent.name == "tensorboard" and "tfevents" in path.name:
            continue
        return False
    return True


def _existing_output_folders(values):
    """Absolute folders that exist before the app runs, among those a run folder could be created in."""
    output_dir = values.get("output_dir")
    if output_dir:
        path = pathlib.Path(output_dir).expanduser().absolute()
        return {p for p in (path, *path.parents) if p.is_dir()}
    runs = pathlib.Path("runs").absolute()
    existing = {runs, *runs.parents} if runs.is_dir() else set(runs.parents)
    if runs.is_dir():
        for app_folder in (p for p in runs.iterdir() if p.is_dir()):
            existing.add(app_folder)
            existing.update(p for p in app_folder.iterdir() if p.is_dir())
    return existing


def remove_unused_run_folder(run, existing_before):
    """Delete the folder of `run` if this process created it and it holds nothing a run produced.

    A bad input found after `runner.Run` set its folder up (data arrays are
    checked as they load) must not leave an empty run folder behind. A folder
    that existed before (a run being resumed) is never touched; nor are its
    checkpoints, history or figures.

    Args:
        run: the `runner.Run`.
        existing_before: the folders that existed before the app ran
            (`_existing_output_folders`).
    """
    folder = pathlib.Path(run.output_dir).expanduser().absolute()
    if not existing_before or folder in existing_before or not folder.is_dir() or not _holds_only_setup(folder):
        return False
    writer = getattr(run, "writer", None)
    if writer is not None:
        writer.close()
    shutil.rmtree(folder, ignore_errors=True)
    for parent in folder.parents:  # e.g. runs/<app>/ when this run created it
        if parent in existing_before or not parent.is_dir() or any(parent.iterdir()):
            break
        parent.rmdir()
    return True


def run_app(main, writes_data_dir=False):
    """`absl.app.run(main)`, with the flag and path checks first, and user errors and interrupts printed cleanly.

    A `kerasda.errors.UserError` (bad flag, file, folder or array) prints
    `error: <message>` as one line on stderr and exits with status 2; a run
    folder the app created before finding the error is removed if it holds
    nothing but its set-up. Ctrl-C and SIGTERM print one line (the step whose
    checkpoint the runner saved, and how to resume) and exit with status 130 and
    143. With --verbose both print their traceback too. Any other exception is
    a bug and keeps its traceback.

    Args:
        main: the app's main(argv).
        writes_data_dir: the app fills --data_dir (see `check_paths`).
    """

    @functools.wraps(main)
    def checked_main(argv):
        if not FLAGS.verbose:
            apps.quiet_python_logs()
        values = _flag_values()
        training_app = "max_steps" in values  # it sets up a runner.Run folder
        existing_before = _existing_output_folders(values)
        with _SignalWatch() as watch:
            try:
                check_flags(values)
                check_paths(values, writes_data_dir=writes_data_dir)
                return main(argv)
            except errors.UserError as error:
                run = _run_in_traceback(error.__traceback__)
                diverged = isinstance(error, getattr(runner, "TrainingDiverged", ()))  # its message names the folder
                if run is not None and not diverged:
                    remove_unused_run_folder(run, existing_before)
                if FLAGS.verbose:
                    raise
                sys.stderr.flush()
                print(f"error: {one_line(error)}", file=sys.stderr, flush=True)
                sys.exit(USER_ERROR_EXIT_CODE)
            except KeyboardInterrupt as error:  # Ctrl-C, SIGTERM (errors.Terminated or the runner's)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut this short
                terminated = isinstance(error, errors.Terminated) or signal.SIGTERM in watch.signals()
                run = _run_in_traceback(error.__traceback__)
                if run is not None and not _saved_by_runner(error) and remove_unused_run_folder(run, existing_before):
                    message = BEFORE_TRAINING  # nothing worth resuming was written; nor is the folder left
                else:
                    message = interrupted_message(error, run, values.get("output_dir"), training_app)
                if FLAGS.verbose:
                    traceback.print_exc()
                sys.stdout.flush()
                sys.stderr.flush()
                print(message, file=sys.stderr, flush=True)
                sys.exit(INTERRUPT_EXIT_CODES[signal.SIGTERM if terminated else signal.SIGINT])

    app.run(checked_main)


def define_common_flags(default_max_steps=1000, default_batch_size=128):
    """Data, output, seeding and loop flags (the run contract of every app)."""
    flags.DEFINE_string("data_dir", None, "Dataset root; default $KERASDA_DATA_DIR, then ~/kerasda_data.")
    flags.DEFINE_string("cache_dir", None, "Processed-data cache; default $KERASDA_CACHE_DIR, ~/.cache/kerasda.")
    flags.DEFINE_bool("tfds_download", False, "Let TFDS download datasets missing from --data_dir.")
    flags.DEFINE_bool(
        "download",
        False,
        "Fetch datasets missing from --data_dir (MNIST, BSDS500 for MNIST-M, SVHN, USPS) from their official "
        "URLs, verified, as `python -m apps.prepare_data` does. Off by default: nothing is downloaded unasked.",
    )
    flags.DEFINE_string(
        "source",
        "mnist",
        "Source domain: mnist, mnist_m (the original release if <data_dir>/mnist_m/ holds it, else "
        "synthesised), mnist_m_original, mnist_m_synth, uci_digits, svhn, usps, folder:<path>, npz:<path>.",
    )
    flags.DEFINE_string("target", "mnist_m", "Target domain, named as --source (its training labels are never used).")
    flags.DEFINE_enum("split", "standard", ["standard", "shared_80_20"], "Train/test split of the domains.")
    flags.DEFINE_integer("image_size", 32, "Images are resized to image_size x image_size x 3.")
    flags.DEFINE_string("output_dir", None, "Run directory; default runs/<app>/<timestamp>. Re-use it to resume.")
    flags.DEFINE_string("export_root", "saved_models", "Root of versioned SavedModel exports.")
    flags.DEFINE_string("export_dir", None, "Explicit export folder (must be new or empty).")
    flags.DEFINE_integer("seed", 0, "Seed for data order, initialisation, noise and MNIST-M synthesis.")
    flags.DEFINE_bool("deterministic", False, "Deterministic TF ops (slower).")
    flags.DEFINE_integer("batch_size", default_batch_size, "Examples per domain per step.")
    flags.DEFINE_integer("max_steps", default_max_steps, "Training steps (stop early for smoke runs).")
    flags.DEFINE_float("max_minutes", None, "Optional wall-clock budget; training stops (checkpointed) when spent.")
    flags.DEFINE_integer("log_every", 100, "Steps between logged scalars.")
    flags.DEFINE_integer("eval_every", 1000, "Steps between evaluations, figures (an 'epoch' of the runner).")
    flags.DEFINE_integer("checkpoint_every", 1000, "Steps between checkpoints.")
    flags.DEFINE_integer("steps_per_execution", 1, "Train steps per tf.function call.")
    flags.DEFINE_bool("xla", False, "jit_compile the train step (was slower on CPU; try it on GPU).")
    flags.DEFINE_enum(
        "precision",
        "float32",
        list(precision.PRECISIONS),
        "float32, or mixed precision (float32 weights): mixed_bfloat16 (CPUs with AVX512_BF16, TPUs, "
        "Ampere+ GPUs) or mixed_float16 (GPUs; with loss scaling).",
    )
    flags.DEFINE_enum(
        "distribution",
        "default",
        list(distribute.DISTRIBUTIONS),
        "default: one device; mirrored: every GPU of this host; multi_worker: the hosts in TF_CONFIG. "
        "--batch_size is the global batch.",
    )


def define_augmentation_flag():
    """`--augmentation` for the apps that train digit classifiers across domains."""
    flags.DEFINE_enum(
        "augmentation",
        "none",
        list(augmentation.AUGMENTATIONS),
        "Random jitter of every training batch, source and target alike: geometric = shift, zoom "
        "and rotation; geometric_resolution = the same, then half the images seen at a random lower "
        "resolution, 0.3-0.8 of their size; geometric_resolution_inversion = the same, then each channel "
        "of each image inverted with probability --inversion_probability (kerasda.data.augmentation).",
    )
    flags.DEFINE_float(
        "inversion_probability",
        0.5,
        "With --augmentation=geometric_resolution_inversion: the chance that each channel of each image "
        "is inverted (all three stay as they are with (1 - p)^3).",
    )


def augmentation_from_flags(seed_offset=0, kind=None):
    """The `--augmentation` function (or None; `kind` overrides the flag's kind), seeded from --seed."""
    return augmentation.build_augmentation(
        kind or FLAGS.augmentation,
        seed=FLAGS.seed + seed_offset,
        inversion_probability=FLAGS.inversion_probability,
    )


def define_selection_flags():
    """`--select_checkpoint` / `--selection_examples`, for apps whose adapted classifier can be
    chosen without target labels (see `selection_from_flags`)."""
    flags.DEFINE_enum(
        "select_checkpoint",
        "final",
        ["final", "information_maximization"],
        "Which model to evaluate and export: the final step's, or the one (of the start of training and "
        "every --eval_every steps) with the best information-maximisation score on unlabelled target "
        "training images (no target label is read).",
    )
    flags.DEFINE_integer(
        "selection_examples", 2000, "Unlabelled target training images scored for --select_checkpoint.", lower_bound=1
    )


def selection_from_flags(run, classifier, target, network):
    """The `UnsupervisedModelSelection` callback `--select_checkpoint` asks for, or None.

    Args:
        run: the app's `runner.Run`.
        classifier: images -> logits, scored on the unlabelled target sample.
        target: the target Domain (only its training images are read).
        network: the part of the model that training changes, kept and restored.
    """
    if FLAGS.select_checkpoint == "final":
        return None
    return UnsupervisedModelSelection(run, classifier, selection_images(target), network)


def selection_images(target):
    """The --selection_examples unlabelled target training images that label-free choices score:
    the same for every seed and resume."""
    return image_quality.random_subset(target.x_train, FLAGS.selection_examples, seed=0)


def label_free_scores(classifiers, target):
    """metrics.json entries that judge adapted classifiers without a target label.

    For each `{prefix: classifier}` (images -> logits), the information-maximisation score and its
    two entropies on the `selection_images` (unlabelled target *training* images), as
    `<prefix>target_train_<name>`: what `benchmarks.config_candidates --judge=label_free` compares.
    """
    images = selection_images(target)
    return {
        f"{prefix}target_train_{name}": value
        for prefix, classifier in classifiers.items()
        for name, value in model_selection.score_predictions(classifier, images).items()
    }


def apply_selection(selection, evaluation):
    """Swap the selected weights in and re-evaluate.

    Returns the metrics.json entries: the final step's results (prefixed `final_step_`),
    `selected_step` and the chosen model's score; {} when `selection` is None.
    """
    if selection is None:
        return {}
    final_results = {f"final_step_{key}": value for key, value in evaluation.results.items()}
    chosen = selection.restore_best()
    logging.info("Selected the model of step %(step)d (%(criterion)s %(score).4f).", chosen)
    evaluation.on_train_end()  # the reported metrics and confusion matrices are the selected model's
    return {**final_results, "selected_step": chosen["step"], f"selected_{chosen['criterion']}": chosen["score"]}


def define_epochs_flag(default):
    """`--epochs` for apps that count passes over their data (see `max_steps_from_epochs`)."""
    flags.DEFINE_float(
        "epochs",
        default,
        "Passes over the training set; 0 uses --max_steps. An explicit --max_steps wins.",
    )


def max_steps_from_epochs(steps_per_epoch):
    """The training length: `--max_steps` if given explicitly (command line or flagfile)
    or if `--epochs` <= 0, else `--epochs` passes of `steps_per_epoch` (rounded up)."""
    if FLAGS["max_steps"].present or FLAGS.epochs <= 0:
        return FLAGS.max_steps
    return max(1, math.ceil(FLAGS.epochs * steps_per_epoch))


def configure_devices():
    """Set --precision's dtype policy and build --distribution's strategy; call first in `main`.

    Build models and optimizers inside the returned strategy's `scope()`.
    """
    precision.set_precision(FLAGS.precision)
    strategy = distribute.build_strategy(FLAGS.distribution)
    try:
        distribute.check_global_batch(FLAGS.batch_size, strategy)
    except ValueError as error:
        raise errors.FlagError(str(error)) from None
    return strategy


def export_location():
    """(--export_root, --export_dir); on a non-chief worker a temporary root, deleted at exit."""
    if distribute.is_chief():
        return FLAGS.export_root, FLAGS.export_dir
    return distribute.worker_dir(FLAGS.export_root), None


def run_config_from_flags(app_name):
    return runner.RunConfig(
        app_name=app_name,
        output_dir=FLAGS.output_dir,
        max_steps=FLAGS.max_steps,
        log_every=FLAGS.log_every,
        eval_every=FLAGS.eval_every,
        checkpoint_every=FLAGS.checkpoint_every,
        steps_per_execution=FLAGS.steps_per_execution,
        jit_compile=FLAGS.xla,
        seed=FLAGS.seed,
        deterministic=FLAGS.deterministic,
        max_seconds=FLAGS.max_minutes * 60 if FLAGS.max_minutes else None,
    )


def load_domain_from_flags(spec):
    """The domain `spec`; with --download, missing public datasets are fetched first."""
    if FLAGS.download:
        download.ensure(spec, FLAGS.data_dir)
    try:
        return load_domain(
            spec,
            data_dir=FLAGS.data_dir,
            image_size=FLAGS.image_size,
            seed=FLAGS.seed,
            split=FLAGS.split,
            download=FLAGS.tfds_download,
            cache_dir=FLAGS.cache_dir,
        )
    except paths.MissingDataError as error:
        needed = download.datasets_for(spec, FLAGS.data_dir)
        if FLAGS.download or not needed:
            raise
        raise paths.MissingDataError(
            f"{error} With internet access, add --download, or run `python -m apps.prepare_data "
            f"--datasets={','.join(needed)}` first."
        ) from error


def check_same_classes(source, target, source_spec, target_spec):
    """Raise a DataError unless both domains have the same number of classes (warn if names differ)."""
    if source.num_classes != target.num_classes:
        raise errors.DataError(
            f"--source={source_spec} has {source.num_classes} classes but --target={target_spec} has "
            f"{target.num_classes}; adaptation needs the same label set (0..K-1 in both)."
        )
    if source.class_names != target.class_names:
        logging.warning(
            "Source classes %s and target classes %s differ in name; class i of one is "
            "taken to be class i of the other.",
            source.class_names,
            target.class_names,
        )


def load_source_and_target():
    """(source Domain, target Domain with its training labels sealed)."""
    source = load_domain_from_flags(FLAGS.source)
    target = load_domain_from_flags(FLAGS.target).unlabeled()
    check_same_classes(source, target, FLAGS.source, FLAGS.target)
    return source, target


def compare_embeddings(run, embedders, eval_sets, source, target, step):
    """t-SNE figure, projector files and proxy A-distances of each embedder's features.

    Returns the metrics.json entries: `proxy_a_distance_<name>` and its details
    ({} when --tsne_examples and --pad_examples are both 0: the comparison is skipped).
    """
    if FLAGS.tsne_examples == 0 and FLAGS.pad_examples == 0:
        logging.info("--tsne_examples=0 --pad_examples=0: embedding comparison skipped.")
        return {}
    distances, tsne = embeddings.compare_embeddings(
        embedders,
        eval_sets["source"],
        eval_sets["target"],
        tsne_examples=FLAGS.tsne_examples,
        pad_examples=FLAGS.pad_examples,
        seed=FLAGS.seed,
        domain_names=(source.name, target.name),
        class_names=source.class_names,
        projector_dir=run.tensorboard_dir / "projector",
    )
    run.save_figure(tsne, "tsne", step=step)
    extra = {}
    for name, distance in distances.items():
        extra[f"proxy_a_distance_{name}"] = distance["proxy_a_distance"]
        extra[f"proxy_a_distance_{name}_details"] = distance
    return extra


def write_flags(run):
    """Record every flag value next to the results, for reproducibility."""
    values = {name: FLAGS[name].value for name in FLAGS if not name.startswith("helpfull")}
    (run.output_dir / "flags.json").write_text(json.dumps(values, indent=2, sort_keys=True, default=str))


def summarise(run, metrics, keys):
    """Log the headline numbers and where the outputs are."""
    for key in keys:
        if key in metrics:
            logging.info("%s = %.4f", key, metrics[key])
            print(f"{key}: {metrics[key]:.4f}")
    hparams.log_hparams(run.writer, hparams.app_flag_values(), metrics)  # TensorBoard's HPARAMS tab
    print(f"outputs: {run.output_dir}")
