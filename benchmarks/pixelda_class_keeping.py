"""Does PixelDA's generator keep the class of what it restyles? Fixed judges read G(x).

    python -m benchmarks.pixelda_class_keeping --data_dir=../shared/data \
        --generator=runs/da_table/<pixelda run>/exports/pixelda_generator/1 \
        --judges=source_only=<MNIST-trained export>,target_only=<MNIST-M-trained export>

PixelDA's own task classifier T is trained on G's output, so T reading G(x) correctly says little:
T and G can agree on a wrong class. Here classifiers that never saw G (fixed exports, trained
before and apart from it) read G(x) for source test images x, and the share read as x's label is
reported beside the same judge's accuracy on x itself and on real target test images. A judge
trained on the target's labels (the table's upper-bound run) is the fairer one: G(x) should look
like the target. Everything goes through the exports' serving signatures, as a client would.
A figure (results/<results_name>.png) shows digits of every class beside G(x), captioned with what
the --figure_judge reads (green: x's label, red: another class).
"""

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf
from absl import app, flags

from benchmarks import harness
from kerasda.data import load_domain, pipeline
from kerasda.evaluation import plots
from kerasda.evaluation.served import serve_classes, signature_image_size

FLAGS = flags.FLAGS


def restyle(adapt, images_uint8, noise_dim, seed, batch_size):
    """G(x) for uint8 source images, as uint8 images (what a judge's loader would give it)."""
    rng = np.random.default_rng(seed)
    outputs = []
    for start in range(0, len(images_uint8), batch_size):
        images = pipeline.to_model_range(images_uint8[start : start + batch_size])
        noise = rng.uniform(-1.0, 1.0, (len(images), noise_dim)).astype(np.float32)
        generated = adapt(images=tf.constant(images), noise=tf.constant(noise))["images"].numpy()
        outputs.append(np.clip(np.round((generated + 1.0) * 127.5), 0, 255).astype(np.uint8))
    return np.concatenate(outputs)


def resized(images_uint8, size):
    if images_uint8.shape[1] == size:
        return images_uint8
    return tf.cast(tf.round(tf.image.resize(images_uint8, (size, size), antialias=True)), tf.uint8).numpy()


def class_keeping_figure(x, generated, labels, readings, judge, per_class, title):
    """Row 1: source digits (per_class of each class) captioned with their label; row 2: G(x)
    captioned with the judge's reading, green when it is the label and red when not."""
    chosen = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)])
    images = np.concatenate([x[chosen], generated[chosen]])
    titles = [str(labels[i]) for i in chosen] + [str(readings[i]) for i in chosen]
    colors = ["black"] * len(chosen) + ["green" if readings[i] == labels[i] else "red" for i in chosen]
    return plots.image_grid_figure(
        images,
        2,
        len(chosen),
        value_range=(0, 255),
        title=title,
        row_titles=["x\n(label)", f"G(x)\n({judge}\nreads)"],
        cell_titles=titles,
        cell_colors=colors,
    )


def main(argv):
    del argv
    loaded_generator = tf.saved_model.load(FLAGS.generator)  # kept alive while `adapt` is called
    adapt = loaded_generator.signatures["adapt"]
    image_size = int(adapt.structured_input_signature[1]["images"].shape[1])
    noise_dim = int(adapt.structured_input_signature[1]["noise"].shape[-1])
    source = load_domain(FLAGS.source, data_dir=FLAGS.data_dir, image_size=image_size)
    target = load_domain(FLAGS.target, data_dir=FLAGS.data_dir, image_size=image_size)
    x, y = source.x_test[: FLAGS.num_images], source.y_test[: FLAGS.num_images]
    generated = restyle(adapt, x, noise_dim, FLAGS.seed, FLAGS.batch_size)

    rows, judges, readings = [], {}, {}
    for entry in FLAGS.judges:
        name, _, path = entry.partition("=")
        loaded = tf.saved_model.load(path)
        serving_fn = loaded.signatures["serving_default"]
        size = signature_image_size(serving_fn)

        def classes(images, fn=serving_fn, size=size):
            return serve_classes(fn, resized(images, size), FLAGS.batch_size)

        def accuracy(images, labels):
            return float((classes(images) == labels).mean())

        readings[name] = classes(generated)
        scores = {
            "generated_read_as_source_label": float((readings[name] == y).mean()),
            "source_test_accuracy": accuracy(x, y),
            "target_test_accuracy": accuracy(target.x_test, target.y_test),
        }
        judges[name] = {"export": path, **scores}
        rows.append(
            [name, f"{100 * scores['generated_read_as_source_label']:.2f}"]
            + [f"{100 * scores[k]:.2f}" for k in ("source_test_accuracy", "target_test_accuracy")]
        )
    markdown = (
        "# PixelDA: do fixed classifiers read G(x) as x's label?\n\n"
        f"Generator: `{FLAGS.generator}`; {len(x)} {FLAGS.source} test images, one noise draw each "
        f"(seed {FLAGS.seed}). A judge is fixed when it was trained apart from G; PixelDA's own T, if "
        "listed, was trained with G and is shown for reference only.\n\n"
        + harness.markdown_table(
            ["judge", "G(x) read as x's label (%)", f"{FLAGS.source} test (%)", f"{FLAGS.target} test (%)"], rows
        )
    )
    payload = {"generator": FLAGS.generator, "num_images": len(x), "seed": FLAGS.seed, "judges": judges}
    if readings:
        judge = FLAGS.figure_judge if FLAGS.figure_judge in readings else next(iter(readings))
        kept = judges[judge]["generated_read_as_source_label"]
        figure = class_keeping_figure(
            x,
            generated,
            y,
            readings[judge],
            judge,
            FLAGS.figure_per_class,
            f"PixelDA {FLAGS.source} -> {FLAGS.target}: does G keep the class? "
            f"({judge} reads {100 * kept:.1f}% of all {len(x)} G(x) as x's label)",
        )
        figure_path = harness.RESULTS_DIR / f"{FLAGS.results_name}.png"
        figure_path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(figure_path, dpi=100)
        plt.close(figure)
        payload["figure"] = figure_path.name
        markdown += f"\n![G(x) and what {judge} reads]({figure_path.name})\n"
    harness.write_results(FLAGS.results_name, payload, markdown)


def define_flags():
    """Defined only when run as a script, so tests can import this module without absl flags."""
    flags.DEFINE_string("data_dir", None, "Data root; default $KERASDA_DATA_DIR.")
    flags.DEFINE_string("generator", None, "PixelDA generator export (its `adapt` signature).", required=True)
    flags.DEFINE_list("judges", [], "NAME=classifier export folder, ... (serving_default).")
    flags.DEFINE_string("source", "mnist", "Domain whose test images G restyles.")
    flags.DEFINE_string("target", "mnist_m", "Domain G restyles into (the judges' real-target reference).")
    flags.DEFINE_integer("num_images", 2000, "Source test images restyled (the first N).")
    flags.DEFINE_integer("seed", 0, "Seed of G's noise.")
    flags.DEFINE_integer("batch_size", 250, "Images per signature call.")
    flags.DEFINE_string("results_name", "pixelda_class_keeping", "Results name under benchmarks/results/.")
    flags.DEFINE_string(
        "figure_judge", "target_only", "Judge whose readings caption the figure (the first judge when absent)."
    )
    flags.DEFINE_integer("figure_per_class", 2, "Digits of each class in the figure.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
