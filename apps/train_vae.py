"""EndoVAE: a variational autoencoder for endoscopy images, and anomaly detection with it.

    python -m apps.train_vae --flagfile=apps/configs/endovae_kvasir.cfg
    python -m apps.train_vae --flagfile=apps/configs/endovae_bsds_standin.cfg   # without Kvasir

Trains on the normal classes' train split (or on every class's, with
--train_on=all) and writes metrics.json (PSNR / SSIM on held-out normal and
anomalous images, anomaly ROC AUC of the reconstruction error, the
real-vs-reconstructed classifier's accuracy / AUC), figures (samples from
N(0, I), anomalous and normal images beside their reconstructions, loss
curves, the ROC curve; also as TensorBoard images, refreshed every
--eval_every steps) and a SavedModel with `encode`, `decode` and
`reconstruct` signatures (images float32 in [0, 1]).
"""

import dataclasses

import keras
import numpy as np
from absl import flags, logging

from apps import common
from kerasda import export, runner
from kerasda.callbacks import FigureCallback
from kerasda.data import kvasir, pipeline
from kerasda.evaluation import image_quality, plots
from kerasda.models import vae as vae_lib

FLAGS = flags.FLAGS
common.define_common_flags(default_max_steps=1000, default_batch_size=128)
FLAGS.set_default("image_size", vae_lib.IMAGE_SHAPE[0])
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
flags.DEFINE_integer("latent_dim", vae_lib.LATENT_DIM, "Size of the Gaussian latent code.")
flags.DEFINE_float("beta", 1.0, "Weight of the KL term (1: plain VAE).")
flags.DEFINE_enum("reconstruction_loss", "bce", ["bce", "mse"], "Per-image summed reconstruction loss.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
common.define_epochs_flag(0)
flags.DEFINE_integer("num_quality_images", 50, "Random held-out images per kind for PSNR / SSIM.")
flags.DEFINE_integer("classifier_epochs", 10, "Epochs of the real-vs-reconstructed CNN (0 skips it).")
flags.DEFINE_integer("heldout_loss_images", 256, "Held-out normal images for the periodic held-out loss.")
flags.DEFINE_string("export_name", "endovae", "Model name under --export_root.")

NUM_SHOWN = 5  # images beside their reconstructions in each figure


class HeldoutLoss(keras.callbacks.Callback):
    """Every evaluation, the VAE's losses on held-out normal images, logged as `heldout/*`."""

    def __init__(self, run, images):
        super().__init__()
        self.run = run
        self.images = images

    def on_epoch_end(self, epoch, logs=None):
        step = (epoch + 1) * self.run.config.eval_every
        scalars = {
            f"heldout/{key}": value
            for key, value in image_quality.vae_losses(self.model, self.images).items()
        }
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


def main(argv):
    del argv
    data = kvasir.load_vae_dataset(
        FLAGS.dataset,
        data_dir=FLAGS.data_dir,
        normal_classes=FLAGS.normal_classes,
        anomaly_classes=FLAGS.anomaly_classes,
        image_size=FLAGS.image_size,
        heldout_fraction=FLAGS.heldout_fraction,
        train_on=FLAGS.train_on,
        seed=FLAGS.seed,
        cache_dir=FLAGS.cache_dir,
    )
    batch_size = min(FLAGS.batch_size, len(data.x_train))
    config = dataclasses.replace(
        common.run_config_from_flags("vae"),
        max_steps=common.max_steps_from_epochs(len(data.x_train) / batch_size),
    )
    run = runner.Run(config)
    common.write_flags(run)
    logging.info("Data: %s; training for %d steps of %d images.", data.summary(), config.max_steps, batch_size)

    model = vae_lib.build_vae(
        data.image_shape, FLAGS.latent_dim, FLAGS.beta, FLAGS.reconstruction_loss, seed=FLAGS.seed
    )
    model.compile(optimizer=keras.optimizers.Adam(FLAGS.learning_rate))
    dataset = pipeline.image_dataset(
        data.x_train, batch_size, seed=run.data_seed, value_range=image_quality.VALUE_RANGE
    )

    rng = np.random.default_rng(FLAGS.seed)
    prior_noise = rng.standard_normal((9, FLAGS.latent_dim)).astype(np.float32)
    shown_anomalies = image_quality.random_subset(data.x_anomaly_heldout, NUM_SHOWN, FLAGS.seed)
    shown_normals = image_quality.random_subset(data.x_normal_heldout, NUM_SHOWN, FLAGS.seed)
    anomaly_names = ",".join(data.anomaly_classes)
    callbacks = [
        HeldoutLoss(run, data.x_normal_heldout[: FLAGS.heldout_loss_images]),
        FigureCallback(
            run,
            "samples",
            lambda: plots.image_grid_figure(
                model.decode(prior_noise).numpy(), 3, 3, value_range=(0.0, 1.0),
                title="decoded from z ~ N(0, I)", cell_inches=1.2,
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
            run, "loss_curves", lambda: image_quality.vae_loss_curves_figure(run.read_history(), "EndoVAE losses")
        ),
    ]
    result = run.train(model, dataset, callbacks=callbacks, examples_per_step=batch_size)

    metrics, extras = image_quality.evaluate_vae(
        model.reconstruct,
        data.x_normal_heldout,
        data.x_anomaly_heldout,
        num_quality_images=FLAGS.num_quality_images,
        classifier_epochs=FLAGS.classifier_epochs,
        seed=FLAGS.seed,
    )
    if FLAGS.train_on == "all":
        # The seeds scored their all-images model on polyps it had trained on: report that too.
        seen = image_quality.random_subset(data.x_anomaly_train, FLAGS.num_quality_images, FLAGS.seed)
        seen_quality = image_quality.image_quality(
            seen, image_quality.reconstruct_images(model.reconstruct, seen)
        )
        metrics.update({f"anomaly_seen_{key}": value for key, value in seen_quality.items()})
    roc = extras["roc"]
    run.save_figure(
        image_quality.roc_curve_figure(roc["fpr"], roc["tpr"], roc["roc_auc"]), "anomaly_roc", result.steps
    )
    heldout = image_quality.vae_losses(model, data.x_normal_heldout)
    metrics.update({f"heldout_normal_{key}": value for key, value in heldout.items()})

    path = export.export_signatures(
        FLAGS.export_name,
        model.serving_signatures(),
        [model.encoder, model.decoder],
        FLAGS.export_root,
        FLAGS.export_dir,
    )
    metrics = run.write_metrics(
        {
            **metrics,
            **data.summary(),
            "epochs_trained": result.steps * batch_size / len(data.x_train),
            "batch_size": batch_size,
            "export_path": str(path),
        }
    )
    common.summarise(
        run,
        metrics,
        ["anomaly_psnr_mean", "anomaly_ssim_mean", "normal_psnr_mean", "normal_ssim_mean",
         "anomaly_roc_auc", "real_vs_reconstructed_accuracy"],
    )


if __name__ == "__main__":
    common.run_app(main)
