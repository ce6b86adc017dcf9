"""Flags every app shares and the few steps every app takes the same way."""

import functools
import json
import math
import pathlib
import sys

from absl import app, flags, logging

import apps
from kerasda import distribute, errors, precision, runner, validation
from kerasda.data import augmentation, download, load_domain, paths, registry
from kerasda.callbacks import hparams
from kerasda.evaluation import embeddings

FLAGS = flags.FLAGS

CONFIG_DIR = pathlib.Path(__file__).parent / "configs"
USER_ERROR_EXIT_CODE = 2

flags.DEFINE_bool(
    "verbose", False,
    "Show TensorFlow's C++ log lines and the traceback of user errors (give it on the command line: "
    "TensorFlow reads its log level before flags are parsed).",
)

# Flag checks run before any work (see `check_flags`); a rule applies to every app that defines the flag.
_AT_LEAST_ONE = ("batch_size", "max_steps", "log_every", "eval_every", "checkpoint_every",
                 "steps_per_execution", "source_batch_size", "discriminator_units", "nz", "ngf", "ndf",
                 "latent_dim")
_AT_LEAST_ZERO = ("seed", "source_only_steps", "source_steps", "tsne_examples", "pad_examples",
                  "eval_samples", "num_eval_samples", "judge_epochs", "classifier_epochs",
                  "num_quality_images", "heldout_loss_images", "epochs", "num_examples")
_POSITIVE = ("learning_rate", "source_learning_rate", "discriminator_learning_rate",
             "target_encoder_learning_rate", "lr_d", "lr_g", "max_minutes")
_FRACTION = ("momentum", "beta_1", "beta1", "label_smoothing")  # in [0, 1)
FLAG_RULES = {
    **{name: (lambda v: v >= 1, "an integer >= 1") for name in _AT_LEAST_ONE},
    **{name: (lambda v: v >= 0, "a number >= 0") for name in _AT_LEAST_ZERO},
    **{name: (lambda v: math.isfinite(v) and v > 0, "a finite number > 0") for name in _POSITIVE},
    **{name: (lambda v: 0 <= v < 1, "a number in [0, 1)") for name in _FRACTION},
    "heldout_fraction": (lambda v: 0 < v < 1, "a number in (0, 1)"),
    "image_size": (lambda v: 8 <= v <= 1024, "an integer in 8..1024"),
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
    tsne, pad = values.get("tsne_examples"), values.get("pad_examples")
    if tsne is not None and pad is not None and (tsne or pad):
        if tsne < TSNE_MIN_EXAMPLES or pad < PAD_MIN_EXAMPLES:
            raise errors.FlagError(
                f"--tsne_examples={tsne} --pad_examples={pad}: expected both 0 (skip the embedding "
                f"comparison) or --tsne_examples >= {TSNE_MIN_EXAMPLES} and --pad_examples >= {PAD_MIN_EXAMPLES}."
            )


def check_paths(values=None):
    """Raise a UserError for a domain, data folder or output folder that cannot work. Writes nothing."""
    values = _flag_values() if values is None else values
    for name in ("source", "target", "domain"):
        if values.get(name) is not None:
            registry.check_spec(values[name], f"--{name}")
    if values.get("data_dir") and not values.get("download"):  # --download creates it
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
            values["export_dir"], "--export_dir", "choose a new --export_dir, or leave it unset to write the "
            "next version under --export_root"
        )
    elif values.get("export_root"):
        validation.check_writable_dir(values["export_root"], "--export_root")


def one_line(error):
    """The message of `error` as a single line."""
    return " ".join(str(error).split()) or type(error).__name__


def run_app(main):
    """`absl.app.run(main)`, with the flag and path checks first and user errors printed cleanly.

    A `kerasda.errors.UserError` (bad flag, file, folder or array) prints
    `error: <message>` as one line on stderr and exits with status 2; with
    --verbose it raises with its traceback. Any other exception is a bug and
    keeps its traceback.
    """

    @functools.wraps(main)
    def checked_main(argv):
        if not FLAGS.verbose:
            apps.quiet_python_logs()
        try:
            check_flags()
            check_paths()
            return main(argv)
        except errors.UserError as error:
            if FLAGS.verbose:
                raise
            sys.stderr.flush()
            print(f"error: {one_line(error)}", file=sys.stderr, flush=True)
            sys.exit(USER_ERROR_EXIT_CODE)

    app.run(checked_main)


def define_common_flags(default_max_steps=1000, default_batch_size=128):
    """Data, output, seeding and loop flags (the run contract of every app)."""
    flags.DEFINE_string("data_dir", None, "Dataset root; default $KERASDA_DATA_DIR, then ~/kerasda_data.")
    flags.DEFINE_string("cache_dir", None, "Processed-data cache; default $KERASDA_CACHE_DIR, ~/.cache/kerasda.")
    flags.DEFINE_bool("tfds_download", False, "Let TFDS download datasets missing from --data_dir.")
    flags.DEFINE_bool(
        "download", False,
        "Fetch datasets missing from --data_dir (MNIST, BSDS500 for MNIST-M, SVHN) from their official "
        "URLs, verified, as `python -m apps.prepare_data` does. Off by default: nothing is downloaded unasked.",
    )
    flags.DEFINE_string(
        "source", "mnist",
        "Source domain: mnist, mnist_m (the original release if <data_dir>/mnist_m/ holds it, else "
        "synthesised), mnist_m_original, mnist_m_synth, uci_digits, svhn, folder:<path>, npz:<path>.",
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
        "precision", "float32", list(precision.PRECISIONS),
        "float32, or mixed precision (float32 weights): mixed_bfloat16 (CPUs with AVX512_BF16, TPUs, "
        "Ampere+ GPUs) or mixed_float16 (GPUs; with loss scaling).",
    )
    flags.DEFINE_enum(
        "distribution", "default", list(distribute.DISTRIBUTIONS),
        "default: one device; mirrored: every GPU of this host; multi_worker: the hosts in TF_CONFIG. "
        "--batch_size is the global batch.",
    )


def define_augmentation_flag():
    """`--augmentation` for the apps that train digit classifiers across domains."""
    flags.DEFINE_enum(
        "augmentation", "none", list(augmentation.AUGMENTATIONS),
        "Random jitter of every training batch, source and target alike: geometric = shift, zoom "
        "and rotation (kerasda.data.augmentation).",
    )


def augmentation_from_flags(seed_offset=0):
    """The `--augmentation` function (or None), seeded from --seed."""
    return augmentation.build_augmentation(FLAGS.augmentation, seed=FLAGS.seed + seed_offset)


def define_epochs_flag(default):
    """`--epochs` for apps that count passes over their data (see `max_steps_from_epochs`)."""
    flags.DEFINE_float(
        "epochs", default,
        "Passes over the training set; 0 uses --max_steps. An explicit --max_steps wins.",
    )


def max_steps_from_epochs(steps_per_epoch):
    """The training length: `--max_steps` if given explicitly (command line or flagfile)
    or if `--epochs` <= 0, else `--epochs` passes of `steps_per_epoch` (rounded up)."""
    if FLAGS["max_steps"].present or FLAGS.epochs <= 0:
        return FLAGS.max_steps
    return max(1, math.ceil(FLAGS.epochs * steps_per_epoch))


def configure_devices(supported=True):
    """Set --precision's dtype policy and build --distribution's strategy; call first in `main`.

    Build models and optimizers inside the returned strategy's `scope()`. An app
    not yet adapted passes `supported=False`: anything but the defaults is then a FlagError.
    """
    if not supported and (FLAGS.precision, FLAGS.distribution) != ("float32", "default"):
        raise errors.FlagError(
            f"--precision={FLAGS.precision} --distribution={FLAGS.distribution}: this app supports "
            "only --precision=float32 --distribution=default so far."
        )
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
        logging.warning("Source classes %s and target classes %s differ in name; class i of one is "
                        "taken to be class i of the other.", source.class_names, target.class_names)


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
