"""How close is synthesised MNIST-M to the original release? Image statistics only.

    python -m benchmarks.mnist_m_fidelity --data_dir=../shared/data

Compares the original release (all of its images, train and test) with two
syntheses made from the *same* MNIST digits (MNIST-M image i is MNIST image i):
the old recipe (28x28 grey digit, |patch - digit|, bilinear resize to 32) and
the current one (kerasda.data.mnist_m: binarised digit padded to 32x32). Writes
benchmarks/results/mnist_m_fidelity.{json,md}.
"""

import time

import numpy as np
from absl import app, flags

from benchmarks import harness
from kerasda.data import images, mnist, mnist_m, mnist_m_original

flags.DEFINE_string("data_dir", None, "Data root with mnist/, bsds500/train/ and mnist_m/.")
flags.DEFINE_integer("seed", 0, "Synthesis seed.")
FLAGS = flags.FLAGS


def old_recipe(digits, photos, rng):
    """The recipe used before issue 11: grey 28x28 digit blended with a 28x28 crop, resized to 32."""
    n, h, w = digits.shape
    out = np.empty((n, h, w, 3), np.uint8)
    choice = rng.integers(0, len(photos), size=n)
    unit_offsets = rng.random((n, 2))
    grey = digits.astype(np.int16)[..., None]
    for i in range(n):
        photo = photos[choice[i]]
        top = int(unit_offsets[i, 0] * (photo.shape[0] - h + 1))
        left = int(unit_offsets[i, 1] * (photo.shape[1] - w + 1))
        out[i] = np.abs(photo[top : top + h, left : left + w].astype(np.int16) - grey[i])
    return images.resize_uint8(out, 32)


def statistics(x):
    """Per-channel mean, pixel std, and mean gradient magnitude of the grey image (sharpness)."""
    grey = x.mean(-1, dtype=np.float32)
    dy = (grey[:, 2:, 1:-1] - grey[:, :-2, 1:-1]) / 2
    dx = (grey[:, 1:-1, 2:] - grey[:, 1:-1, :-2]) / 2
    mean = x.mean((0, 1, 2), dtype=np.float64)  # float32 sums drift by whole grey levels over 30M pixels
    return {
        "mean_r": float(mean[0]),
        "mean_g": float(mean[1]),
        "mean_b": float(mean[2]),
        "std": float(x.std(dtype=np.float64)),
        "gradient": float(np.hypot(dx, dy).mean(dtype=np.float64)),
    }


def main(argv):
    del argv
    original = mnist_m_original.load_mnist_m_original(FLAGS.data_dir, image_size=32)
    digits = mnist.load_mnist_arrays(FLAGS.data_dir)
    photos = mnist_m.load_bsds500_train(FLAGS.data_dir)
    counts = {"train": len(original.x_train), "test": len(original.x_test)}
    aligned = np.concatenate([digits[s][0][:n] for s, n in counts.items()])
    sets = {
        "original release": np.concatenate([original.x_train, original.x_test]),
        "old synthesis (28px grey blend, resized)": old_recipe(aligned, photos, np.random.default_rng(FLAGS.seed)),
        "new synthesis (binarised, padded to 32)": mnist_m.blend_with_random_patches(
            aligned, photos, np.random.default_rng(FLAGS.seed)
        ),
    }
    stats = {name: statistics(x) for name, x in sets.items()}
    reference = stats["original release"]
    rows = []
    for name, s in stats.items():
        deviation = max(abs(s[k] / reference[k] - 1) for k in s)
        rows.append(
            [
                name,
                f"{s['mean_r']:.1f}",
                f"{s['mean_g']:.1f}",
                f"{s['mean_b']:.1f}",
                f"{s['std']:.1f}",
                f"{s['gradient']:.2f}",
                "-" if name == "original release" else f"{deviation:.1%}",
            ]
        )
        s["max_relative_deviation"] = deviation
    start = time.perf_counter()
    full = mnist_m.synthesize_mnist_m(FLAGS.data_dir, FLAGS.seed)
    seconds = time.perf_counter() - start
    n_full = len(full["x_train"]) + len(full["x_test"])
    markdown = (
        f"MNIST-M fidelity on {sum(counts.values()):,} images ({counts['train']:,} train + "
        f"{counts['test']:,} test of the original release; the syntheses use the same MNIST digits, "
        f"seed {FLAGS.seed}). Gradient: mean |grad| of the grey image, central differences.\n\n"
        + harness.markdown_table(["set", "mean R", "mean G", "mean B", "pixel std", "gradient", "max deviation"], rows)
        + f"\nNew synthesis of all {n_full:,} MNIST images (BSDS500 + MNIST read included): {seconds:.1f} s.\n"
    )
    harness.write_results(
        "mnist_m_fidelity",
        {
            "images": counts,
            "seed": FLAGS.seed,
            "statistics": stats,
            "synthesis_seconds_all": seconds,
            "synthesised_images": n_full,
        },
        markdown,
    )


if __name__ == "__main__":
    app.run(main)
