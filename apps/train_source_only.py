"""Source-only baseline: train the digits classifier on the source domain only.

It measures the domain gap every adaptation method must close:
    python -m apps.train_source_only --flagfile=apps/configs/source_only_mnist_to_mnistm.cfg
"""

import keras
from absl import flags

from apps import common
from kerasda import export, runner
from kerasda.callbacks import ClassifierEvaluation, FigureCallback
from kerasda.data import pipeline
from kerasda.evaluation import plots
from kerasda.networks.digits import build_digits_classifier

FLAGS = flags.FLAGS
common.define_common_flags(default_max_steps=2400, default_batch_size=128)
common.define_augmentation_flag()
flags.DEFINE_float("learning_rate", 1e-3, "Initial Adam learning rate.")
flags.DEFINE_enum("lr_schedule", "cosine", ["cosine", "constant"], "Learning-rate decay over max_steps.")


def main(argv):
    del argv
    strategy = common.configure_devices()  # --precision, --distribution
    run = runner.Run(common.run_config_from_flags("source_only"))
    common.write_flags(run)
    source, target = common.load_source_and_target()

    learning_rate = FLAGS.learning_rate
    if FLAGS.lr_schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, FLAGS.max_steps)
    with strategy.scope():
        classifier = build_digits_classifier(source.image_shape, source.num_classes)
        classifier.compile(  # Keras wraps the optimizer for loss scaling under mixed_float16
            optimizer=keras.optimizers.Adam(learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    dataset = pipeline.labeled_dataset(
        source.x_train,
        source.y_train,
        FLAGS.batch_size,
        seed=run.data_seed,
        augment=common.augmentation_from_flags(),
    )
    evaluation = ClassifierEvaluation(
        run,
        classifier,
        {"source": (source.x_test, source.y_test), "target": (target.x_test, target.y_test)},
        source.class_names,
    )
    curves = FigureCallback(
        run,
        "curves",
        lambda: plots.curves_figure(
            run.read_history(), ["accuracy", "eval/source_accuracy", "eval/target_accuracy"], "accuracy"
        ),
    )
    run.train(classifier, dataset, callbacks=[evaluation, curves], examples_per_step=FLAGS.batch_size)

    path = export.export_classifier(classifier, "source_only_classifier", source.image_shape, *common.export_location())
    metrics = run.write_metrics({**evaluation.results, "export_path": str(path)})
    common.summarise(run, metrics, ["source_test_accuracy", "target_test_accuracy"])


if __name__ == "__main__":
    common.run_app(main)
