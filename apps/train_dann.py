"""DANN (Ganin & Lempitsky, 2015): domain-adversarial training, MNIST -> MNIST-M.

    python -m apps.train_dann --flagfile=apps/configs/dann_mnist_to_mnistm.cfg
    python -m apps.train_dann --flagfile=... --nogrl                      # ablation: no reversal
    python -m apps.train_dann --flagfile=... --lambda_schedule=constant   # ablation: lambda = lambda_max

Writes metrics.json (accuracy / P / R / F1 / confusion matrix on both test sets,
proxy A-distances), figures/ (confusion matrices, curves of accuracy and lambda,
t-SNE of source-only vs DANN features), TensorBoard scalars and projector files,
and exports the adapted classifier with `serving_default(images) -> {probabilities, classes}`.
With `--select_checkpoint=information_maximization` that classifier is the one, of
the initial weights and every evaluation, whose predictions on unlabelled target
training images score best (as ADDA's); the last step's metrics keep the prefix
`final_step_`.

The "source only" embedding is a separate copy of the same network trained on
labelled source images only, for `--source_only_steps` steps with the same
optimizer settings, after DANN: a real baseline, not DANN's untrained start.
"""

import keras
from absl import flags, logging

from apps import common
from kerasda import distribute, errors, export, runner, schedules
from kerasda.callbacks import ClassifierEvaluation, FigureCallback
from kerasda.data import pipeline
from kerasda.evaluation import metrics, plots
from kerasda.models.batch_statistics import adapt_batch_norm_statistics
from kerasda.models.builders import build_digits_dann
from kerasda.networks.digits import (
    INPUT_STANDARDIZATION_NAMES,
    build_digits_label_predictor,
    build_feature_extractor,
    input_standardization_from_name,
)

FLAGS = flags.FLAGS
common.define_common_flags(default_max_steps=10_000, default_batch_size=64)
common.define_augmentation_flag()
flags.DEFINE_bool("grl", True, "Gradient reversal; --nogrl trains the same network without it.")
flags.DEFINE_enum(
    "lambda_schedule",
    "paper",
    ["paper", "constant"],
    "paper: lambda = lambda_max (2 / (1 + exp(-gamma p)) - 1); constant: lambda_max.",
)
flags.DEFINE_float("gamma", 10.0, "Steepness of the paper's lambda schedule.")
flags.DEFINE_float("lambda_max", 1.0, "Final (or constant) gradient-reversal strength.")
flags.DEFINE_enum("optimizer", "sgd", list(schedules.OPTIMIZERS), "sgd (momentum, the paper's) or adam.")
flags.DEFINE_float("learning_rate", 0.01, "Initial learning rate mu_0.")
flags.DEFINE_float("momentum", 0.9, "SGD momentum.")
flags.DEFINE_bool("anneal_learning_rate", True, "mu_p = mu_0 / (1 + 10 p) ** 0.75 (the paper's).")
flags.DEFINE_enum(
    "input_standardization",
    "image",
    list(INPUT_STANDARDIZATION_NAMES),
    "Standardise each image on its own (per image or per channel, or projected onto its own main "
    "colour axis: principal_colour) inside the feature extractor; none = the paper's raw input (ablation).",
)
flags.DEFINE_enum(
    "padding",
    "same",
    ["same", "valid"],
    "Convolution padding of the feature extractor; valid + --image_size=28 is the "
    "paper's tower (~3x cheaper per image than same at 32x32).",
)
flags.DEFINE_float(
    "target_entropy_weight",
    0.0,
    "Weight of the label predictor's mean entropy on target images (0 = the paper's "
    "DANN; > 0 adds entropy minimisation, as in VADA).",
)
flags.DEFINE_bool(
    "batch_norm",
    False,
    "Batch normalisation after each convolution of the feature extractor (source and "
    "target images are normalised together, in one batch, unless --separate_domain_batches).",
)
flags.DEFINE_float(
    "feature_dropout",
    0.0,
    "Spatial dropout rate (whole feature maps) after the feature extractor's last convolution, "
    "while training; 0 = none (the paper's tower).",
)
flags.DEFINE_bool(
    "separate_domain_batches",
    False,
    "Source and target images pass the feature extractor as two batches, so --batch_norm "
    "normalises each domain with its own batch statistics while training.",
)
flags.DEFINE_bool(
    "target_batch_statistics",
    False,
    "After training, set the batch-normalisation moving statistics to those of the unlabelled "
    "target training images (AdaBN), so that the evaluated and exported classifier normalises "
    "target images as training did (with --separate_domain_batches). Needs --batch_norm.",
)
flags.DEFINE_integer(
    "source_only_steps", 1000, "Steps of the source-only baseline for the embedding comparison; 0 skips it."
)
flags.DEFINE_integer("tsne_examples", 500, "Test images per domain in the t-SNE map and projector.")
flags.DEFINE_integer("pad_examples", 2000, "Test images per domain for the proxy A-distance.")
common.define_selection_flags()


def build_optimizer(total_steps):
    return schedules.build_optimizer(
        FLAGS.optimizer,
        FLAGS.learning_rate,
        total_steps,
        FLAGS.momentum,
        anneal=FLAGS.anneal_learning_rate,
    )


def tower_options():
    """The feature extractor's flags, one set for DANN and its source-only baseline (the same tower)."""
    return {
        "input_standardization": input_standardization_from_name(FLAGS.input_standardization),
        "padding": FLAGS.padding,
        "batch_norm": FLAGS.batch_norm,
        "feature_dropout": FLAGS.feature_dropout,
    }


def train_source_only_baseline(source):
    """The same tower trained on source labels only (for the embedding comparison).

    Returns:
        (classifier images -> logits, its feature extractor).
    """
    feature_extractor = build_feature_extractor(source.image_shape, **tower_options())
    label_predictor = build_digits_label_predictor(feature_extractor.output.shape[-1], source.num_classes)
    images = keras.Input(shape=source.image_shape, name="images")
    classifier = keras.Model(images, label_predictor(feature_extractor(images)), name="source_only")
    classifier.compile(
        optimizer=build_optimizer(FLAGS.source_only_steps),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    dataset = pipeline.labeled_dataset(
        source.x_train,
        source.y_train,
        FLAGS.batch_size,
        seed=FLAGS.seed + 7,
        augment=common.augmentation_from_flags(seed_offset=7),
    )
    classifier.fit(dataset, steps_per_epoch=FLAGS.source_only_steps, epochs=1, verbose=0)
    return classifier, feature_extractor


def use_target_batch_statistics(dann, target, evaluation):
    """AdaBN on the unlabelled target training images, then re-evaluate.

    Returns the metrics.json entries of the moving statistics the training left
    (prefixed `moving_statistics_`), so both are on record.
    """
    results = evaluation.results
    before = {f"moving_statistics_{key}": value for key, value in results.items() if key.endswith("accuracy")}
    adapt_batch_norm_statistics(dann.feature_extractor, target.x_train, preprocess=pipeline.to_model_range)
    evaluation.on_train_end()  # the reported metrics, confusion matrices and export use the target's statistics
    return {**before, "target_batch_statistics_examples": len(target.x_train)}


def main(argv):
    del argv
    if FLAGS.target_batch_statistics and not FLAGS.batch_norm:
        raise errors.FlagError("--target_batch_statistics needs --batch_norm: without it there is no statistic to set.")
    strategy = common.configure_devices()  # --precision, --distribution
    run = runner.Run(common.run_config_from_flags("dann"))
    common.write_flags(run)
    source, target = common.load_source_and_target()  # target training labels sealed

    with strategy.scope():
        dann = build_digits_dann(
            source.image_shape,
            source.num_classes,
            **tower_options(),
            use_gradient_reversal=FLAGS.grl,
            lambda_schedule=FLAGS.lambda_schedule,
            gamma=FLAGS.gamma,
            lambda_max=FLAGS.lambda_max,
            total_steps=FLAGS.max_steps,
            target_entropy_weight=FLAGS.target_entropy_weight,
            separate_domain_batches=FLAGS.separate_domain_batches,
        )
        dann.compile(optimizer=build_optimizer(FLAGS.max_steps))
        distribute.synchronize_batch_norm(dann, strategy)
    dataset = pipeline.adaptation_dataset(
        source, target, FLAGS.batch_size, seed=run.data_seed, augment=common.augmentation_from_flags()
    )
    eval_sets = {"source": (source.x_test, source.y_test), "target": (target.x_test, target.y_test)}
    evaluation = ClassifierEvaluation(run, dann.classifier, eval_sets, source.class_names)
    curves = FigureCallback(
        run,
        "curves",
        lambda: plots.curves_figure(
            run.read_history(),
            ["label_accuracy", "domain_accuracy", "lambda", "eval/source_accuracy", "eval/target_accuracy"],
            "DANN: accuracy and lambda",
        ),
    )
    selection = common.selection_from_flags(run, dann.classifier, target, dann.classifier)
    callbacks = [evaluation, curves] + ([selection] if selection else [])
    result = run.train(dann, dataset, callbacks=callbacks, examples_per_step=2 * FLAGS.batch_size)
    extra = common.apply_selection(selection, evaluation)  # the chosen weights feed everything below
    if FLAGS.target_batch_statistics:
        extra.update(use_target_batch_statistics(dann, target, evaluation))

    embedders = {"dann" if FLAGS.grl else "dann_nogrl": dann.embed}
    scored = {"": dann.classifier}  # metrics.json prefix -> classifier, for the label-free scores
    if FLAGS.source_only_steps > 0:
        logging.info("Training the source-only baseline for %d steps.", FLAGS.source_only_steps)
        baseline, baseline_extractor = train_source_only_baseline(source)
        embedders = {"source_only": lambda x: baseline_extractor.predict(x, 512, verbose=0), **embedders}
        baseline_results = metrics.evaluate_classifier(baseline, eval_sets, source.num_classes)
        extra.update({f"source_only_{key}": value for key, value in baseline_results.items()})
        scored["source_only_"] = baseline
    extra.update(common.label_free_scores(scored, target))  # one sample of target images for all
    extra.update(common.compare_embeddings(run, embedders, eval_sets, source, target, result.steps))

    path = export.export_classifier(dann.classifier, "dann_classifier", source.image_shape, *common.export_location())
    final = run.write_metrics({**evaluation.results, **extra, "export_path": str(path)})
    common.summarise(
        run,
        final,
        [
            "source_test_accuracy",
            "target_test_accuracy",
            "source_only_target_test_accuracy",
            *[f"proxy_a_distance_{name}" for name in embedders],
        ],
    )


if __name__ == "__main__":
    common.run_app(main)
