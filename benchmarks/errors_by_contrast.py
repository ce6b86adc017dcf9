"""Where an exported classifier's errors are: its test accuracy by how much each image's digit stands out.

    python -m benchmarks.errors_by_contrast --model=<export>/dann_classifier/1 --domain=mnist_m \\
        --data_dir=../shared/data --output_name=dann_errors_by_contrast

MNIST-M draws each digit by inverting a colour photo patch under the ink, |patch - 255 * ink|, so a
pixel of patch value p is p off the digit and 255 - p on it: both are |p - 127.5| from mid-grey, and
the digit / background contrast is twice that. `half_contrast`, the mean over an image's pixels and
channels of |pixel - 127.5| / 127.5, is therefore the digit's contrast on MNIST-M (0: invisible, on a
mid-grey patch; 1: black on white). On other domains it is only a distance from mid-grey.

The test split is cut into `--bins` equal-count bins of it, and the export (served through
`serving_default`, as `apps.evaluate` does) is scored on each. Writes
benchmarks/results/<output_name>.{json,md,png}: the table, and a figure with the accuracy per bin
and the errors of the lowest bin.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from apps import evaluate  # noqa: E402  (its --model, --domain, --data_dir, --seed, --batch_size)
from benchmarks import harness  # noqa: E402
from kerasda.data import load_domain  # noqa: E402
from kerasda.evaluation import plots  # noqa: E402
from kerasda.evaluation.served import serve_classes, signature_image_size  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    """Defined only when run as a program, so that tests can import the module beside other benchmarks."""
    flags.DEFINE_integer("bins", 5, "Equal-count bins of half-contrast.", lower_bound=1)
    flags.DEFINE_integer("error_examples", 24, "Errors of the lowest-contrast bin shown in the figure.")
    flags.DEFINE_string("output_name", "errors_by_contrast", "Results file name under benchmarks/results/.")


def half_contrast(images_uint8):
    """Per image, the mean of |pixel - 127.5| / 127.5 over pixels and channels, in [0, 1]."""
    images = np.asarray(images_uint8, np.float32)
    return np.abs(images - 127.5).reshape(len(images), -1).mean(axis=1) / 127.5


def accuracy_by_bin(contrast, correct, bins):
    """[{"low", "high", "examples", "accuracy"}] over `bins` equal-count bins of `contrast` (ascending)."""
    if len(contrast) != len(correct):
        raise ValueError(f"{len(contrast)} contrasts for {len(correct)} predictions.")
    if len(contrast) < bins:
        raise ValueError(f"{len(contrast)} images cannot fill {bins} bins.")
    order = np.argsort(contrast, kind="stable")
    rows = []
    for members in np.array_split(order, bins):
        rows.append(
            {
                "low": float(contrast[members].min()),
                "high": float(contrast[members].max()),
                "examples": int(len(members)),
                "accuracy": float(np.mean(correct[members])),
            }
        )
    return rows


def figure(rows, error_images, error_titles, title):
    """Accuracy per bin (left) beside the lowest bin's errors (right)."""
    grid = plots.image_grid_figure(
        error_images, max(1, int(np.ceil(len(error_images) / 6))), 6, value_range=(0, 255), cell_titles=error_titles
    )
    grid.suptitle("errors of the lowest-contrast bin (predicted / true)", fontsize=9)
    bars, axis = plt.subplots(figsize=(5, 3))
    labels = [f"{row['low']:.2f}-{row['high']:.2f}" for row in rows]
    axis.bar(labels, [100 * row["accuracy"] for row in rows], color="tab:blue")
    axis.set_xlabel("half-contrast bin")
    axis.set_ylabel("test accuracy %")
    axis.set_ylim(0, 100)
    axis.set_title(title, fontsize=9)
    axis.tick_params(axis="x", labelsize=7)
    bars.tight_layout()
    return bars, grid


def main(argv):
    del argv
    loaded, serving_fn = evaluate.load_classifier(FLAGS.model)
    size = signature_image_size(serving_fn)
    domain = load_domain(FLAGS.domain, data_dir=FLAGS.data_dir, seed=FLAGS.seed, image_size=size)
    predicted = serve_classes(serving_fn, domain.x_test, FLAGS.batch_size)
    del loaded
    correct = predicted == domain.y_test
    contrast = half_contrast(domain.x_test)
    rows = accuracy_by_bin(contrast, correct, FLAGS.bins)
    lowest = np.argsort(contrast, kind="stable")[: rows[0]["examples"]]
    errors = lowest[~correct[lowest]][: FLAGS.error_examples]
    title = f"{domain.name} test: {correct.mean():.2%} overall"
    bars, grid = figure(rows, domain.x_test[errors], [f"{predicted[i]} / {domain.y_test[i]}" for i in errors], title)
    harness.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    bars.savefig(harness.RESULTS_DIR / f"{FLAGS.output_name}.png", bbox_inches="tight", dpi=120)
    grid.savefig(harness.RESULTS_DIR / f"{FLAGS.output_name}_errors.png", bbox_inches="tight", dpi=120)
    markdown = (
        f"# Test accuracy by digit contrast: `{FLAGS.model}` on {domain.name}\n\n"
        f"{len(domain.x_test)} test images at {size}x{size}, {correct.mean():.2%} correct, in {FLAGS.bins} "
        "equal-count bins of half-contrast (mean |pixel - 127.5| / 127.5; on MNIST-M half the digit / "
        "background contrast). `python -m benchmarks.errors_by_contrast`.\n\n"
        + harness.markdown_table(
            ["half-contrast", "images", "accuracy %"],
            [[f"{r['low']:.3f}-{r['high']:.3f}", r["examples"], f"{100 * r['accuracy']:.2f}"] for r in rows],
        )
        + f"\n![accuracy by bin]({FLAGS.output_name}.png) ![errors]({FLAGS.output_name}_errors.png)\n"
    )
    payload = {
        "model": FLAGS.model,
        "domain": domain.name,
        "image_size": size,
        "accuracy": float(correct.mean()),
        "bins": rows,
    }
    harness.write_results(FLAGS.output_name, payload, markdown)


if __name__ == "__main__":
    define_flags()
    app.run(main)
