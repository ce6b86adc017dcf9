"""Samples of a generator with their own seeded noise, and the judge's scores of them."""

import numpy as np


def generate_samples(generate_fn, num_samples, latent_dim, num_classes=None, batch_size=500, seed=0):
    """Draws samples from a generator with its own seeded noise.

    Args:
        generate_fn: `(noise, labels) -> images` (labels None when unconditional),
            e.g. a GAN model's `generate`.
        num_samples: how many images.
        latent_dim: size of z.
        num_classes: if given, labels cycle through 0..num_classes-1 so every
            class is requested equally often.
        batch_size: generation batch size.
        seed: numpy seed of the noise (independent of the model's seed).

    Returns:
        (images float32 [N, H, W, C] in [-1, 1], labels int [N] or None).
    """
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((num_samples, latent_dim)).astype(np.float32)
    labels = None if num_classes is None else (np.arange(num_samples) % num_classes).astype(np.int32)
    images = []
    for start in range(0, num_samples, batch_size):
        batch_labels = None if labels is None else labels[start : start + batch_size]
        images.append(np.asarray(generate_fn(noise[start : start + batch_size], batch_labels)))
    return np.concatenate(images).astype(np.float32), labels


def evaluate_generator(generate_fn, judge, latent_dim, num_classes=None, num_samples=10000, seed=0):
    """`judge.score` of `num_samples` fresh samples (class-balanced when conditional)."""
    images, labels = generate_samples(generate_fn, num_samples, latent_dim, num_classes=num_classes, seed=seed)
    return judge.score(images, labels)
