"""Domain-adversarial neural network (Ganin & Lempitsky, ICML 2015; JMLR 2016).

Three parts share one optimizer step:

    images --feature_extractor--> features --label_predictor--> class logits  (source only)
                                      |
                                      +--gradient_reversal--> fc100 -> fc1 --> domain logit
                                                                  (source -> 0, target -> 1)

The label loss trains feature extractor and label predictor on labelled source
images; the domain loss trains the domain classifier to tell source from target
features, while the gradient reversal layer hands the feature extractor the
*negated* gradient, so the features become indistinguishable between domains.
Target labels are never an input of `train_step`.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasda import export, losses, precision
from kerasda.layers.gradient_reversal import find_gradient_reversal_layers
from kerasda.models.training import descend, deserialize, serialize
from kerasda.networks.dann import build_domain_classifier
from kerasda.schedules import LAMBDA_SCHEDULES, AdaptationSchedule


@keras.saving.register_keras_serializable(package="kerasda")
class DANN(keras.Model):
    """Domain-adversarial training of a classifier (one `train_step`).

    Args:
        feature_extractor: functional model, images -> flat features.
        label_predictor: functional model, features -> class logits.
        domain_classifier: functional model, features -> one domain logit, with a
            `GradientReversal` layer inside unless `use_gradient_reversal` is
            False. Default: `build_domain_classifier`.
        use_gradient_reversal: False trains the same three-part network without
            reversal (label loss + domain loss minimised by every part).
        lambda_schedule: "paper" (lambda rises 0 -> lambda_max as
            `2 / (1 + exp(-gamma p)) - 1`), "constant" (lambda_max from step 0),
            or "external" (the model leaves the layer's lambda alone, e.g. for
            `kerasda.callbacks.lambda_scheduler.GradientReversalScheduler`).
        gamma: steepness of the paper schedule (10).
        lambda_max: the final (or constant) reversal strength (1).
        total_steps: training length; progress `p = step / total_steps` where
            step is `optimizer.iterations`, so a resumed run continues the schedule.
        target_entropy_weight: weight of the conditional entropy of the label
            predictor on target images (`losses.conditional_entropy`); 0, the
            paper's DANN, leaves target images to the domain loss alone.
        separate_domain_batches: pass source and target images through the
            feature extractor as two batches instead of one, so that batch
            normalisation inside it normalises each domain with its own
            statistics while training (the moving statistics used at inference
            average both). Without batch normalisation it changes nothing.

    Data: `train_step` takes `((source_images, source_labels), target_images)`,
    as built by `kerasda.data.pipeline.adaptation_dataset`.

    Example:
        >>> dann = build_digits_dann(total_steps=10_000)   # kerasda.models.builders
        >>> dann.compile(optimizer=build_optimizer("sgd", 0.01, total_steps=10_000))
        >>> dann.fit(adaptation_ds, steps_per_epoch=1000, epochs=10)
        >>> logits = dann.classifier(images)
    """

    def __init__(
        self,
        feature_extractor,
        label_predictor,
        domain_classifier=None,
        *,
        use_gradient_reversal=True,
        lambda_schedule="paper",
        gamma=10.0,
        lambda_max=1.0,
        total_steps=10_000,
        target_entropy_weight=0.0,
        separate_domain_batches=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if lambda_schedule not in LAMBDA_SCHEDULES:
            raise ValueError(f"lambda_schedule must be one of {LAMBDA_SCHEDULES}, got {lambda_schedule!r}.")
        self.feature_extractor = feature_extractor
        self.label_predictor = label_predictor
        if domain_classifier is None:
            domain_classifier = build_domain_classifier(
                feature_extractor.output.shape[-1],
                use_gradient_reversal=use_gradient_reversal,
            )
        self.domain_classifier = domain_classifier
        reversal_layers = find_gradient_reversal_layers(domain_classifier)
        if use_gradient_reversal and len(reversal_layers) != 1:
            raise ValueError(
                "domain_classifier must contain exactly one GradientReversal layer when "
                f"use_gradient_reversal=True; found {len(reversal_layers)}."
            )
        if not use_gradient_reversal and reversal_layers:
            raise ValueError("use_gradient_reversal=False but domain_classifier contains a GradientReversal layer.")
        self.gradient_reversal = reversal_layers[0] if reversal_layers else None
        self.use_gradient_reversal = bool(use_gradient_reversal)
        self.lambda_schedule = lambda_schedule
        self.gamma = float(gamma)
        self.lambda_max = float(lambda_max)
        self.total_steps = int(total_steps)
        if target_entropy_weight < 0:
            raise ValueError(f"target_entropy_weight must be >= 0, got {target_entropy_weight!r}.")
        self.target_entropy_weight = float(target_entropy_weight)
        self.separate_domain_batches = bool(separate_domain_batches)
        if lambda_schedule != "external":
            self.adaptation_schedule = AdaptationSchedule(
                total_steps, kind=lambda_schedule, gamma=gamma, lambda_max=lambda_max
            )
        else:
            self.adaptation_schedule = None
        self._classifier = None

        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.label_loss_tracker = keras.metrics.Mean(name="label_loss")
        self.label_accuracy = keras.metrics.SparseCategoricalAccuracy(name="label_accuracy")
        self.domain_loss_tracker = keras.metrics.Mean(name="domain_loss")
        self.domain_accuracy = keras.metrics.BinaryAccuracy(
            name="domain_accuracy",
            threshold=0.0,  # on logits
        )
        self.lambda_tracker = keras.metrics.Mean(name="lambda")
        self.target_entropy_tracker = keras.metrics.Mean(name="target_entropy")
        # The sub-networks are functional models, built with fixed input shapes.
        self.built = True

    # -- training ---------------------------------------------------------------

    def compile(self, optimizer="sgd", **kwargs):
        super().compile(optimizer=precision.loss_scaled(optimizer), **kwargs)
        # Built here so that a checkpoint restores the slot variables into it.
        self.optimizer.build(self.trainable_variables)

    def compile_from_config(self, config):
        # Keras skips custom `compile` methods on load unless this is overridden.
        self.compile(**keras.saving.deserialize_keras_object(config))

    @property
    def metrics(self):
        trackers = [
            self.loss_tracker,
            self.label_loss_tracker,
            self.label_accuracy,
            self.domain_loss_tracker,
            self.domain_accuracy,
        ]
        if self.gradient_reversal is not None:
            trackers.append(self.lambda_tracker)
        if self.target_entropy_weight > 0:
            trackers.append(self.target_entropy_tracker)
        return trackers

    def _update_lambda(self):
        """Sets the GRL strength for this step from `optimizer.iterations`.

        Computed in the graph, so it is exact at every step whatever
        `steps_per_execution` is, costs nothing, and resumes with the optimizer.
        """
        if self.gradient_reversal is None:
            return
        if self.lambda_schedule != "external":
            self.gradient_reversal.lambda_.assign(self.adaptation_schedule(self.optimizer.iterations))

    def compute_losses(self, data, training=False):
        """Both heads on ((source images, labels), target images): the three losses, their sum, and the logits."""
        (source_images, source_labels), target_images = data
        num_source = tf.shape(source_images)[0]
        if self.separate_domain_batches:
            features = tf.concat(
                [
                    self.feature_extractor(source_images, training=training),
                    self.feature_extractor(target_images, training=training),
                ],
                axis=0,
            )
        else:
            features = self.feature_extractor(tf.concat([source_images, target_images], axis=0), training=training)
        class_logits = self.label_predictor(features[:num_source], training=training)
        target_entropy = tf.constant(0.0)
        if self.target_entropy_weight > 0:
            target_entropy = losses.conditional_entropy(self.label_predictor(features[num_source:], training=training))
        domain_logits = self.domain_classifier(features, training=training)
        source_domain_logits = domain_logits[:num_source]
        target_domain_logits = domain_logits[num_source:]
        label_loss = losses.sparse_classification_loss(source_labels, class_logits)
        domain_loss = losses.domain_classification_loss(source_domain_logits, target_domain_logits)
        return {
            "source_labels": source_labels,
            "class_logits": class_logits,
            "domain_labels": tf.concat(
                [tf.zeros_like(source_domain_logits), tf.ones_like(target_domain_logits)],
                axis=0,
            ),
            "domain_logits": domain_logits,
            "label_loss": label_loss,
            "domain_loss": domain_loss,
            "target_entropy": target_entropy,
            # The GRL makes this single sum a min-max game: see the module docstring.
            "loss": label_loss + domain_loss + self.target_entropy_weight * target_entropy,
        }

    def _update_trackers(self, out):
        self.loss_tracker.update_state(out["loss"])
        self.label_loss_tracker.update_state(out["label_loss"])
        self.label_accuracy.update_state(out["source_labels"], out["class_logits"])
        self.domain_loss_tracker.update_state(out["domain_loss"])
        self.domain_accuracy.update_state(out["domain_labels"], out["domain_logits"])
        if self.gradient_reversal is not None:
            self.lambda_tracker.update_state(self.gradient_reversal.lambda_)
        if self.target_entropy_weight > 0:
            self.target_entropy_tracker.update_state(out["target_entropy"])
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data):
        self._update_lambda()
        with tf.GradientTape() as tape:
            out = self.compute_losses(data, training=True)
        descend(tape, out["loss"], self.trainable_variables, self.optimizer)
        return self._update_trackers(out)

    def test_step(self, data):
        return self._update_trackers(self.compute_losses(data, training=False))

    # -- inference ----------------------------------------------------------------

    def call(self, images, training=False):
        """Class logits of `images` (the adapted classifier)."""
        return self.label_predictor(self.feature_extractor(images, training=training), training=training)

    @property
    def classifier(self):
        """A functional keras.Model images -> class logits sharing DANN's weights."""
        if self._classifier is None:
            inputs = keras.Input(shape=self.feature_extractor.input_shape[1:], name="images")
            logits = self.label_predictor(self.feature_extractor(inputs))
            self._classifier = keras.Model(inputs, logits, name="dann_classifier")
        return self._classifier

    def embed(self, images, batch_size=512):
        """Feature-extractor outputs of `images` (in the model's input range) as numpy."""
        images = np.asarray(images)
        if not len(images):
            return np.zeros((0, self.feature_extractor.output.shape[-1]), np.float32)
        return self.feature_extractor.predict(images, batch_size=batch_size, verbose=0)

    def serving_endpoints(self):
        """The adapted classifier's signatures: `export.classifier_endpoints` of `classifier`."""
        return export.classifier_endpoints(self.classifier, self.feature_extractor.input_shape[1:])

    # -- serialisation --------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "feature_extractor": serialize(self.feature_extractor),
            "label_predictor": serialize(self.label_predictor),
            "domain_classifier": serialize(self.domain_classifier),
            "use_gradient_reversal": self.use_gradient_reversal,
            "lambda_schedule": self.lambda_schedule,
            "gamma": self.gamma,
            "lambda_max": self.lambda_max,
            "total_steps": self.total_steps,
            "target_entropy_weight": self.target_entropy_weight,
            "separate_domain_batches": self.separate_domain_batches,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize(config, ("feature_extractor", "label_predictor", "domain_classifier")))
