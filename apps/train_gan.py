"""DCGAN, conditional DCGAN (cGAN) and ACGAN on 32x32 MNIST in [-1, 1].

    python -m apps.train_gan --model=dcgan --flagfile=apps/configs/dcgan_mnist.cfg
    python -m apps.train_gan --model=cgan --flagfile=apps/configs/cgan_mnist.cfg
    python -m apps.train_gan --model=acgan --flagfile=apps/configs/acgan_mnist.cfg
    # the seeds' experiments: --ndf=16/64, --init=keras_default, --nocondition_discriminator

Trains on the training split of `--source` (MNIST by default; its first channel
when `--grayscale`), refreshes figures every epoch, then scores 10,000 samples
with a digits classifier trained on real MNIST (cached) and exports the
generator with a `generate(noise[, labels])` signature.
"""

import dataclasses
import math

import keras
import numpy as np
from absl import flags

from apps import common
from kerasda import distribute, export, runner
from kerasda.callbacks import FigureCallback, SampleQualityEvaluation
from kerasda.data import pipeline
from kerasda.evaluation import digits_judge, gan_figures, plots, sampling
from kerasda.models import builders
from kerasda.networks import gan as gan_networks

FLAGS = flags.FLAGS
common.define_common_flags(default_max_steps=1000, default_batch_size=128)
flags.DEFINE_enum("model", "dcgan", builders.GAN_MODELS, "Which GAN to train.")
flags.DEFINE_integer("nz", 100, "Size of the latent vector z.")
flags.DEFINE_integer("ngf", 64, "Generator width (its last hidden layer; earlier ones 2x, 4x).")
flags.DEFINE_integer("ndf", 64, "Discriminator width (its first layer; later ones 2x, 4x).")
flags.DEFINE_float("lr_d", 2e-4, "Adam learning rate of the discriminator.")
flags.DEFINE_float("lr_g", 2e-4, "Adam learning rate of the generator.")
flags.DEFINE_float("beta1", 0.5, "Adam beta_1 of both players.")
common.define_epochs_flag(5.0)
flags.DEFINE_enum("init", "normal_002", gan_networks.INITS, "Weight init: N(0, 0.02) or Keras defaults.")
flags.DEFINE_enum("generator_loss", "non_saturating", ["non_saturating", "minimax"], "G's adversarial loss.")
flags.DEFINE_float("label_smoothing", 0.0, "One-sided smoothing of D's real targets.")
flags.DEFINE_bool("condition_discriminator", True, "cGAN: D sees the label; false = the cD(x) ablation.")
flags.DEFINE_bool("grayscale", True, "Model one channel (MNIST is grey); false for colour domains.")
flags.DEFINE_integer("num_eval_samples", 10000, "Samples scored by the judge classifier at the end.")
flags.DEFINE_integer("eval_samples", 1000, "Samples scored every epoch (eval/* scalars); 0 = off.")
flags.DEFINE_integer("judge_epochs", 2, "Epochs of the cached MNIST judge classifier.")
flags.DEFINE_string("judge_weights", None, "A digits-classifier .weights.h5 to judge with instead.")

FIGURE_SEED = 1234  # the same z in every figure of every run, so runs compare side by side


def _run_config(steps_per_epoch):
    """Epochs become steps; figures and checkpoints default to once per epoch."""
    config = common.run_config_from_flags(f"gan_{FLAGS.model}")
    changes = {"max_steps": common.max_steps_from_epochs(steps_per_epoch)}
    for name in ("eval_every", "checkpoint_every"):
        if not FLAGS[name].present:
            changes[name] = steps_per_epoch
    return dataclasses.replace(config, **changes)


def _figure_callbacks(run, model, num_classes):
    """Fixed-noise grid, loss and D-score curves, interpolation; class grids if conditional."""
    rng = np.random.default_rng(FIGURE_SEED)
    nz = model.latent_dim
    conditional = FLAGS.model != "dcgan"
    grid_noise = rng.standard_normal((64, nz)).astype(np.float32)
    grid_labels = (np.arange(64) % num_classes).astype(np.int32) if conditional else None
    path_start, path_end = rng.standard_normal((2, 6, nz)).astype(np.float32)
    path_labels = np.arange(6) % num_classes if conditional else None
    losses = [metric.name for metric in model.metrics if metric.name.endswith("loss")]
    callbacks = [
        FigureCallback(run, "samples", lambda: gan_figures.sample_grid_figure(model.generate, grid_noise, grid_labels)),
        FigureCallback(run, "losses", lambda: plots.curves_figure(run.read_history(), losses, "losses")),
        FigureCallback(
            run,
            "discriminator_scores",
            lambda: plots.curves_figure(run.read_history(), ["d_real", "d_fake"], "mean D(x) and D(G(z))"),
        ),
        FigureCallback(
            run,
            "interpolation",
            lambda: gan_figures.interpolation_figure(model.generate, path_start, path_end, 10, path_labels),
        ),
    ]
    if conditional:
        column_noise = grid_noise[:10]
        callbacks.append(
            FigureCallback(
                run,
                "class_noise_grid",
                lambda: gan_figures.class_noise_grid_figure(model.generate, column_noise, num_classes),
            )
        )
    if FLAGS.model == "acgan":
        labels = np.arange(10) % num_classes
        others = (labels + 1 + rng.integers(0, num_classes - 1, len(labels))) % num_classes
        callbacks.append(
            FigureCallback(
                run,
                "class_swap_pairs",
                lambda: gan_figures.class_swap_pairs_figure(model.generate, grid_noise[10:20], labels, others),
            )
        )
    return callbacks


def main(argv):
    del argv
    strategy = common.configure_devices()  # --precision, --distribution
    domain = common.load_domain_from_flags(FLAGS.source)
    x_train = domain.x_train[..., :1] if FLAGS.grayscale else domain.x_train
    steps_per_epoch = len(x_train) // FLAGS.batch_size
    run = runner.Run(_run_config(steps_per_epoch))
    common.write_flags(run)

    with strategy.scope():
        model = builders.build_gan(
            FLAGS.model,
            FLAGS.nz,
            FLAGS.ngf,
            FLAGS.ndf,
            x_train.shape[1:],
            domain.num_classes,
            FLAGS.init,
            FLAGS.condition_discriminator,
            FLAGS.seed,
        )
        model.compile(
            d_optimizer=keras.optimizers.Adam(FLAGS.lr_d, beta_1=FLAGS.beta1),
            g_optimizer=keras.optimizers.Adam(FLAGS.lr_g, beta_1=FLAGS.beta1),
            generator_loss=FLAGS.generator_loss,
            label_smoothing=FLAGS.label_smoothing,
        )
        distribute.synchronize_batch_norm(model, strategy)
    conditional = FLAGS.model != "dcgan"
    num_classes = domain.num_classes if conditional else None
    if conditional:
        dataset = pipeline.labeled_dataset(x_train, domain.y_train, FLAGS.batch_size, seed=run.data_seed)
    else:
        dataset = pipeline.image_dataset(x_train, FLAGS.batch_size, seed=run.data_seed)
    classifier, judge_info = digits_judge.load_or_train_digits_classifier(
        FLAGS.data_dir, FLAGS.cache_dir, epochs=FLAGS.judge_epochs, weights_path=FLAGS.judge_weights
    )
    judge = digits_judge.DigitsJudge(classifier, domain.x_test)
    callbacks = _figure_callbacks(run, model, domain.num_classes)
    if FLAGS.eval_samples:
        callbacks.append(
            SampleQualityEvaluation(
                run, judge, model.generate, model.latent_dim, num_classes, FLAGS.eval_samples, FLAGS.seed
            )
        )
    result = run.train(model, dataset, callbacks=callbacks, examples_per_step=FLAGS.batch_size)

    scores = sampling.evaluate_generator(
        model.generate, judge, model.latent_dim, num_classes, FLAGS.num_eval_samples, seed=FLAGS.seed
    )
    path = export.export_model(model, f"{FLAGS.model}_generator", *common.export_location())
    metrics = {
        **scores,
        "model": FLAGS.model,
        "judge_test_accuracy": judge_info["test_accuracy"],
        "steps_per_epoch": steps_per_epoch,
        "epochs_trained": result.steps / steps_per_epoch,
        "export_path": str(path),
    }
    if math.isfinite(result.examples_per_second):  # NaN when this call trained no steps (resumed done)
        metrics["seconds_per_epoch"] = len(x_train) / result.examples_per_second
    metrics = run.write_metrics(metrics)
    common.summarise(
        run,
        {k: v for k, v in metrics.items() if isinstance(v, (int, float))},
        ["label_accuracy", "frechet_distance", "max_min_ratio", "normalized_entropy", "seconds_per_epoch"],
    )


if __name__ == "__main__":
    common.run_app(main)
