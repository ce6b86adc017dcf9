"""Adversarial discriminative domain adaptation (Tzeng et al., CVPR 2017).

Two stages:

1. Pre-training: a source encoder M_s and a source classifier C learn the
   labels of the source domain (an ordinary supervised model, see
   `kerasda.networks.adda.compose_classifier`).
2. Adversarial adaptation (`ADDA.train_step`): a target encoder M_t, started
   as an exact copy of M_s with its own variables, learns to map target images
   to features that a discriminator cannot tell from M_s's source features:

       source images --source_encoder (frozen)--> features --+
                                                              +--discriminator--> logit
       target images --target_encoder ----------> features --+     (source -> 1)

   The discriminator learns source -> 1, target -> 0; the target encoder
   learns with the labels inverted (target -> 1, the non-saturating GAN loss).
   M_s and C never change in this stage, so the source features are a fixed
   goal and C still reads the target features at test time: the adapted
   model is `source_classifier(target_encoder(images))`.

Unlike DANN the two domains have untied encoders, and the adversarial game is
a GAN's, not a gradient reversal. Target labels are never an input of
`train_step`.
"""

import keras
import numpy as np
import tensorflow as tf

from kerasda import export, losses, precision
from kerasda.models.training import adversarial_adam, descend, deserialize, serialize
from kerasda.networks.adda import build_discriminator, compose_classifier, copy_encoder


@keras.saving.register_keras_serializable(package="kerasda")
class ADDA(keras.Model):
    """Stage 2 of ADDA: adapt a target encoder to a trained source encoder.

    Args:
        source_encoder: trained functional model, images -> flat features. Frozen.
        source_classifier: trained functional model, features -> class logits (the
            paper's C, shared by both domains). Frozen.
        target_encoder: model of the same architecture; default (and the
            paper's start): an exact copy of `source_encoder` with its own
            variables.
        discriminator: features -> one domain logit; default
            `build_discriminator` (fc500-fc500-fc1).

    Data: `train_step` takes `((source_images, source_labels), target_images)`,
    as built by `kerasda.data.pipeline.adaptation_dataset`; source labels are
    not used in this stage.

    Example:
        >>> source_encoder, source_classifier = build_source_networks((28, 28, 3), 10)
        >>> ... train compose_classifier(source_encoder, source_classifier) on source labels ...
        >>> adda = ADDA(source_encoder, source_classifier)
        >>> adda.compile()      # Adam(2e-4, beta_1=0.5) for each player
        >>> adda.fit(adaptation_ds, steps_per_epoch=1000, epochs=3)
        >>> logits = adda.classifier(target_images)
    """

    def __init__(self, source_encoder, source_classifier, target_encoder=None, discriminator=None, **kwargs):
        super().__init__(**kwargs)
        feature_dim = source_encoder.output.shape[-1]
        if source_classifier.input.shape[-1] != feature_dim:
            raise ValueError(
                f"source_classifier takes {source_classifier.input.shape[-1]} features but "
                f"the source encoder gives {feature_dim}."
            )
        if target_encoder is None:
            target_encoder = copy_encoder(source_encoder)
        for name, shape, expected in (
            ("input", target_encoder.input_shape, source_encoder.input_shape),
            ("output", target_encoder.output_shape, source_encoder.output_shape),
        ):
            if tuple(shape) != tuple(expected):
                raise ValueError(f"target_encoder {name} shape {shape} differs from the source encoder's {expected}.")
        if discriminator is None:
            discriminator = build_discriminator(feature_dim)
        if discriminator.input.shape[-1] != feature_dim:
            raise ValueError(
                f"discriminator takes {discriminator.input.shape[-1]} features but the encoders give {feature_dim}."
            )
        # Stage 2 never moves what stage 1 learned: the source features are the goal.
        source_encoder.trainable = False
        source_classifier.trainable = False
        self.source_encoder = source_encoder
        self.source_classifier = source_classifier
        self.target_encoder = target_encoder
        self.discriminator = discriminator
        self._classifier = None

        self.discriminator_loss_tracker = keras.metrics.Mean(name="discriminator_loss")
        self.encoder_loss_tracker = keras.metrics.Mean(name="encoder_loss")
        self.discriminator_accuracy = keras.metrics.BinaryAccuracy(
            name="discriminator_accuracy",
            threshold=0.0,  # on logits
        )
        self.discriminator_optimizer = None
        self.target_encoder_optimizer = None
        # The networks are functional models with fixed input shapes.
        self.built = True

    # -- training ---------------------------------------------------------------

    def compile(self, discriminator_optimizer=None, target_encoder_optimizer=None, **kwargs):
        """Sets and builds one optimizer per player (default Adam(2e-4, beta_1=0.5)).

        Both are built here so that a checkpoint restores their slots. The
        target encoder's is also Keras' `model.optimizer`, whose `iterations`
        count the steps.
        """
        self.discriminator_optimizer = precision.loss_scaled(
            discriminator_optimizer or adversarial_adam(name="discriminator_optimizer")
        )
        self.target_encoder_optimizer = precision.loss_scaled(
            target_encoder_optimizer or adversarial_adam(name="target_encoder_optimizer")
        )
        super().compile(optimizer=self.target_encoder_optimizer, **kwargs)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)
        self.target_encoder_optimizer.build(self.target_encoder.trainable_variables)

    def get_compile_config(self):
        return {
            "discriminator_optimizer": keras.saving.serialize_keras_object(self.discriminator_optimizer),
            "target_encoder_optimizer": keras.saving.serialize_keras_object(self.target_encoder_optimizer),
        }

    def compile_from_config(self, config):
        # Keras skips custom `compile` methods on load unless this is overridden.
        self.compile(**{k: keras.saving.deserialize_keras_object(v) for k, v in config.items()})

    @property
    def metrics(self):
        return [self.discriminator_loss_tracker, self.encoder_loss_tracker, self.discriminator_accuracy]

    @staticmethod
    def _unpack(data):
        (source_images, _), target_images = data
        if isinstance(target_images, (tuple, list)):
            raise ValueError(
                "ADDA got (target_images, target_labels): unsupervised adaptation must not see "
                "target labels. Build the data with pipeline.adaptation_dataset."
            )
        return source_images, target_images

    def train_step(self, data):
        source_images, target_images = self._unpack(data)
        # The frozen source encoder's features are the "real" samples of this GAN.
        source_features = self.source_encoder(source_images, training=False)

        # 1. Discriminator step: source features -> 1, target features -> 0.
        target_features = self.target_encoder(target_images, training=True)
        with tf.GradientTape() as tape:
            source_logits = self.discriminator(source_features, training=True)
            target_logits = self.discriminator(target_features, training=True)
            discriminator_loss = losses.discriminator_loss(source_logits, target_logits)
        descend(tape, discriminator_loss, self.discriminator.trainable_variables, self.discriminator_optimizer)

        # 2. Target encoder step, labels inverted: target features should pass as source.
        with tf.GradientTape() as tape:
            target_features = self.target_encoder(target_images, training=True)
            fooled_logits = self.discriminator(target_features, training=True)
            encoder_loss = losses.generator_loss_non_saturating(fooled_logits)
        descend(tape, encoder_loss, self.target_encoder.trainable_variables, self.target_encoder_optimizer)

        return self._update_trackers(discriminator_loss, encoder_loss, source_logits, target_logits)

    def test_step(self, data):
        """The same losses as `train_step` in inference mode, with no updates."""
        source_images, target_images = self._unpack(data)
        source_features = self.source_encoder(source_images, training=False)
        target_features = self.target_encoder(target_images, training=False)
        source_logits = self.discriminator(source_features, training=False)
        target_logits = self.discriminator(target_features, training=False)
        discriminator_loss = losses.discriminator_loss(source_logits, target_logits)
        encoder_loss = losses.generator_loss_non_saturating(target_logits)
        return self._update_trackers(discriminator_loss, encoder_loss, source_logits, target_logits)

    def _update_trackers(self, discriminator_loss, encoder_loss, source_logits, target_logits):
        self.discriminator_loss_tracker.update_state(discriminator_loss)
        self.encoder_loss_tracker.update_state(encoder_loss)
        self.discriminator_accuracy.update_state(
            tf.concat([tf.ones_like(source_logits), tf.zeros_like(target_logits)], axis=0),
            tf.concat([source_logits, target_logits], axis=0),
        )
        return {m.name: m.result() for m in self.metrics}

    # -- inference ----------------------------------------------------------------

    def call(self, images, training=False):
        """Class logits of target-domain `images` (the adapted classifier)."""
        return self.source_classifier(self.target_encoder(images, training=training), training=training)

    @property
    def classifier(self):
        """The adapted model, a functional keras.Model:
        images -> source_classifier(target_encoder(images))."""
        if self._classifier is None:
            self._classifier = compose_classifier(self.target_encoder, self.source_classifier, name="adda_classifier")
        return self._classifier

    def embed(self, images, encoder="target", batch_size=512):
        """Features of `images` (in the model's input range) as numpy.

        Args:
            encoder: "target" (the adapted encoder) or "source" (the stage-1
                encoder, i.e. the source-only features).
        """
        encoders = {"target": self.target_encoder, "source": self.source_encoder}
        if encoder not in encoders:
            raise ValueError(f"encoder must be 'target' or 'source', got {encoder!r}.")
        network = encoders[encoder]
        images = np.asarray(images)
        if not len(images):
            return np.zeros((0, network.output.shape[-1]), np.float32)
        return network.predict(images, batch_size=batch_size, verbose=0)

    def serving_endpoints(self):
        """The adapted classifier's signatures: `export.classifier_endpoints` of `classifier`."""
        return export.classifier_endpoints(self.classifier, self.target_encoder.input_shape[1:])

    # -- serialisation --------------------------------------------------------------

    def get_config(self):
        return {
            "name": self.name,
            "source_encoder": serialize(self.source_encoder),
            "source_classifier": serialize(self.source_classifier),
            "target_encoder": serialize(self.target_encoder),
            "discriminator": serialize(self.discriminator),
        }

    @classmethod
    def from_config(cls, config):
        keys = ("source_encoder", "source_classifier", "target_encoder", "discriminator")
        return cls(**deserialize(config, keys))
