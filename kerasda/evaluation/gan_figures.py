"""The GAN figures: fixed-noise grid, latent interpolation, class x noise grid, class-swap pairs.

Each takes `generate_fn(noise, labels) -> images in [-1, 1]` (a GAN's
`generate`, or an exported signature) and returns a matplotlib figure.
"""

import math

import numpy as np

from kerasda.evaluation import plots


def sample_grid_figure(generate_fn, noise, labels=None, ncols=8, title="samples from fixed noise"):
    """Samples of fixed noise (e.g. 64 -> 8x8): the same z every epoch shows progress."""
    images = np.asarray(generate_fn(noise, labels))
    nrows = math.ceil(len(images) / ncols)
    return plots.image_grid_figure(images, nrows, ncols, title=title)


def interpolation_noise(start, end, steps=10):
    """Linear paths z = (1 - alpha) start + alpha end, alpha in linspace(0, 1, steps).

    Args:
        start, end: [R, latent_dim], one path per row.

    Returns:
        [R * steps, latent_dim], row-major (path by path).
    """
    start, end = np.asarray(start, np.float32), np.asarray(end, np.float32)
    if start.shape != end.shape or start.ndim != 2:
        raise ValueError(f"start and end must both be [R, latent_dim], got {start.shape} and {end.shape}.")
    alphas = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    paths = (1.0 - alphas) * start[:, None, :] + alphas * end[:, None, :]
    return paths.reshape(-1, start.shape[-1])


def interpolation_figure(generate_fn, start, end, steps=10, labels=None):
    """Rows of samples along straight lines in z (smooth changes = no memorisation).

    `labels` ([R], optional) fixes one class per row for conditional models.
    """
    noise = interpolation_noise(start, end, steps)
    row_labels = None if labels is None else np.repeat(np.asarray(labels), steps)
    images = np.asarray(generate_fn(noise, row_labels))
    row_titles = None if labels is None else [f"y={int(c)}" for c in labels]
    return plots.image_grid_figure(
        images, len(start), steps, title="latent interpolation, alpha 0 -> 1", row_titles=row_titles
    )


def class_noise_grid_figure(generate_fn, noise, num_classes=10):
    """Rows = requested class, columns = the same z: does y set the digit and z the style?"""
    noise = np.asarray(noise, np.float32)
    ncols = len(noise)
    grid_noise = np.tile(noise, (num_classes, 1))
    labels = np.repeat(np.arange(num_classes), ncols).astype(np.int32)
    images = np.asarray(generate_fn(grid_noise, labels))
    return plots.image_grid_figure(
        images, num_classes, ncols, title="class x noise", row_titles=[str(c) for c in range(num_classes)]
    )


def class_swap_pairs_figure(generate_fn, noise, labels, other_labels):
    """Pairs from the same z with a different class: top row G(z, y), bottom row G(z, y')."""
    noise = np.asarray(noise, np.float32)
    labels, other_labels = np.asarray(labels, np.int32), np.asarray(other_labels, np.int32)
    images = np.concatenate([np.asarray(generate_fn(noise, labels)), np.asarray(generate_fn(noise, other_labels))])
    return plots.image_grid_figure(
        images,
        2,
        len(noise),
        title="same z, different class: " + " ".join(f"{a}->{b}" for a, b in zip(labels, other_labels)),
        row_titles=["y", "y'"],
    )
