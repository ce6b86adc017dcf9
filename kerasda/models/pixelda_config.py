"""PixelDA's hyper-parameters (`PixelDAConfig`, validated on construction) and its optimizer."""

import dataclasses

import keras

from kerasda.networks.pixelda import CLASSIFIER_KINDS


@dataclasses.dataclass
class PixelDAConfig:
    """Hyper-parameters of PixelDA; defaults are the paper's MNIST -> MNIST-M values.

    Architecture:
        image_shape: (H, W, C) of source, generated and target images.
        num_classes: number of task classes.
        noise_dim: size of the uniform [-1, 1] noise vector z.
        generator_filters, generator_blocks: width and depth of G's residual
            stack (paper: 64 filters, 6 blocks; a CPU budget may use 32 / 4).
        discriminator_filters: filters of D's first conv, doubled per stride-2 block.
        discriminator_dropout_rate: dropout on D's hidden layers (keep prob 0.9).
        discriminator_noise_stddev: Gaussian noise added to D's hidden layers.
        classifier: "private_shared" (private first layers for source and for
            generated images, shared upper layers) or "unified" (one tower).
        init_stddev: std of the N(0, std) initialisation of G and D.
        batch_norm_momentum: moving-average momentum of every batch norm.

    Losses:
        domain_loss_weight: weight of D's real-vs-generated loss in the D/T step.
        style_transfer_loss_weight: weight of G's non-saturating GAN loss.
        content_loss_weight: weight of the masked pairwise MSE between G(x_s)
            and x_s on the source foreground. The paper uses it for LineMOD
            (with a depth mask), not for digits, so it defaults to 0 here.
        task_loss_in_g_weight: weight of T's loss on generated images in the G step.
        semantic_loss_weight: weight of the semantic-consistency loss in the G
            step: T's source-image pathway, whose private layers never see G(x),
            must read G(x) as x's label (CyCADA's idea). T's generated-image
            pathway trains on G(x), so it and G can agree on a wrong class; the
            source pathway cannot. Not in the paper, so 0 by default; needs the
            private_shared classifier.
        source_task_loss_weight, generated_task_loss_weight: weights of T's
            cross-entropy on source and generated images in the D/T step.
        foreground_threshold: source pixels above it (in [-1, 1]) form the
            content-loss mask.

    Optimisation (one Adam per step):
        learning_rate, adam_beta1: Adam settings.
        lr_decay_steps, lr_decay_rate: staircase decay, lr * rate every steps.
        clip_norm: per-variable gradient-norm clip, as the official code's
            `clip_gradient_norm`.
    """

    image_shape: tuple = (32, 32, 3)
    num_classes: int = 10
    noise_dim: int = 10
    generator_filters: int = 64
    generator_blocks: int = 6
    discriminator_filters: int = 64
    discriminator_dropout_rate: float = 0.1
    discriminator_noise_stddev: float = 0.2
    classifier: str = "private_shared"
    init_stddev: float = 0.02
    batch_norm_momentum: float = 0.9
    domain_loss_weight: float = 0.1356
    style_transfer_loss_weight: float = 0.01132
    content_loss_weight: float = 0.0
    task_loss_in_g_weight: float = 0.01010
    semantic_loss_weight: float = 0.0
    source_task_loss_weight: float = 1.0
    generated_task_loss_weight: float = 1.0
    foreground_threshold: float = 0.0
    learning_rate: float = 1e-3
    adam_beta1: float = 0.5
    lr_decay_steps: int = 20000
    lr_decay_rate: float = 0.95
    clip_norm: float = 5.0

    def __post_init__(self):
        self.image_shape = tuple(int(d) for d in self.image_shape)
        if len(self.image_shape) != 3 or min(self.image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W, C) > 0, got {self.image_shape}.")
        for name in (
            "num_classes",
            "noise_dim",
            "generator_filters",
            "discriminator_filters",
            "lr_decay_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}.")
        if self.generator_blocks < 0:
            raise ValueError(f"generator_blocks must be >= 0, got {self.generator_blocks}.")
        if self.classifier not in CLASSIFIER_KINDS:
            raise ValueError(f"classifier must be one of {CLASSIFIER_KINDS}, got {self.classifier!r}.")
        if self.semantic_loss_weight > 0 and self.classifier == "unified":
            raise ValueError(
                "semantic_loss_weight > 0 needs classifier='private_shared': the unified T trains on "
                "G(x), so it can agree with G on a wrong class and anchors nothing."
            )
        if not 0.0 <= self.discriminator_dropout_rate < 1.0:
            raise ValueError(f"discriminator_dropout_rate must be in [0, 1), got {self.discriminator_dropout_rate}.")
        for name in (
            "discriminator_noise_stddev",
            "domain_loss_weight",
            "style_transfer_loss_weight",
            "content_loss_weight",
            "task_loss_in_g_weight",
            "semantic_loss_weight",
            "source_task_loss_weight",
            "generated_task_loss_weight",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        for name in ("init_stddev", "learning_rate", "clip_norm"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
        if not 0.0 <= self.batch_norm_momentum < 1.0:
            raise ValueError(f"batch_norm_momentum must be in [0, 1), got {self.batch_norm_momentum}.")
        if not 0.0 <= self.adam_beta1 < 1.0:
            raise ValueError(f"adam_beta1 must be in [0, 1), got {self.adam_beta1}.")
        if not 0.0 < self.lr_decay_rate <= 1.0:
            raise ValueError(f"lr_decay_rate must be in (0, 1], got {self.lr_decay_rate}.")
        if not -1.0 <= self.foreground_threshold < 1.0:
            raise ValueError(f"foreground_threshold must be in [-1, 1), got {self.foreground_threshold}.")


def make_optimizer(hparams, name=None):
    """PixelDA's optimizer from a PixelDAConfig: Adam with the paper's staircase decay and clipping.

    The learning rate is multiplied by `lr_decay_rate` every `lr_decay_steps`
    steps; each variable's gradient is clipped to norm `clip_norm`, as the
    official code's `clip_gradient_norm`.
    """
    schedule = keras.optimizers.schedules.ExponentialDecay(
        hparams.learning_rate,
        decay_steps=hparams.lr_decay_steps,
        decay_rate=hparams.lr_decay_rate,
        staircase=True,
    )
    return keras.optimizers.Adam(schedule, beta_1=hparams.adam_beta1, clipnorm=hparams.clip_norm, name=name)
