"""The methods as the apps train them: networks from `kerasda.networks` wired into each model.

Each function only picks networks and passes them (and the method's
hyper-parameters) to the model's constructor; the models never build layers.
"""

from kerasda.models.acgan import ACGAN
from kerasda.models.cgan import CGAN
from kerasda.models.dann import DANN
from kerasda.models.dcgan import DCGAN
from kerasda.models.vae import VAE
from kerasda.networks import digits, gan, vae

GAN_MODELS = ("dcgan", "cgan", "acgan")


def build_digits_dann(
    input_shape=(32, 32, 3),
    num_classes=10,
    input_standardization=None,
    padding="same",
    batch_norm=False,
    feature_dropout=0.0,
    **kwargs,
):
    """DANN on the digits tower (conv32-conv48 features, fc100-fc100-fc10 labels).

    `input_standardization`, `padding`, `batch_norm` and `feature_dropout` go to
    `networks.digits.build_feature_extractor`; `kwargs` to `DANN`
    (use_gradient_reversal, lambda_schedule, gamma, lambda_max, total_steps, ...).
    """
    feature_extractor = digits.build_feature_extractor(
        input_shape, input_standardization, padding, batch_norm=batch_norm, feature_dropout=feature_dropout
    )
    label_predictor = digits.build_digits_label_predictor(feature_extractor.output.shape[-1], num_classes)
    return DANN(feature_extractor, label_predictor, **kwargs)


def build_gan(
    model="dcgan",
    latent_dim=100,
    ngf=64,
    ndf=64,
    image_shape=(32, 32, 1),
    num_classes=10,
    init="normal_002",
    condition_discriminator=True,
    seed=0,
):
    """A DCGAN, CGAN or ACGAN with matching networks (what `apps/train_gan.py` trains).

    Args:
        model: "dcgan", "cgan" or "acgan".
        latent_dim, ngf, ndf, image_shape, init: see `kerasda.networks.gan`.
        num_classes: classes of the conditional models (ignored by "dcgan").
        condition_discriminator: cGAN only; False = the cD(x) ablation.
        seed: seed of the model's noise.

    Returns:
        An uncompiled `DCGAN` / `CGAN` / `ACGAN`.
    """
    if model not in GAN_MODELS:
        raise ValueError(f"model must be one of {GAN_MODELS}, got {model!r}.")
    if model == "dcgan":
        return DCGAN(
            gan.build_generator(latent_dim, ngf, image_shape, None, init),
            gan.build_discriminator(ndf, image_shape, init),
            seed=seed,
        )
    generator = gan.build_generator(latent_dim, ngf, image_shape, num_classes, init)
    if model == "acgan":
        discriminator = gan.build_auxiliary_classifier_discriminator(num_classes, ndf, image_shape, init)
        return ACGAN(generator, discriminator, num_classes, seed=seed)
    if condition_discriminator:
        discriminator = gan.build_conditional_discriminator(num_classes, ndf, image_shape, init)
    else:
        discriminator = gan.build_discriminator(ndf, image_shape, init)
    return CGAN(generator, discriminator, num_classes, condition_discriminator=condition_discriminator, seed=seed)


def build_vae(
    image_shape=vae.IMAGE_SHAPE,
    latent_dim=vae.LATENT_DIM,
    beta=1.0,
    reconstruction_loss="bce",
    seed=None,
    kl_warmup_steps=0,
    free_bits=0.0,
):
    """The EndoVAE model (uncompiled) for `image_shape` images and a `latent_dim` latent."""
    return VAE(
        vae.build_encoder(image_shape, latent_dim),
        vae.build_decoder(image_shape, latent_dim),
        beta=beta,
        reconstruction_loss=reconstruction_loss,
        seed=seed,
        kl_warmup_steps=kl_warmup_steps,
        free_bits=free_bits,
        name="endovae",
    )
