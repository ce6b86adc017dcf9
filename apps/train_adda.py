"""ADDA (Tzeng et al., 2017): adversarial discriminative domain adaptation, any digits pair.

    python -m apps.train_adda --flagfile=apps/configs/adda_digits.cfg
    python -m apps.train_adda --flagfile=apps/configs/adda_digits.cfg \
        --source=mnist_m --target=mnist

Stage 1 trains the source encoder and classifier on labelled source images
(`--source_steps`, its own run directory `<output_dir>/source_stage/`); stage 2
adapts a copy of the encoder to the target domain against a discriminator for
`--max_steps`. Both stages train through `kerasda.runner.Run`, so a rerun with
the same `--output_dir` resumes whichever stage was interrupted at its exact
step, and skips a finished stage 1. With `--source_augmentations=none,geometric`
stage 1 trains one source model per augmentation (`source_stage_<kind>/`) and
stage 2 adapts the one that unlabelled target images score best.

Writes metrics.json (accuracy / P / R / F1 / confusion matrix on both test sets
for ADDA and, prefixed `source_only_`, for the stage-1 model; proxy
A-distances), figures/ (confusion matrices, curves, t-SNE of source-only vs
ADDA features), TensorBoard scalars and projector files, and exports the
adapted classifier with `serving_default(images) -> {probabilities, classes}`.

With `--select_checkpoint=information_maximization` (the shipped config) the
reported and exported model is not the last step's but the one, of step 0 and
every evaluation, whose predictions on unlabelled target training images score
best (`kerasda.callbacks.UnsupervisedModelSelection`); the last step's metrics
are kept with the prefix `final_step_`.
"""

import dataclasses

import keras
from absl import flags, logging

from apps import common
from kerasda import export, runner
from kerasda.callbacks import ClassifierEvaluation, FigureCallback, model_selection
from kerasda.data import augmentation, pipeline
from kerasda.evaluation import plots
from kerasda.models.adda import ADDA
from kerasda.networks.adda import build_discriminator, build_source_networks, compose_classifier
from kerasda.networks.digits import INPUT_STANDARDIZATION_NAMES, input_standardization_from_name

FLAGS = flags.FLAGS
common.define_common_flags(default_max_steps=3000, default_batch_size=64)
common.define_augmentation_flag()
flags.DEFINE_integer("source_steps", 2500, "Stage 1: steps of supervised training on the source.")
flags.DEFINE_integer("source_batch_size", 128, "Stage 1: labelled source images per step.")
flags.DEFINE_float(
    "source_learning_rate", 1e-3, "Stage 1: initial Adam learning rate, cosine-decayed over --source_steps."
)
flags.DEFINE_float("discriminator_learning_rate", 2e-4, "Stage 2: the discriminator's Adam rate.")
flags.DEFINE_float("target_encoder_learning_rate", 2e-4, "Stage 2: the target encoder's Adam rate.")
flags.DEFINE_float("beta_1", 0.5, "Stage 2: Adam beta_1 of both optimizers.")
flags.DEFINE_integer("discriminator_units", 500, "Width of the discriminator's two hidden layers.")
flags.DEFINE_enum(
    "input_standardization",
    "image",
    list(INPUT_STANDARDIZATION_NAMES),
    "Standardise each image on its own inside the encoders (as DANN's config; principal_colour projects "
    "it onto its own main colour axis first); none = raw [-1, 1] input.",
)
flags.DEFINE_enum(
    "padding",
    "valid",
    ["same", "valid"],
    "Convolution padding of the encoders; valid + --image_size=28 is the MNIST "
    "tower of Ganin & Lempitsky (and DANN's config).",
)
flags.DEFINE_integer("tsne_examples", 500, "Test images per domain in the t-SNE map and projector.")
flags.DEFINE_integer("pad_examples", 2000, "Test images per domain for the proxy A-distance.")
common.define_selection_flags()
flags.DEFINE_list(
    "source_augmentations",
    [],
    "Stage 1: train one source model per augmentation listed (e.g. none,geometric), each in "
    "<output_dir>/source_stage_<augmentation>/, and adapt the one whose predictions on the "
    "--selection_examples unlabelled target training images score best by information maximisation "
    "(no target label is read). Empty: one source model, trained with --augmentation. Stage 2 "
    "always uses --augmentation.",
)
flags.register_validator(
    "source_augmentations",
    lambda kinds: set(kinds) <= set(augmentation.AUGMENTATIONS) and len(set(kinds)) == len(kinds),
    message=f"--source_augmentations lists each of {augmentation.AUGMENTATIONS} at most once.",
)


def train_source_stage(stage_dir, augment, source, eval_sets, strategy):
    """Stage 1: source encoder + classifier on source labels, resumable in its own run.

    Returns:
        (source_encoder, source_classifier, evaluation results, TrainResult).
    """
    config = dataclasses.replace(
        common.run_config_from_flags("adda_source"),
        output_dir=str(stage_dir),
        max_steps=FLAGS.source_steps,
        max_seconds=None,  # stage 1 always completes; --max_minutes bounds stage 2
    )
    stage = runner.Run(config)
    with strategy.scope():
        source_encoder, source_classifier = build_source_networks(
            source.image_shape,
            source.num_classes,
            input_standardization_from_name(FLAGS.input_standardization),
            FLAGS.padding,
        )
        model = compose_classifier(source_encoder, source_classifier, name="source_only")
        model.compile(
            optimizer=keras.optimizers.Adam(
                keras.optimizers.schedules.CosineDecay(FLAGS.source_learning_rate, FLAGS.source_steps)
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
    dataset = pipeline.labeled_dataset(
        source.x_train,
        source.y_train,
        FLAGS.source_batch_size,
        seed=stage.data_seed,
        augment=augment,
    )
    evaluation = ClassifierEvaluation(stage, model, eval_sets, source.class_names)
    curves = FigureCallback(
        stage,
        "curves",
        lambda: plots.curves_figure(
            stage.read_history(),
            ["accuracy", "eval/source_accuracy", "eval/target_accuracy"],
            "ADDA stage 1: source only",
        ),
    )
    if stage.initial_step >= FLAGS.source_steps:
        logging.info("Stage 1 already trained (%d steps): restoring it.", stage.initial_step)
    result = stage.train(model, dataset, callbacks=[evaluation, curves], examples_per_step=FLAGS.source_batch_size)
    return source_encoder, source_classifier, evaluation.results, result


def train_source_stages(output_dir, source, target, eval_sets, strategy):
    """Stage 1 once per --source_augmentations candidate; the one to adapt is chosen without target labels.

    Returns:
        (the chosen candidate's `train_source_stage` tuple, metrics.json entries on the choice).
    """
    if not FLAGS.source_augmentations:
        augment = common.augmentation_from_flags()
        return train_source_stage(output_dir / "source_stage", augment, source, eval_sets, strategy), {}
    images = common.selection_images(target)
    criterion = model_selection.CRITERION
    candidates, scores = {}, {}
    for kind in FLAGS.source_augmentations:
        # Every candidate starts from the same weights: train_source_stage's Run re-seeds first.
        augment = common.augmentation_from_flags(kind=kind)
        candidates[kind] = train_source_stage(output_dir / f"source_stage_{kind}", augment, source, eval_sets, strategy)
        encoder, classifier, results, _ = candidates[kind]
        score = model_selection.score_predictions(compose_classifier(encoder, classifier), images)
        scores[kind] = {**score, **{key: results[key] for key in ("source_test_accuracy", "target_test_accuracy")}}
        logging.info("Stage 1 with %s augmentation: %s %.4f.", kind, criterion, score[criterion])
    chosen = max(scores, key=lambda kind: scores[kind][criterion])
    logging.info("Adapting the source model trained with %s augmentation.", chosen)
    return candidates[chosen], {"source_stage_augmentation": chosen, "source_stage_candidates": scores}


def main(argv):
    del argv
    strategy = common.configure_devices()  # --precision, --distribution
    run = runner.Run(common.run_config_from_flags("adda"))
    common.write_flags(run)
    source, target = common.load_source_and_target()  # target training labels sealed
    eval_sets = {"source": (source.x_test, source.y_test), "target": (target.x_test, target.y_test)}

    (source_encoder, source_classifier, source_results, source_result), source_choice = train_source_stages(
        run.restore_checkpoint_dir.parent,  # the chief's run.output_dir
        source,
        target,
        eval_sets,
        strategy,
    )

    # Re-seeded so that stage 2 starts the same whether stage 1 was trained or
    # restored in this process.
    runner.seed_everything(FLAGS.seed)
    with strategy.scope():
        adda = ADDA(
            source_encoder,
            source_classifier,
            discriminator=build_discriminator(source_encoder.output.shape[-1], FLAGS.discriminator_units),
        )
        adda.compile(
            discriminator_optimizer=keras.optimizers.Adam(FLAGS.discriminator_learning_rate, beta_1=FLAGS.beta_1),
            target_encoder_optimizer=keras.optimizers.Adam(FLAGS.target_encoder_learning_rate, beta_1=FLAGS.beta_1),
        )
    dataset = pipeline.adaptation_dataset(
        source,
        target,
        FLAGS.batch_size,
        seed=run.data_seed,
        augment=common.augmentation_from_flags(seed_offset=1),
    )
    evaluation = ClassifierEvaluation(run, adda.classifier, eval_sets, source.class_names)
    curves = FigureCallback(
        run,
        "curves",
        lambda: plots.curves_figure(
            run.read_history(),
            [
                "discriminator_loss",
                "encoder_loss",
                "discriminator_accuracy",
                "eval/source_accuracy",
                "eval/target_accuracy",
            ],
            "ADDA stage 2: losses and accuracy",
        ),
    )
    selection = common.selection_from_flags(run, adda.classifier, target, adda.target_encoder)
    callbacks = [evaluation, curves] + ([selection] if selection else [])
    result = run.train(adda, dataset, callbacks=callbacks, examples_per_step=2 * FLAGS.batch_size)

    extra = {f"source_only_{key}": value for key, value in source_results.items()}
    extra.update(source_choice)
    extra.update(common.apply_selection(selection, evaluation))
    extra.update(
        common.label_free_scores(
            {"source_only_": compose_classifier(source_encoder, source_classifier), "": adda.classifier}, target
        )
    )
    extra.update(
        common.compare_embeddings(
            run,
            {"source_only": lambda x: adda.embed(x, encoder="source"), "adda": adda.embed},
            eval_sets,
            source,
            target,
            result.steps,
        )
    )

    path = export.export_classifier(adda.classifier, "adda_classifier", source.image_shape, *common.export_location())
    final = run.write_metrics(
        {
            **evaluation.results,
            **extra,
            "source_stage_steps": source_result.steps,
            "source_stage_wall_seconds": source_result.wall_seconds,
            "export_path": str(path),
        }
    )
    common.summarise(
        run,
        final,
        [
            "source_test_accuracy",
            "target_test_accuracy",
            "source_only_target_test_accuracy",
            "proxy_a_distance_source_only",
            "proxy_a_distance_adda",
        ],
    )


if __name__ == "__main__":
    common.run_app(main)
