"""How well a VAE reconstructs images, and what that says about anomalies.

- PSNR and SSIM (mean, std) between images and their reconstructions, with
  `skimage.metrics` on [0, 1] floats. SSIM uses the settings of Wang et al. (2004):
  Gaussian 11x11 window, sigma 1.5, population covariance, averaged over RGB.
- Anomaly detection: a VAE trained on normal images reconstructs anomalies
  worse, so the per-image reconstruction error is an anomaly score; its ROC AUC
  over held-out normal vs anomalous images measures how well that works. Four
  scores are compared (pixel MSE, 1 - SSIM, the negative ELBO and the KL term),
  each either way round; the one with the best AUC on a validation split is
  reported on the test split.
- The real-vs-reconstructed experiment: a small CNN learns to tell real images
  from their reconstructions; accuracy near 0.5 on a held-out split means the
  reconstructions are hard to tell apart from real images. Its decision
  threshold is fitted on its training pairs, so accuracy and AUC agree.
"""

import keras
import numpy as np
import tensorflow as tf
from skimage import metrics as sk_image_metrics
from sklearn import metrics as sk_metrics
from sklearn import model_selection

from kerasda.data import pipeline
from kerasda.evaluation import inference

VALUE_RANGE = (0.0, 1.0)  # the VAE's input and output range


def _as_unit_float(images):
    """uint8 -> [0, 1] float32; float images are taken to be in [0, 1] already."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return pipeline.to_model_range(images, VALUE_RANGE)
    return images.astype(np.float32)


def _check_pairs(images, reconstructions):
    images, reconstructions = _as_unit_float(images), _as_unit_float(reconstructions)
    if images.shape != reconstructions.shape or images.ndim != 4:
        raise ValueError(
            f"Expected images and reconstructions of the same shape [N, H, W, C], got "
            f"{images.shape} and {reconstructions.shape}."
        )
    return images, reconstructions


def reconstruct_images(reconstruct_fn, x, batch_size=128):
    """Reconstructions ([0, 1] float32) of uint8 or [0, 1] images, batched (`inference.predict`).

    `reconstruct_fn` maps a float32 batch in [0, 1] to its reconstruction, e.g.
    `vae.reconstruct` or an exported signature.
    """
    x = _as_unit_float(x)
    if not len(x):
        return np.zeros(x.shape, np.float32)
    return np.asarray(inference.predict(reconstruct_fn, x, batch_size), np.float32)


def psnr_per_image(images, reconstructions):
    """Peak signal-to-noise ratio in dB of each pair (data range 1); inf for identical images."""
    images, reconstructions = _check_pairs(images, reconstructions)
    with np.errstate(divide="ignore"):  # identical images: mse 0, PSNR inf
        return np.array(
            [
                sk_image_metrics.peak_signal_noise_ratio(
                    image.astype(np.float64), reconstruction.astype(np.float64), data_range=1.0
                )
                for image, reconstruction in zip(images, reconstructions)
            ]
        )


def ssim_per_image(images, reconstructions):
    """Structural similarity of each pair (Wang et al. 2004 settings, mean over channels)."""
    images, reconstructions = _check_pairs(images, reconstructions)
    return np.array(
        [
            sk_image_metrics.structural_similarity(
                image,
                reconstruction,
                data_range=1.0,
                channel_axis=-1,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for image, reconstruction in zip(images, reconstructions)
        ]
    )


def image_quality(images, reconstructions):
    """{"psnr_mean", "psnr_std", "ssim_mean", "ssim_std", "num_images"} over the pairs."""
    psnr = psnr_per_image(images, reconstructions)
    ssim = ssim_per_image(images, reconstructions)
    return {
        "psnr_mean": float(np.mean(psnr)),
        "psnr_std": float(np.std(psnr)),
        "ssim_mean": float(np.mean(ssim)),
        "ssim_std": float(np.std(ssim)),
        "num_images": int(len(psnr)),
    }


def reconstruction_errors(images, reconstructions):
    """Per-image mean squared error: the anomaly score."""
    images, reconstructions = _check_pairs(images, reconstructions)
    return np.mean(np.square(images - reconstructions), axis=(1, 2, 3))


def reconstruction_diversity(images, reconstructions):
    """How much reconstructions differ between images, relative to the images themselves.

    The per-pixel standard deviation across images, averaged over pixels, of
    the reconstructions divided by that of the images. A posterior-collapsed
    VAE decodes every image to the same mean image: diversity ~0. A perfect
    autoencoder gives 1; a blurry one that still uses its latent, in between.
    """
    images, reconstructions = _check_pairs(images, reconstructions)
    spread = np.mean(np.std(images, axis=0))
    return float(np.mean(np.std(reconstructions, axis=0)) / max(spread, 1e-12))


ANOMALY_SCORES = ("mse", "ssim", "elbo", "kl")  # "elbo" and "kl" need the model


def anomaly_scores(images, reconstructions, model_scores=None):
    """Per-image anomaly scores, higher = more anomalous: {name: [N]}.

    `mse` (pixel mean squared error), `ssim` (1 - SSIM, structure rather than
    brightness), plus whatever `model_scores` holds (e.g. `VAE.per_image_scores`'
    `elbo` and `kl`, batched by `model_anomaly_scores`).
    """
    scores = {
        "mse": reconstruction_errors(images, reconstructions),
        "ssim": 1.0 - ssim_per_image(images, reconstructions),
    }
    for name, values in (model_scores or {}).items():
        scores[name] = np.asarray(values, np.float64)
    return scores


def model_anomaly_scores(vae, x, batch_size=128):
    """`vae.per_image_scores` over uint8 / [0, 1] images, batched: {"elbo", "kl"} -> [N]."""
    x = _as_unit_float(x)
    if not len(x):
        return {"elbo": np.zeros(0), "kl": np.zeros(0)}
    scores = inference.predict(vae.per_image_scores, x, batch_size)
    return {name: np.asarray(scores[name]) for name in ("elbo", "kl")}


def with_reversed(scores):
    """`scores` plus each score negated as "-<name>" (low = anomalous).

    Which way a score points is not given in advance: out-of-distribution
    images can get a *smaller* KL or ELBO than the training distribution
    (Nalisnick et al., 2019), so the direction is chosen on validation too.
    """
    return {**scores, **{f"-{name}": -np.asarray(values) for name, values in scores.items()}}


def select_anomaly_score(normal_scores, anomaly_scores_):
    """The score with the highest ROC AUC on a validation split -> (name, {name: auc}).

    Ties go to the first name in `normal_scores`' order, so the choice is
    deterministic; the test split is never looked at.
    """
    aucs = {name: anomaly_roc(normal_scores[name], anomaly_scores_[name])["roc_auc"] for name in normal_scores}
    return max(aucs, key=lambda name: aucs[name]), aucs


def anomaly_roc(normal_scores, anomaly_scores):
    """ROC of scores where higher means more anomalous (anomaly is the positive class).

    Returns:
        {"roc_auc", "fpr", "tpr", "num_normal", "num_anomaly"}; fpr / tpr are
        numpy arrays for `vae_figures.roc_curve_figure`.
    """
    normal_scores, anomaly_scores = np.ravel(normal_scores), np.ravel(anomaly_scores)
    if not len(normal_scores) or not len(anomaly_scores):
        raise ValueError(f"Need normal and anomaly scores, got {len(normal_scores)} and {len(anomaly_scores)}.")
    labels = np.concatenate([np.zeros(len(normal_scores)), np.ones(len(anomaly_scores))])
    scores = np.concatenate([normal_scores, anomaly_scores])
    fpr, tpr, _ = sk_metrics.roc_curve(labels, scores)
    return {
        "roc_auc": float(sk_metrics.roc_auc_score(labels, scores)),
        "fpr": fpr,
        "tpr": tpr,
        "num_normal": int(len(normal_scores)),
        "num_anomaly": int(len(anomaly_scores)),
    }


# ---------------------------------------------------------------------------
# Real vs reconstructed.


def build_real_vs_reconstructed_classifier(image_shape=(96, 96, 3), seed=None, name="real_vs_reconstructed"):
    """A small CNN: images in [0, 1] -> one logit (real = 1, reconstructed = 0).

    Three stride-2 3x3 convolutions (16, 32, 64, ReLU), global average pooling
    and a linear unit; `seed` fixes the initial weights without touching global
    random state.
    """

    def init(i):
        return keras.initializers.GlorotUniform(seed=None if seed is None else seed + i)

    inputs = keras.Input(shape=image_shape, name="images")
    x = inputs
    for i, filters in enumerate((16, 32, 64), start=1):
        x = keras.layers.Conv2D(
            filters,
            3,
            strides=2,
            padding="same",
            activation="relu",
            kernel_initializer=init(i),
            name=f"conv{i}",
        )(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    logits = keras.layers.Dense(1, kernel_initializer=init(0), name="logit")(x)
    return keras.Model(inputs, logits, name=name)


def fit_threshold(scores, labels):
    """The threshold t maximising the accuracy of `scores > t` on (scores, labels in {0, 1}).

    Midway between neighbouring distinct scores, so a score exactly on the
    training boundary is not decided by rounding; ties in accuracy go to the
    threshold nearest 0 (the logit's natural boundary).
    """
    scores, labels = np.ravel(scores).astype(np.float64), np.ravel(labels) > 0.5
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1.0], (values[:-1] + values[1:]) / 2, [values[-1] + 1.0]])
    accuracy = np.array([np.mean((scores > t) == labels) for t in candidates])
    best = np.flatnonzero(accuracy == accuracy.max())
    return float(candidates[best[np.argmin(np.abs(candidates[best]))]])


def real_vs_reconstructed(real, reconstructed, test_fraction=0.3, epochs=10, batch_size=32, learning_rate=1e-3, seed=0):
    """Train a small CNN to tell real from reconstructed images; score it on a held-out split.

    The split is by *pair*: an image and its own reconstruction always land on
    the same side, so the classifier cannot succeed by remembering an image.

    Accuracy uses a decision threshold fitted on the training pairs (the logit
    that best separates them), not a fixed logit of 0: an under-trained CNN
    can rank every test pair right (AUC 1) while all its logits sit on one
    side of 0 (accuracy 0.5 at threshold 0).

    Returns:
        {"accuracy", "auc", "threshold", "num_train", "num_test", "epochs"} on
        the held-out split.
    """
    real, reconstructed = _check_pairs(real, reconstructed)
    num_pairs = len(real)
    if num_pairs < 4:
        raise ValueError(f"Need at least 4 image pairs, got {num_pairs}.")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}.")
    num_test = min(max(int(round(num_pairs * test_fraction)), 1), num_pairs - 1)
    train_pairs, test_pairs = model_selection.train_test_split(
        np.arange(num_pairs), test_size=num_test, random_state=seed
    )
    splits = {"test": test_pairs, "train": train_pairs}

    def examples(indices):
        x = np.concatenate([real[indices], reconstructed[indices]])
        y = np.concatenate([np.ones(len(indices)), np.zeros(len(indices))]).astype(np.float32)
        return x, y

    x_train, y_train = examples(splits["train"])
    x_test, y_test = examples(splits["test"])
    classifier = build_real_vs_reconstructed_classifier(real.shape[1:], seed=seed)
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    train = (
        tf.data.Dataset.from_tensor_slices((x_train, y_train))
        .shuffle(len(y_train), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
    )
    classifier.fit(train, epochs=epochs, shuffle=False, verbose=0)  # shuffled above
    train_logits = classifier.predict(x_train, batch_size=256, verbose=0)[:, 0]
    logits = classifier.predict(x_test, batch_size=256, verbose=0)[:, 0]
    threshold = fit_threshold(train_logits, y_train)
    return {
        "accuracy": float(np.mean((logits > threshold) == (y_test > 0.5))),
        "auc": float(sk_metrics.roc_auc_score(y_test, logits)),
        "threshold": threshold,
        "num_train": int(len(y_train)),
        "num_test": int(len(y_test)),
        "epochs": int(epochs),
    }


# ---------------------------------------------------------------------------
# Everything the VAE app reports.


def random_subset(x, count, seed):
    """`count` images drawn without replacement (all of them if fewer), reproducibly."""
    if len(x) <= count:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(len(x), count, replace=False))]


def evaluate_vae(
    reconstruct_fn,
    x_normal_heldout,
    x_anomaly_heldout,
    num_quality_images=50,
    classifier_epochs=10,
    seed=0,
    batch_size=128,
    model=None,
    x_normal_validation=None,
    x_anomaly_validation=None,
):
    """The VAE app's metrics on held-out images.

    - `normal_*` / `anomaly_*`: PSNR and SSIM on `num_quality_images` random
      held-out normal / anomalous images;
    - `normal_reconstruction_diversity` / `anomaly_...`: see `reconstruction_diversity`;
    - `anomaly_test_auc_<score>` for every score of `anomaly_scores` (with
      `model`: also `elbo` and `kl`), over *all* held-out normal and anomalous
      images. Given validation images, `anomaly_validation_auc_<score>` too,
      `anomaly_score` is the score, or its reverse "-<score>" (low =
      anomalous; its AUC is 1 - the score's), with the best validation AUC,
      and `anomaly_roc_auc` its test AUC; without them, the score is `mse`;
    - `real_vs_reconstructed_*`: the small-CNN experiment on all held-out anomalous
      images and their reconstructions.

    Returns:
        (metrics dict, {"roc": anomaly_roc(...) of the chosen score, "scores": ...}).
    """

    def scores_of(x):
        x = _as_unit_float(x)
        reconstructions = reconstruct_images(reconstruct_fn, x, batch_size)
        extra = model_anomaly_scores(model, x, batch_size) if model is not None else None
        return x, reconstructions, anomaly_scores(x, reconstructions, extra)

    normal, normal_reconstructions, normal_scores = scores_of(x_normal_heldout)
    anomaly, anomaly_reconstructions, anomaly_scores_ = scores_of(x_anomaly_heldout)

    results = {}
    for kind, (x, r) in {
        "normal": (normal, normal_reconstructions),
        "anomaly": (anomaly, anomaly_reconstructions),
    }.items():
        indices = random_subset(np.arange(len(x)), num_quality_images, seed)
        quality = image_quality(x[indices], r[indices])
        results.update({f"{kind}_{key}": value for key, value in quality.items()})
        results[f"{kind}_reconstruction_diversity"] = reconstruction_diversity(x, r)

    test_rocs = {name: anomaly_roc(normal_scores[name], anomaly_scores_[name]) for name in normal_scores}
    results.update({f"anomaly_test_auc_{name}": roc["roc_auc"] for name, roc in test_rocs.items()})
    chosen = "mse"
    normal_scores, anomaly_scores_ = with_reversed(normal_scores), with_reversed(anomaly_scores_)
    have_validation = (
        x_normal_validation is not None
        and x_anomaly_validation is not None
        and len(x_normal_validation)
        and len(x_anomaly_validation)
    )
    if have_validation:
        chosen, validation_aucs = select_anomaly_score(
            with_reversed(scores_of(x_normal_validation)[2]), with_reversed(scores_of(x_anomaly_validation)[2])
        )
        results.update(
            {f"anomaly_validation_auc_{n}": auc for n, auc in validation_aucs.items() if not n.startswith("-")}
        )
        results["anomaly_roc_num_validation"] = int(len(x_normal_validation) + len(x_anomaly_validation))
    roc = anomaly_roc(normal_scores[chosen], anomaly_scores_[chosen])
    results["anomaly_score"] = chosen
    results["anomaly_roc_auc"] = roc["roc_auc"]
    results["anomaly_roc_num_normal"] = roc["num_normal"]
    results["anomaly_roc_num_anomaly"] = roc["num_anomaly"]

    if classifier_epochs > 0 and len(anomaly) >= 4:
        experiment = real_vs_reconstructed(anomaly, anomaly_reconstructions, epochs=classifier_epochs, seed=seed)
        results.update({f"real_vs_reconstructed_{k}": v for k, v in experiment.items()})
    return results, {"roc": roc, "score": chosen}


def vae_losses(vae, x, batch_size=128):
    """Mean of `vae.compute_losses` over uint8 / [0, 1] images (no training, trackers untouched)."""
    totals, count = {}, 0
    for start in range(0, len(x), batch_size):
        # Eager on purpose: a few batches, and no retracing for the last, smaller one.
        images = tf.constant(_as_unit_float(x[start : start + batch_size]))
        n = int(images.shape[0])
        for key, value in vae.compute_losses(images, training=False).items():
            totals[key] = totals.get(key, 0.0) + float(value) * n
        count += n
    return {key: value / max(count, 1) for key, value in totals.items()}
