"""Every app's training loop against a bare step of the same network, at the same precision.

    nice -n 10 python -m benchmarks.loop_vs_bare --data_dir=../shared/data

The issue: "Every app's loop stays >= 90% of a bare step of the same network at
the same precision." For each method (source only, ADDA, PixelDA, DCGAN, cGAN,
ACGAN, and DANN, whose loop also jitters every batch as its config does), in one process:

"bare": `tf.function(model.train_step)` on one fixed in-memory batch (the first
training images, as tf.constants; no input pipeline, no logging), timed for
`--seconds` after a few warm-up calls, blocking on a returned value each step.
It is timed before and after the loop; their mean is the reference.
"loop": what the app runs: `kerasda.runner.Run.train` over the app's
`kerasda.data.pipeline` dataset of real MNIST / MNIST-M, with the progress bar,
TensorBoard scalars every `log_every` steps and checkpoints as the shipped
config sets them (evaluation and figure callbacks excluded: they are not
training). Its images/s leave out the first, tracing, step (`runner._Clock`).
By default the loop runs one checkpoint interval of the config (so it writes
one checkpoint, at its end); PixelDA runs 300 of its 1,000 steps, so its
checkpoint weighs ~3x what it does in the app.

Each measurement builds a fresh model, as the app builds it from its shipped
flagfile in apps/configs/ and the app's own flag defaults, both parsed by the
app's flags (`harness.app_flags`: network sizes, batch, image size, optimizer,
augmentation, logging and checkpoint intervals: nothing copied here); ADDA is
timed on its adversarial stage 2, which trains for most of the run. Images/s
count what the app counts (`examples_per_step`: source + target for ADDA, the
source batch for PixelDA). Other processes on shared cores move every number:
the load average is recorded, and only rows of one table compare.

Writes benchmarks/results/<output_name>.json and .md.
"""

import dataclasses
import functools
import math
import os
import tempfile
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import harness
from kerasda import precision, runner, schedules
from kerasda.data import augmentation, load_domain, pipeline
from kerasda.models import builders
from kerasda.models.adda import ADDA
from kerasda.models.pixelda import PixelDA
from kerasda.models.pixelda_config import PixelDAConfig
from kerasda.networks import adda as adda_networks
from kerasda.networks.digits import build_digits_classifier

FLAGS = flags.FLAGS
TARGET_RATIO = 0.9  # the floor: loop >= 90% of the bare step
WARMUP_STEPS = 3


@dataclasses.dataclass
class Setup:
    """What one measurement trains: a compiled model, the bare step's batch, the app's dataset."""

    model: keras.Model
    batch: tuple  # one fixed batch of tf.constants, structured as the dataset's elements
    dataset: tf.data.Dataset  # the app's infinite training dataset
    examples_per_step: int  # images per step, as the app counts them


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """How the app runs its loop: batch, logging / evaluation / checkpoint intervals, and the timed length."""

    batch_size: int
    log_every: int
    eval_every: int
    checkpoint_every: int
    loop_steps: int


@dataclasses.dataclass(frozen=True)
class Method:
    """An app, its model builder, its shipped flagfile, and how long the timed loop runs."""

    app: str  # the app module, whose flags parse the flagfile
    build: Callable  # (settings, source, target, batch_size, seed) -> Setup
    config: str  # the flagfile in apps/configs/ it builds from
    loop_steps: int | None = None  # default: one checkpoint interval of the config
    steps_per_epoch_of: int | None = None  # GAN apps: eval / checkpoint once per epoch of this many images

    @property
    def flags(self):
        return _shipped_flags()[self.app, self.config]

    @property
    def settings(self):
        """Every flag value the app runs with under its shipped flagfile."""
        return self.flags.values

    @property
    def image_size(self):
        return self.settings["image_size"]

    def loop_config(self):
        """The flagfile's loop settings, as the app runs them."""
        settings = self.settings
        batch_size = settings["batch_size"]
        intervals = {name: settings[name] for name in ("eval_every", "checkpoint_every")}
        if self.steps_per_epoch_of:  # apps.train_gan: once per epoch unless the flagfile sets them
            for name in intervals.keys() - self.flags.present:
                intervals[name] = self.steps_per_epoch_of // batch_size
        return LoopConfig(
            batch_size,
            settings["log_every"],
            intervals["eval_every"],
            intervals["checkpoint_every"],
            self.loop_steps or intervals["checkpoint_every"],
        )


@functools.cache
def _shipped_flags():
    """{(app, flagfile): harness.AppFlags} of every method, parsed once per process in one child."""
    keys = sorted({(method.app, method.config) for method in METHODS.values()})
    return dict(zip(keys, harness.app_flags(keys)))


def _images(x, n):
    """The first `n` uint8 images as a float32 constant in [-1, 1], the pipelines' range."""
    return tf.constant(pipeline.to_model_range(x[:n]))


def _labels(y, n):
    return tf.constant(np.asarray(y[:n], np.int64))


def _adaptation_batch(source, target, batch_size):
    """((source images, source labels), target images), as `pipeline.adaptation_dataset` yields."""
    return (_images(source.x_train, batch_size), _labels(source.y_train, batch_size)), _images(
        target.x_train, batch_size
    )


# -- the apps' models (see each app's main and its flagfile) ---------------------------------


def build_source_only(settings, source, target, batch_size, seed):
    """apps/train_source_only.py: Adam, cosine-decayed over max_steps (or constant)."""
    del target
    learning_rate = settings["learning_rate"]
    if settings["lr_schedule"] == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, settings["max_steps"])
    model = build_digits_classifier(source.image_shape, source.num_classes)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    model.optimizer.build(model.trainable_variables)  # as the runner does before its first step
    batch = (_images(source.x_train, batch_size), _labels(source.y_train, batch_size))
    dataset = pipeline.labeled_dataset(
        source.x_train, source.y_train, batch_size, seed=seed, augment=_augmentation(settings, seed)
    )
    return Setup(model, batch, dataset, batch_size)


def _augmentation(settings, seed):
    """The app's --augmentation, jittering the loop's batches only."""
    return augmentation.build_augmentation(settings["augmentation"], seed=seed)


def build_dann(settings, source, target, batch_size, seed):
    """apps/train_dann.py: the tower, reversal schedule, target entropy and optimizer of its flagfile."""
    standardization = settings["input_standardization"]
    model = builders.build_digits_dann(
        source.image_shape,
        source.num_classes,
        input_standardization=None if standardization == "none" else standardization,
        padding=settings["padding"],
        batch_norm=settings["batch_norm"],
        use_gradient_reversal=settings["grl"],
        lambda_schedule=settings["lambda_schedule"],
        gamma=settings["gamma"],
        lambda_max=settings["lambda_max"],
        total_steps=settings["max_steps"],
        target_entropy_weight=settings["target_entropy_weight"],
    )
    model.compile(
        optimizer=schedules.build_optimizer(
            settings["optimizer"],
            settings["learning_rate"],
            settings["max_steps"],
            settings["momentum"],
            anneal=settings["anneal_learning_rate"],
        )
    )
    batch = _adaptation_batch(source, target, batch_size)
    dataset = pipeline.adaptation_dataset(source, target, batch_size, seed=seed, augment=_augmentation(settings, seed))
    return Setup(model, batch, dataset, 2 * batch_size)


def build_adda(settings, source, target, batch_size, seed):
    """apps/train_adda.py's stage 2 (most of a run): both players' Adam, the discriminator's width."""
    source_encoder, source_classifier = adda_networks.build_source_networks(
        source.image_shape, source.num_classes, settings["input_standardization"], settings["padding"]
    )
    model = ADDA(
        source_encoder,
        source_classifier,
        discriminator=adda_networks.build_discriminator(
            source_encoder.output.shape[-1], settings["discriminator_units"]
        ),
    )
    model.compile(
        discriminator_optimizer=keras.optimizers.Adam(
            settings["discriminator_learning_rate"], beta_1=settings["beta_1"]
        ),
        target_encoder_optimizer=keras.optimizers.Adam(
            settings["target_encoder_learning_rate"], beta_1=settings["beta_1"]
        ),
    )
    batch = _adaptation_batch(source, target, batch_size)
    dataset = pipeline.adaptation_dataset(source, target, batch_size, seed=seed, augment=_augmentation(settings, seed))
    return Setup(model, batch, dataset, 2 * batch_size)


def build_pixelda(settings, source, target, batch_size, seed):
    """apps/train_pixelda.py: its PixelDAConfig flags (they carry the fields' names)."""
    fields = {f.name for f in dataclasses.fields(PixelDAConfig)} - {"image_shape", "num_classes"}
    hparams = PixelDAConfig(
        image_shape=source.image_shape,
        num_classes=source.num_classes,
        **{name: value for name, value in settings.items() if name in fields},
    )
    model = PixelDA(hparams, seed=seed)
    model.compile()
    batch = _adaptation_batch(source, target, batch_size)
    dataset = pipeline.adaptation_dataset(source, target, batch_size, seed=seed, augment=_augmentation(settings, seed))
    return Setup(model, batch, dataset, batch_size)  # the app counts the source batch only


def _gan_builder(kind):
    def build(settings, source, target, batch_size, seed):
        """apps/train_gan.py on MNIST (its first channel when --grayscale, as the shipped configs)."""
        del target
        x_train = source.x_train[..., :1] if settings["grayscale"] else source.x_train
        model = builders.build_gan(
            kind,
            settings["nz"],
            settings["ngf"],
            settings["ndf"],
            x_train.shape[1:],
            source.num_classes,
            settings["init"],
            settings["condition_discriminator"],
            seed,
        )
        model.compile(
            d_optimizer=keras.optimizers.Adam(settings["lr_d"], beta_1=settings["beta1"]),
            g_optimizer=keras.optimizers.Adam(settings["lr_g"], beta_1=settings["beta1"]),
            generator_loss=settings["generator_loss"],
            label_smoothing=settings["label_smoothing"],
        )
        if kind == "dcgan":
            batch = _images(x_train, batch_size)
            dataset = pipeline.image_dataset(x_train, batch_size, seed=seed)
        else:
            batch = (_images(x_train, batch_size), _labels(source.y_train, batch_size))
            dataset = pipeline.labeled_dataset(x_train, source.y_train, batch_size, seed=seed)
        return Setup(model, batch, dataset, batch_size)

    build.__name__ = f"build_{kind}"
    return build


MNIST_TRAIN_IMAGES = 60_000

METHODS = {
    "source_only": Method("apps.train_source_only", build_source_only, "source_only_mnist_to_mnistm.cfg"),
    "dann": Method("apps.train_dann", build_dann, "dann_mnist_to_mnistm.cfg"),
    "adda": Method("apps.train_adda", build_adda, "adda_digits.cfg"),
    # ~1.5-2 steps/s on 2 idle cores: 300 steps of its 1,000-step checkpoint interval
    "pixelda": Method("apps.train_pixelda", build_pixelda, "pixelda_mnist_to_mnistm_cpu.cfg", loop_steps=300),
    **{
        kind: Method("apps.train_gan", _gan_builder(kind), f"{kind}_mnist.cfg", steps_per_epoch_of=MNIST_TRAIN_IMAGES)
        for kind in builders.GAN_MODELS
    },
}


# -- the measurements ------------------------------------------------------------------------


def _block(logs):
    """Wait for the step: read one value of the logs dict it returned."""
    return float(next(iter(logs.values())))


def time_bare(method, source, target, seconds, batch_size=None, seed=0):
    """Images/s of `tf.function(model.train_step)` on one fixed batch, on a fresh model."""
    spec = METHODS[method]
    runner.seed_everything(seed)
    setup = spec.build(spec.settings, source, target, batch_size or spec.loop_config().batch_size, seed)
    step = tf.function(setup.model.train_step)
    for _ in range(WARMUP_STEPS):  # trace, then settle
        _block(step(setup.batch))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        _block(step(setup.batch))
        steps += 1
    elapsed = time.perf_counter() - start
    return {
        "steps": steps,
        "seconds": elapsed,
        "steps_per_second": steps / elapsed,
        "images_per_second": setup.examples_per_step * steps / elapsed,
    }


def time_loop(method, source, target, loop_steps=None, batch_size=None, seed=0):
    """Images/s of the app's `runner.Run.train` over its dataset, on a fresh model, in a temporary folder."""
    spec = METHODS[method]
    config = spec.loop_config()
    with tempfile.TemporaryDirectory() as tmp:
        run = runner.Run(  # seeds everything, as in the app, before the model is built
            runner.RunConfig(
                f"loop_vs_bare_{method}",
                output_dir=tmp,
                max_steps=loop_steps or config.loop_steps,
                log_every=config.log_every,
                eval_every=config.eval_every,
                checkpoint_every=config.checkpoint_every,
                seed=seed,
            )
        )
        setup = spec.build(spec.settings, source, target, batch_size or config.batch_size, run.data_seed)
        result = run.train(setup.model, setup.dataset, callbacks=(), examples_per_step=setup.examples_per_step)
        run.writer.close()
    return {
        "steps": result.steps,
        "wall_seconds": result.wall_seconds,
        "images_per_second": result.examples_per_second,
        "examples_per_step": setup.examples_per_step,
    }


def measure(method, source, target, seconds, loop_steps=None, batch_size=None):
    """Bare before, the loop, bare after; `loop_over_bare` = loop / mean(bare)."""
    before = time_bare(method, source, target, seconds, batch_size)
    loop = time_loop(method, source, target, loop_steps, batch_size)
    after = time_bare(method, source, target, seconds, batch_size)
    bare = (before["images_per_second"] + after["images_per_second"]) / 2
    return {
        "config": METHODS[method].config,
        "batch_size": batch_size or METHODS[method].loop_config().batch_size,
        "image_size": METHODS[method].image_size,
        "bare_before": before,
        "loop": loop,
        "bare_after": after,
        "bare_mean_images_per_second": bare,
        "loop_over_bare": loop["images_per_second"] / bare if bare > 0 else float("nan"),
    }


def load_domains(data_dir, image_size):
    """(MNIST, MNIST-M with its training labels sealed) at `image_size`, as the apps load them."""
    source = load_domain("mnist", data_dir=data_dir, image_size=image_size)
    target = load_domain("mnist_m", data_dir=data_dir, image_size=image_size).unlabeled()
    return source, target


def markdown(results, load_before, load_after):
    rows = []
    for method, r in results.items():
        ratio = r["loop_over_bare"]
        rows.append(
            [
                method,
                f"`{r['config']}`",
                f"{r['batch_size']} @ {r['image_size']}x{r['image_size']}",
                r["loop"]["examples_per_step"],
                f"{r['bare_before']['images_per_second']:.0f}",
                f"{r['bare_after']['images_per_second']:.0f}",
                f"{r['loop']['images_per_second']:.0f} ({r['loop']['steps']} steps)",
                f"{ratio:.0%}" if math.isfinite(ratio) else "n/a",
                "yes" if ratio >= TARGET_RATIO else "**no**",
            ]
        )
    return (
        f"# Each app's loop vs a bare step of the same network ({FLAGS.precision})\n\n"
        f"The issue asks every app's loop to stay >= {TARGET_RATIO:.0%} of a bare `tf.function(train_step)` "
        "of the same network at the same precision (bare: mean of before and after the loop). "
        f"Load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
        "other processes share the cores, so compare rows of one table only. "
        f"Bare steps timed {FLAGS.seconds:g} s each; images/s count what the app counts.\n\n"
        + harness.markdown_table(
            [
                "method",
                "config",
                "batch",
                "images/step",
                "bare before (images/s)",
                "bare after (images/s)",
                "loop (images/s)",
                "loop / bare",
                f">= {TARGET_RATIO:.0%}",
            ],
            rows,
        )
    )


def define_flags():
    """Defined only when run as a script, so that importing this module (tests) registers no absl
    flags that clash with an app's (both have --data_dir, --precision...)."""
    flags.DEFINE_string("data_dir", None, "Data root with mnist/ and mnist_m/ (or bsds500/ for the synthesis).")
    flags.DEFINE_list("methods", list(METHODS), f"Methods to time, of {', '.join(METHODS)}.")
    flags.DEFINE_float("seconds", 20.0, "Timed seconds of each bare measurement (two per method).")
    flags.DEFINE_integer(
        "loop_steps",
        None,
        "Steps of each runner loop (the first is excluded as tracing); default per method: one checkpoint "
        "interval of its flagfile (the GANs': one epoch), pixelda 300.",
    )
    flags.DEFINE_enum(
        "precision", "float32", list(precision.PRECISIONS), "Dtype policy of every model, as --precision."
    )
    flags.DEFINE_string("output_name", "loop_vs_bare", "Results file name under benchmarks/results/.")


def main(argv):
    del argv
    unknown = [m for m in FLAGS.methods if m not in METHODS]
    if unknown:
        raise app.UsageError(f"--methods: unknown {unknown}; expected some of {list(METHODS)}.")
    precision.set_precision(FLAGS.precision)  # before any model is built
    load_before = os.getloadavg()
    domains, results = {}, {}
    for method in FLAGS.methods:
        size = METHODS[method].image_size
        if size not in domains:
            domains[size] = load_domains(FLAGS.data_dir, size)
        source, target = domains[size]
        results[method] = measure(method, source, target, FLAGS.seconds, FLAGS.loop_steps)
        print(f"{method}: loop / bare = {results[method]['loop_over_bare']:.1%}", flush=True)
    load_after = os.getloadavg()
    harness.write_results(
        FLAGS.output_name,
        {
            "precision": FLAGS.precision,
            "seconds": FLAGS.seconds,
            "target_ratio": TARGET_RATIO,
            "load_average_before": load_before,
            "load_average_after": load_after,
            "results": results,
        },
        markdown(results, load_before, load_after),
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
