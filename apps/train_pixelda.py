"""PixelDA (Bousmalis et al., CVPR 2017): adapt source images to the target style, classify both.

    python -m apps.train_pixelda --flagfile=apps/configs/pixelda_mnist_to_mnistm.cfg
    python -m apps.train_pixelda --flagfile=apps/configs/pixelda_mnist_to_mnistm_cpu.cfg

Writes metrics.json (source / target / fake-target test accuracy, P/R/F1,
confusion matrices), figures (adaptation examples with nearest target
neighbours, noise variations, loss and accuracy curves; also as TensorBoard
images, refreshed every --eval_every steps), and two SavedModels: the task
classifier (`serving_default`) and the generator (`adapt(images, noise)`).
"""

import dataclasses

import numpy as np
from absl import flags, logging
from sklearn.metrics import pairwise_distances_argmin

from apps import common
from kerasda import distribute, export, runner
from kerasda.callbacks import ClassifierEvaluation, FigureCallback
from kerasda.data import pipeline
from kerasda.evaluation import plots
from kerasda.models.pixelda import PixelDA
from kerasda.models.pixelda_config import PixelDAConfig
from kerasda.networks.pixelda import CLASSIFIER_KINDS

FLAGS = flags.FLAGS
common.define_common_flags(default_max_steps=20000, default_batch_size=32)
common.define_augmentation_flag()

# PixelDAConfig fields settable from the command line; defaults come from the dataclass.
HPARAM_HELP = {
    "noise_dim": "Length of the uniform [-1, 1] noise vector z.",
    "generator_filters": "Filters of the generator's convolutions (paper: 64).",
    "generator_blocks": "Residual blocks of the generator (paper: 6).",
    "discriminator_filters": "Filters of D's first conv, doubled per stride-2 block (paper: 64).",
    "discriminator_dropout_rate": "Dropout on D's hidden layers (paper: keep prob 0.9).",
    "discriminator_noise_stddev": "Std of the Gaussian noise on D's hidden layers.",
    "classifier": "Task classifier: private_shared (paper) or unified (ablation).",
    "domain_loss_weight": "Weight of D's real-vs-generated loss in the D/T step.",
    "style_transfer_loss_weight": "Weight of G's non-saturating GAN loss.",
    "content_loss_weight": "Weight of the masked pairwise MSE content loss in the G step.",
    "task_loss_in_g_weight": "Weight of T's loss on generated images in the G step.",
    "semantic_loss_weight": "Weight of T's source pathway reading G(x) as x's label, in the G step (0 = paper).",
    "source_task_loss_weight": "Weight of T's loss on source images in the D/T step.",
    "generated_task_loss_weight": "Weight of T's loss on generated images in the D/T step.",
    "foreground_threshold": "Source pixels above it (in [-1, 1]) are the content-loss mask.",
    "learning_rate": "Adam learning rate of both steps.",
    "adam_beta1": "Adam beta_1.",
    "lr_decay_steps": "The learning rate is multiplied by lr_decay_rate every this many steps.",
    "lr_decay_rate": "Staircase learning-rate decay factor.",
    "clip_norm": "Per-variable gradient-norm clip.",
}
for _field in dataclasses.fields(PixelDAConfig):
    if _field.name not in HPARAM_HELP:
        continue
    if _field.name == "classifier":
        flags.DEFINE_enum(_field.name, _field.default, CLASSIFIER_KINDS, HPARAM_HELP[_field.name])
    elif isinstance(_field.default, int):
        flags.DEFINE_integer(_field.name, _field.default, HPARAM_HELP[_field.name])
    else:
        flags.DEFINE_float(_field.name, _field.default, HPARAM_HELP[_field.name])
flags.DEFINE_integer(
    "fake_target_eval_examples",
    1000,
    "Source test images adapted for the periodic fake-target accuracy (all of them at the end).",
)
flags.DEFINE_integer("num_examples", 10, "Columns of the adaptation-examples figure.")


def nearest_neighbours(queries, pool_uint8):
    """Index into `pool_uint8` of each query's nearest image (L2 in pixel space).

    Queries are images in [-1, 1]; both sides are compared on the uint8 pixel scale. scikit-learn
    scans the pool in chunks, so 60k training images never need a full distance matrix.
    """
    q = ((np.asarray(queries, np.float32) + 1.0) * 127.5).reshape(len(queries), -1)
    pool = np.asarray(pool_uint8, np.float32).reshape(len(pool_uint8), -1)
    return pairwise_distances_argmin(q, pool)


def adaptation_examples_figure(model, source, target, indices, noise):
    """Rows: source / generated / target with the same index / nearest target training image."""
    source_images = pipeline.to_model_range(source.x_test[indices])
    generated = model.adapt(source_images, noise).numpy()
    same_index = pipeline.to_model_range(target.x_test[indices])
    nearest = pipeline.to_model_range(target.x_train[nearest_neighbours(generated, target.x_train)])
    rows = [source_images, generated, same_index, nearest]
    return plots.image_grid_figure(
        np.concatenate(rows),
        len(rows),
        len(indices),
        row_titles=["source", "generated", f"{target.name}\nsame index", "nearest\ntrain image"],
        title="PixelDA: source -> generated",
    )


def noise_variations_figure(model, source, indices, noise):
    """One row per source digit: the digit, then G(digit, z) for each fixed noise vector z."""
    rows = []
    for index in indices:
        digit = pipeline.to_model_range(source.x_test[index : index + 1])
        generated = model.adapt(np.repeat(digit, len(noise), axis=0), noise).numpy()
        rows.append(np.concatenate([digit, generated]))
    return plots.image_grid_figure(
        np.concatenate(rows),
        len(indices),
        len(noise) + 1,
        title=f"one source digit under {len(noise)} noise vectors",
    )


def main(argv):
    del argv
    strategy = common.configure_devices()  # --precision, --distribution
    run = runner.Run(common.run_config_from_flags("pixelda"))
    common.write_flags(run)
    source, target = common.load_source_and_target()

    hparams = PixelDAConfig(
        image_shape=source.image_shape,
        num_classes=source.num_classes,
        **{name: FLAGS[name].value for name in HPARAM_HELP},
    )
    with strategy.scope():
        model = PixelDA(hparams, seed=FLAGS.seed)
        model.compile()
        distribute.synchronize_batch_norm(model, strategy)
    for network in (model.generator, model.discriminator, model.task_classifier):
        logging.info("%s: %d parameters", network.name, network.count_params())
    dataset = pipeline.adaptation_dataset(
        source, target, FLAGS.batch_size, seed=run.data_seed, augment=common.augmentation_from_flags()
    )

    def fake_target_logits(images, training=False):
        """T on G(source images): how well T classifies generated target-style images."""
        return model.task_classifier(model.adapt(images), training=False)

    class_names = source.class_names
    evaluations = [
        ClassifierEvaluation(run, model.source_classifier, {"source": (source.x_test, source.y_test)}, class_names),
        ClassifierEvaluation(run, model.task_classifier, {"target": (target.x_test, target.y_test)}, class_names),
        ClassifierEvaluation(
            run,
            fake_target_logits,
            {"fake_target": (source.x_test, source.y_test)},
            class_names,
            max_eval_examples=FLAGS.fake_target_eval_examples,
        ),
    ]
    rng = np.random.default_rng(FLAGS.seed)
    example_indices = np.arange(FLAGS.num_examples)
    example_noise = rng.uniform(-1, 1, (FLAGS.num_examples, hparams.noise_dim)).astype(np.float32)
    variation_noise = rng.uniform(-1, 1, (10, hparams.noise_dim)).astype(np.float32)
    figures = [
        FigureCallback(
            run,
            "adaptation_examples",
            lambda: adaptation_examples_figure(model, source, target, example_indices, example_noise),
        ),
        FigureCallback(
            run, "noise_variations", lambda: noise_variations_figure(model, source, [0, 1, 2], variation_noise)
        ),
        FigureCallback(
            run,
            "loss_curves",
            lambda: plots.curves_figure(
                run.read_history(),
                [
                    "domain_loss",
                    "style_transfer_loss",
                    "source_task_loss",
                    "generated_task_loss",
                    "g_task_loss",
                    "content_loss",
                    "semantic_loss",
                ],
                "PixelDA losses",
            ),
        ),
        FigureCallback(
            run,
            "accuracy_curves",
            lambda: plots.curves_figure(
                run.read_history(),
                [
                    "source_accuracy",
                    "generated_accuracy",
                    "discriminator_accuracy",
                    "eval/source_accuracy",
                    "eval/target_accuracy",
                    "eval/fake_target_accuracy",
                ],
                "accuracy",
            ),
        ),
    ]
    result = run.train(model, dataset, callbacks=evaluations + figures, examples_per_step=FLAGS.batch_size)

    classifier_dir = generator_dir = None
    export_root, export_dir = common.export_location()
    if export_dir:  # one explicit folder holds both SavedModels
        classifier_dir = f"{export_dir}/task_classifier"
        generator_dir = f"{export_dir}/generator"
    classifier_path = export.export_classifier(
        model.task_classifier, "pixelda_task_classifier", source.image_shape, export_root, classifier_dir
    )
    generator_path = export.export_model(model, "pixelda_generator", export_root, generator_dir)
    results = {}
    for evaluation in evaluations:
        results.update(evaluation.results)
    metrics = run.write_metrics(
        {
            **results,
            "train_steps_per_second": result.steps / result.wall_seconds if result.wall_seconds else None,
            "hparams": dataclasses.asdict(hparams),
            "export_path": str(classifier_path),
            "generator_export_path": str(generator_path),
        }
    )
    common.summarise(run, metrics, ["source_test_accuracy", "target_test_accuracy", "fake_target_test_accuracy"])


if __name__ == "__main__":
    common.run_app(main)
