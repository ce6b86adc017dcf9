"""Flags every app shares and the few steps every app takes the same way."""

import json
import math
import pathlib

from absl import flags, logging

from kerasda import runner
from kerasda.data import augmentation, load_domain
from kerasda.evaluation import embeddings

FLAGS = flags.FLAGS

CONFIG_DIR = pathlib.Path(__file__).parent / "configs"


def define_common_flags(default_max_steps=1000, default_batch_size=128):
    """Data, output, seeding and loop flags (the run contract of every app)."""
    flags.DEFINE_string("data_dir", None, "Dataset root; default $KERASDA_DATA_DIR, then ~/kerasda_data.")
    flags.DEFINE_string("cache_dir", None, "Processed-data cache; default $KERASDA_CACHE_DIR, ~/.cache/kerasda.")
    flags.DEFINE_bool("tfds_download", False, "Let TFDS download datasets missing from --data_dir.")
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
    return load_domain(
        spec,
        data_dir=FLAGS.data_dir,
        image_size=FLAGS.image_size,
        seed=FLAGS.seed,
        split=FLAGS.split,
        download=FLAGS.tfds_download,
        cache_dir=FLAGS.cache_dir,
    )


def load_source_and_target():
    """(source Domain, target Domain with its training labels sealed)."""
    source = load_domain_from_flags(FLAGS.source)
    target = load_domain_from_flags(FLAGS.target).unlabeled()
    if source.num_classes != target.num_classes:
        raise ValueError(
            f"Source {source.name} has {source.num_classes} classes, target {target.name} "
            f"{target.num_classes}; adaptation needs the same label set."
        )
    return source, target


def compare_embeddings(run, embedders, eval_sets, source, target, step):
    """t-SNE figure, projector files and proxy A-distances of each embedder's features.

    Returns the metrics.json entries: `proxy_a_distance_<name>` and its details.
    """
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
    print(f"outputs: {run.output_dir}")
