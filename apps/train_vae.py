"""EndoVAE: a variational autoencoder for endoscopy images, and anomaly detection with it.

    python -m apps.train_vae --flagfile=apps/configs/endovae_kvasir.cfg
    python -m apps.train_vae --flagfile=apps/configs/endovae_bsds_standin.cfg   # without Kvasir

Trains on the normal classes' train split (or on every class's, with
--train_on=all) and writes metrics.json (PSNR / SSIM on held-out normal and
anomalous images; the anomaly ROC AUC of four scores, the one chosen on the
validation split reported on the held-out split; the real-vs-reconstructed
classifier's accuracy / AUC; the KL and reconstruction diversity that show
whether the latent is used), figures (samples from
N(0, I), anomalous and normal images beside their reconstructions, loss
curves, the ROC curve; also as TensorBoard images, refreshed every
--eval_every steps) and a SavedModel with `encode`, `decode` and
`reconstruct` signatures (images float32 in [0, 1]).
"""

import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf
from absl import flags, logging

from apps import common
from kerasda import distribute, errors, export, runner
from kerasda.callbacks import FigureCallback, RunCallback
from kerasda.data import kvasir, pipeline
from kerasda.evaluation import image_quality, plots, vae_figures
from kerasda.models import builders
from kerasda.networks import vae as vae_networks

FLAGS = flags.FLAGS
common.define_common_flags(default_max_steps=1000, default_batch_size=128)
FLAGS.set_default("image_size", vae_networks.IMAGE_SHAPE[0])
flags.DEFINE_string(
    "dataset", "kvasir", "kvasir (<data_dir>/kvasir/), bsds500_standin, or folder:<path> of class folders."
)
flags.DEFINE_list(
    "normal_classes",
    None,
    "Class folders treated as normal; default: normal-z-line,normal-pylorus,normal-cecum (Kvasir).",
)
flags.DEFINE_list("anomaly_classes", None, "Class folders treated as anomalous; default Kvasir's polyps.")
flags.DEFINE_enum("train_on", "normal", kvasir.TRAIN_ON, "Train on the normal classes only, or on all classes.")
flags.DEFINE_float("heldout_fraction", 0.2, "Fraction of every class held out from training, for evaluation.")
flags.DEFINE_float(
    "validation_fraction",
    0.15,
    "Fraction of every class taken from training as a validation split, on which the anomaly score is "
    "chosen (0: none; the score is then pixel MSE). The held-out (test) split does not depend on it.",
)
flags.DEFINE_bool(
    "mask_scope_guide",
    True,
    "Paint the lower-left ScopeGuide box (rows >= 65%, columns < 36% of the image) black in every image. "
    "The offline Kvasir source blacked it out in 97% of cecum but 55% of polyp images, a class confound.",
)
flags.DEFINE_integer("latent_dim", vae_networks.LATENT_DIM, "Size of the Gaussian latent code.")
flags.DEFINE_float("beta", 1.0, "Weight of the KL term (1: plain VAE).")
flags.DEFINE_integer("kl_warmup_steps", 0, "Ramp the KL weight linearly from 0 to --beta over this many steps.")
flags.DEFINE_float("free_bits", 0.0, "Per-latent-dimension KL (nats, batch mean) left unpenalised.")
flags.DEFINE_enum("reconstruction_loss", "bce", ["bce", "mse"], "Per-image summed reconstruction loss.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
common.define_epochs_flag(0)
flags.DEFINE_integer("num_quality_images", 50, "Random held-out images per kind for PSNR / SSIM.")
flags.DEFINE_integer("classifier_epochs", 10, "Epochs of the real-vs-reconstructed CNN (0 skips it).")
flags.DEFINE_integer("heldout_loss_images", 256, "Held-out normal images for the periodic held-out loss.")
flags.DEFINE_string("export_name", "endovae", "Model name under --export_root.")
flags.DEFINE_bool(
    "untrained_baseline",
    False,
    "Also score anomalies with the network before training (untrained_* in metrics.json): the floor a "
    "trained detector must beat, since the two sources' global image statistics alone separate them.",
)
flags.DEFINE_integer(
    "bare_step_benchmark",
    0,
    "If > 0, time this many bare train steps (one tf.function, one fixed batch, no input pipeline, "
    "no callbacks) before and after training; metrics.json then compares the loop's throughput to it.",
)

NUM_SHOWN = 5  # images beside their reconstructions in each figure
SCORE_NAMES = {
    "mse": "reconstruction MSE",
    "ssim": "1 - SSIM",
    "elbo": "negative ELBO",
    "kl": "KL(q(z|x) || p(z))",
}


class HeldoutLoss(RunCallback):
    """Every evaluation, the VAE's losses on held-out normal images, logged as `heldout/*`,
    and the PSNR of `psnr_images` ({name: uint8 images}) as `heldout/<name>_psnr`, so
    PSNR can be plotted against training time."""

    def __init__(self, run, images, psnr_images=None):
        super().__init__()
        self.run = run
        self.images = images
        self.psnr_images = psnr_images or {}
        self._reconstruct = None  # one tf.function for every evaluation (no retracing)

    def _reconstructions(self, images):
        if self._reconstruct is None:
            spec = tf.TensorSpec([None, *images.shape[1:]], tf.float32)
            self._reconstruct = tf.function(self.model.reconstruct, input_signature=[spec])
        unit = pipeline.to_model_range(images, image_quality.VALUE_RANGE)
        return self._reconstruct(tf.constant(unit)).numpy()

    def on_evaluate(self, step, logs=None):
        scalars = {f"heldout/{key}": value for key, value in image_quality.vae_losses(self.model, self.images).items()}
        for name, images in self.psnr_images.items():
            reconstructions = self._reconstructions(images)
            scalars[f"heldout/{name}_psnr"] = float(np.mean(image_quality.psnr_per_image(images, reconstructions)))
        self.run.log_scalars(scalars, step)
        self.run.append_history({"step": step, **scalars})


def reconstructions_figure(model, images_uint8, title):
    """Top row: the images; bottom row: their reconstructions."""
    images = pipeline.to_model_range(images_uint8, image_quality.VALUE_RANGE)
    reconstructions = model.reconstruct(images).numpy()
    return plots.image_grid_figure(
        np.concatenate([images, reconstructions]),
        2,
        len(images),
        value_range=image_quality.VALUE_RANGE,
        title=title,
        row_titles=["real", "reconstructed"],
        cell_inches=1.2,
    )


def bare_step_throughput(model, batch, steps, jit_compile=False):
    """Images/s of `model.train_step` alone on one fixed batch: the ceiling for the app's loop."""
    step = tf.function(model.train_step, jit_compile=jit_compile)
    step(batch)  # trace (and compile) outside the timing
    start = time.perf_counter()
    for _ in range(steps):
        logs = step(batch)
    float(logs["total_loss"])  # wait for the last step
    return int(batch.shape[0]) * steps / (time.perf_counter() - start)


def load_data():
    """The dataset named by the flags.

    Missing data raises MissingDataError, a UserError: `common.run_app` prints
    it as one `error: ...` line and exits, without a traceback.
    """
    return kvasir.load_vae_dataset(
        FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        normal_classes=FLAGS.normal_classes,
        anomaly_classes=FLAGS.anomaly_classes,
        image_size=FLAGS.image_size,
        heldout_fraction=FLAGS.heldout_fraction,
        validation_fraction=FLAGS.validation_fraction,
        mask_box=kvasir.SCOPE_GUIDE_BOX if FLAGS.mask_scope_guide else None,
        train_on=FLAGS.train_on,
        seed=FLAGS.seed,
        cache_dir=FLAGS.cache_dir,
    )


def main(argv):
    del argv
    strategy = common.configure_devices()  # --precision, --distribution
    data = load_data()
    batch_size = min(FLAGS.batch_size, len(data.x_train))
    config = dataclasses.replace(
        common.run_config_from_flags("vae"),
        max_steps=common.max_steps_from_epochs(len(data.x_train) / batch_size),
    )
    run = runner.Run(config)
    common.write_flags(run)
    logging.info("Data: %s; training for %d steps of %d images.", data.summary(), config.max_steps, batch_size)

    if batch_size % strategy.num_replicas_in_sync:
        raise errors.FlagError(
            f"Only {len(data.x_train)} training images: the batch of {batch_size} does not split over "
            f"{strategy.num_replicas_in_sync} replicas; lower --batch_size to a multiple of them."
        )
    with strategy.scope():
        model = builders.build_vae(
            data.image_shape,
            FLAGS.latent_dim,
            FLAGS.beta,
            FLAGS.reconstruction_loss,
            seed=FLAGS.seed,
            kl_warmup_steps=FLAGS.kl_warmup_steps,
            free_bits=FLAGS.free_bits,
        )
        model.compile(optimizer=keras.optimizers.Adam(FLAGS.learning_rate))
        distribute.synchronize_batch_norm(model, strategy)
    dataset = pipeline.image_dataset(
        data.x_train, batch_size, seed=run.data_seed, value_range=image_quality.VALUE_RANGE
    )

    rng = np.random.default_rng(FLAGS.seed)
    prior_noise = rng.standard_normal((9, FLAGS.latent_dim)).astype(np.float32)
    shown_anomalies = image_quality.random_subset(data.x_anomaly_heldout, NUM_SHOWN, FLAGS.seed)
    shown_normals = image_quality.random_subset(data.x_normal_heldout, NUM_SHOWN, FLAGS.seed)
    anomaly_names = ",".join(data.anomaly_classes)
    psnr_images = {
        kind: image_quality.random_subset(x, FLAGS.num_quality_images, FLAGS.seed)
        for kind, x in (("anomaly", data.x_anomaly_heldout), ("normal", data.x_normal_heldout))
    }
    callbacks = [
        HeldoutLoss(run, data.x_normal_heldout[: FLAGS.heldout_loss_images], psnr_images),
        FigureCallback(
            run,
            "samples",
            lambda: plots.image_grid_figure(
                model.decode(prior_noise).numpy(),
                3,
                3,
                value_range=(0.0, 1.0),
                title="decoded from z ~ N(0, I)",
                cell_inches=1.2,
            ),
        ),
        FigureCallback(
            run,
            "reconstructions_anomaly",
            lambda: reconstructions_figure(model, shown_anomalies, f"held-out {anomaly_names}"),
        ),
        FigureCallback(
            run,
            "reconstructions_normal",
            lambda: reconstructions_figure(model, shown_normals, "held-out normal"),
        ),
        FigureCallback(
            run, "loss_curves", lambda: vae_figures.vae_loss_curves_figure(run.read_history(), "EndoVAE losses")
        ),
    ]

    def evaluate(classifier_epochs):
        """Image quality, anomaly scores and the real-vs-reconstructed CNN of the model as it is now."""
        return image_quality.evaluate_vae(
            model.reconstruct,
            data.x_normal_heldout,
            data.x_anomaly_heldout,
            num_quality_images=FLAGS.num_quality_images,
            classifier_epochs=classifier_epochs,
            seed=FLAGS.seed,
            model=model,
            x_normal_validation=data.x_normal_validation,
            x_anomaly_validation=data.x_anomaly_validation,
        )

    untrained = {}
    if FLAGS.untrained_baseline and run.initial_step == 0:
        baseline, _ = evaluate(classifier_epochs=0)
        untrained = {f"untrained_{key}": value for key, value in baseline.items()}
    bare = []
    if FLAGS.bare_step_benchmark > 0:
        # A separate copy of the network, so the trained model's weights and step count stay put.
        bare_model = builders.build_vae(data.image_shape, FLAGS.latent_dim, FLAGS.beta, FLAGS.reconstruction_loss)
        bare_model.compile(optimizer=keras.optimizers.Adam(FLAGS.learning_rate))
        bare_batch = tf.constant(pipeline.to_model_range(data.x_train[:batch_size], image_quality.VALUE_RANGE))
        bare.append(bare_step_throughput(bare_model, bare_batch, FLAGS.bare_step_benchmark, FLAGS.xla))
    result = run.train(model, dataset, callbacks=callbacks, examples_per_step=batch_size)
    if bare:
        bare.append(bare_step_throughput(bare_model, bare_batch, FLAGS.bare_step_benchmark, FLAGS.xla))
        run.write_metrics(
            {
                "bare_step_examples_per_second": float(np.mean(bare)),
                "bare_step_examples_per_second_before_after": bare,
                "loop_fraction_of_bare_step": result.examples_per_second / float(np.mean(bare)),
            }
        )

    metrics, extras = evaluate(classifier_epochs=FLAGS.classifier_epochs)
    if FLAGS.train_on == "all":
        # The seeds scored their all-images model on polyps it had trained on: report that too.
        seen = image_quality.random_subset(data.x_anomaly_train, FLAGS.num_quality_images, FLAGS.seed)
        seen_quality = image_quality.image_quality(seen, image_quality.reconstruct_images(model.reconstruct, seen))
        metrics.update({f"anomaly_seen_{key}": value for key, value in seen_quality.items()})
    roc = extras["roc"]
    score = extras["score"]
    title = f"Anomaly detection by {SCORE_NAMES[score.lstrip('-')]}" + (
        " (low = anomalous)" if score.startswith("-") else ""
    )
    run.save_figure(
        vae_figures.roc_curve_figure(roc["fpr"], roc["tpr"], roc["roc_auc"], title), "anomaly_roc", result.steps
    )
    heldout = image_quality.vae_losses(model, data.x_normal_heldout)
    metrics.update({f"heldout_normal_{key}": value for key, value in heldout.items()})

    path = export.export_model(model, FLAGS.export_name, *common.export_location())
    metrics = run.write_metrics(
        {
            **untrained,
            **metrics,
            **data.summary(),
            "epochs_trained": result.steps * batch_size / len(data.x_train),
            "batch_size": batch_size,
            "export_path": str(path),
        }
    )
    print(f"anomaly score (chosen on the validation split): {metrics['anomaly_score']}")
    common.summarise(
        run,
        metrics,
        [
            "anomaly_psnr_mean",
            "anomaly_ssim_mean",
            "normal_psnr_mean",
            "normal_ssim_mean",
            "anomaly_roc_auc",
            "heldout_normal_kl_loss",
            "normal_reconstruction_diversity",
            "real_vs_reconstructed_accuracy",
            "real_vs_reconstructed_auc",
            "train_examples_per_second",
        ],
    )


if __name__ == "__main__":
    common.run_app(main)
