"""ACGAN (Odena et al., 2017): G(z, c), and a discriminator that also classifies.

D sees the image alone and outputs P(S | X), S in {real, fake}, and
P(C | X), the class. With

    L_S = E[log P(S=real | X_real)] + E[log P(S=fake | X_fake)]
    L_C = E[log P(C=c | X_real)]    + E[log P(C=c | X_fake)]

D maximises L_S + L_C and G maximises L_C - L_S. As losses to minimise (batch
means, each expectation a mean over its batch):

    D: (BCE(real -> 1) + BCE(fake -> 0)) / 2 + (CE(c | X_real) + CE(c | X_fake)) / 2
       = -(L_S + L_C) / 2
    G: adversarial(fake logits) + CE(c | X_fake)

With `generator_loss="minimax"` the adversarial term is log(1 - D(G(z))), the
G-dependent part of L_S, so G minimises exactly L_S - L_C; the default
non-saturating term -log D(G(z)) has the same fixed point and stronger early
gradients, as in DCGAN.
"""

from keras import ops

from kerasda import losses
from kerasda.models.cgan import CGAN
from kerasda.models.dcgan import _expect_io


def acgan_discriminator_loss(
    real_logits,
    fake_logits,
    real_class_logits,
    fake_class_logits,
    real_labels,
    fake_labels,
    label_smoothing=0.0,
):
    """-(L_S + L_C) / 2: D's source loss plus its class loss on both batches.

    Args:
        real_logits, fake_logits: [B, 1] real/fake logits of real and generated images.
        real_class_logits, fake_class_logits: [B, K] class logits of both batches.
        real_labels: int [B], the true classes of the real batch.
        fake_labels: int [B], the classes the generator was asked for.
        label_smoothing: one-sided smoothing of the real/fake targets only.

    Returns:
        Scalar loss.
    """
    source_loss = losses.discriminator_loss(real_logits, fake_logits, label_smoothing)
    class_loss = 0.5 * (
        losses.sparse_classification_loss(real_labels, real_class_logits)
        + losses.sparse_classification_loss(fake_labels, fake_class_logits)
    )
    return source_loss + class_loss


def acgan_generator_loss(
    fake_logits,
    fake_class_logits,
    fake_labels,
    adversarial_loss=losses.generator_loss_non_saturating,
):
    """G's loss: `adversarial_loss(fake_logits)` + CE of the requested class.

    Args:
        fake_logits: [B, 1] D's real/fake logits of G(z, c).
        fake_class_logits: [B, K] D's class logits of G(z, c).
        fake_labels: int [B], the requested classes c.
        adversarial_loss: one of `kerasda.losses.GENERATOR_LOSSES`.
    """
    return adversarial_loss(fake_logits) + losses.sparse_classification_loss(
        fake_labels, fake_class_logits
    )


def _accuracy(labels, class_logits):
    predicted = ops.argmax(class_logits, axis=-1)
    return ops.mean(ops.cast(ops.equal(predicted, ops.cast(labels, predicted.dtype)), "float32"))


class ACGAN(CGAN):
    """Auxiliary-classifier GAN.

    Args:
        generator: model (noise, int labels) -> images in [-1, 1]
            (`gan_networks.build_generator(num_classes=...)`).
        discriminator: model images -> [real/fake logits [B, 1], class logits
            [B, num_classes]] (`gan_networks.build_auxiliary_classifier_discriminator`).
        num_classes: number of classes.
        seed: seed of the noise `SeedGenerator`.
        name: model name.

    Besides the DCGAN trackers it reports `d_class_loss` (D's class term),
    `g_class_loss` (G's), and D's class accuracy on real images
    (`class_acc_real`) and on samples w.r.t. the requested class
    (`class_acc_fake`).
    """

    tracker_names = CGAN.tracker_names + (
        "d_class_loss",
        "g_class_loss",
        "class_acc_real",
        "class_acc_fake",
    )

    def __init__(self, generator, discriminator, num_classes=10, seed=0, name="acgan", **kwargs):
        super().__init__(
            generator,
            discriminator,
            num_classes=num_classes,
            condition_discriminator=False,  # D reads images only; it predicts c
            seed=seed,
            name=name,
            **kwargs,
        )

    def _check_networks(self):
        _expect_io(self.generator, "conditional generator", num_inputs=2, num_outputs=1)
        _expect_io(self.discriminator, "ACGAN discriminator", num_inputs=1, num_outputs=2)
        classes = self.discriminator.outputs[1].shape[-1]
        if classes != self.num_classes:
            raise ValueError(
                f"The ACGAN discriminator's class head has {classes} outputs but "
                f"num_classes={self.num_classes}."
            )

    def _discriminator_objective(self, real_outputs, fake_outputs, labels):
        (real_logits, real_class_logits), (fake_logits, fake_class_logits) = (
            real_outputs,
            fake_outputs,
        )
        d_loss = acgan_discriminator_loss(
            real_logits,
            fake_logits,
            real_class_logits,
            fake_class_logits,
            labels,
            labels,
            self.label_smoothing,
        )
        class_loss = 0.5 * (
            losses.sparse_classification_loss(labels, real_class_logits)
            + losses.sparse_classification_loss(labels, fake_class_logits)
        )
        return d_loss, {
            "d_loss": d_loss,
            "d_real": ops.mean(ops.sigmoid(real_logits)),
            "d_fake": ops.mean(ops.sigmoid(fake_logits)),
            "d_class_loss": class_loss,
            "class_acc_real": _accuracy(labels, real_class_logits),
            "class_acc_fake": _accuracy(labels, fake_class_logits),
        }

    def _generator_objective(self, fake_outputs, labels):
        fake_logits, fake_class_logits = fake_outputs
        g_loss = acgan_generator_loss(
            fake_logits, fake_class_logits, labels, self.adversarial_generator_loss
        )
        return g_loss, {
            "g_loss": g_loss,
            "g_class_loss": losses.sparse_classification_loss(labels, fake_class_logits),
        }
