"""Loss functions shared by every method, as pure functions of tensors.

Each returns a scalar (the batch mean unless stated otherwise), takes its
weights as arguments and has no state, so it can be unit-tested against values
computed by hand (the TF-GAN convention).
"""

import tensorflow as tf


def _bce_with_logits(labels, logits):
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, logits.dtype), logits=logits)


def discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """Binary cross-entropy of a discriminator: real -> 1, fake -> 0.

    Args:
        real_logits: logits the discriminator gives real samples.
        fake_logits: logits it gives generated samples.
        label_smoothing: one-sided smoothing; real targets become
            `1 - label_smoothing` (Salimans et al., 2016).

    Returns:
        Mean loss over both batches (each batch weighted equally).
    """
    real_loss = _bce_with_logits(tf.ones_like(real_logits) * (1.0 - label_smoothing), real_logits)
    fake_loss = _bce_with_logits(tf.zeros_like(fake_logits), fake_logits)
    return 0.5 * (tf.reduce_mean(real_loss) + tf.reduce_mean(fake_loss))


def generator_loss_non_saturating(fake_logits):
    """`-log D(G(z))`: strong gradients early in training (Goodfellow et al.)."""
    return tf.reduce_mean(_bce_with_logits(tf.ones_like(fake_logits), fake_logits))


def generator_loss_minimax(fake_logits):
    """`log(1 - D(G(z)))`, the original minimax objective (saturates early)."""
    return -tf.reduce_mean(_bce_with_logits(tf.zeros_like(fake_logits), fake_logits))


GENERATOR_LOSSES = {
    "non_saturating": generator_loss_non_saturating,
    "minimax": generator_loss_minimax,
}


def acgan_discriminator_loss(
    real_logits,
    fake_logits,
    real_class_logits,
    fake_class_logits,
    real_labels,
    fake_labels,
    label_smoothing=0.0,
):
    """ACGAN's discriminator loss, -(L_S + L_C) / 2 (Odena et al., 2017).

    L_S = E[log P(S=real | X_real)] + E[log P(S=fake | X_fake)] is the source
    term, L_C = E[log P(C=c | X_real)] + E[log P(C=c | X_fake)] the class term;
    each expectation is a batch mean.

    Args:
        real_logits, fake_logits: [B, 1] real/fake logits of real and generated images.
        real_class_logits, fake_class_logits: [B, K] class logits of both batches.
        real_labels: int [B], the true classes of the real batch.
        fake_labels: int [B], the classes the generator was asked for.
        label_smoothing: one-sided smoothing of the real/fake targets only.

    Returns:
        Scalar loss.
    """
    source_loss = discriminator_loss(real_logits, fake_logits, label_smoothing)
    class_loss = 0.5 * (
        sparse_classification_loss(real_labels, real_class_logits)
        + sparse_classification_loss(fake_labels, fake_class_logits)
    )
    return source_loss + class_loss


def acgan_generator_loss(
    fake_logits,
    fake_class_logits,
    fake_labels,
    adversarial_loss=generator_loss_non_saturating,
):
    """ACGAN's generator loss: `adversarial_loss(fake_logits)` + CE of the requested class.

    With `generator_loss_minimax` it is exactly L_S - L_C of the fake batch;
    the non-saturating term has the same fixed point and stronger early gradients.

    Args:
        fake_logits: [B, 1] D's real/fake logits of G(z, c).
        fake_class_logits: [B, K] D's class logits of G(z, c).
        fake_labels: int [B], the requested classes c.
        adversarial_loss: one of `GENERATOR_LOSSES`.
    """
    return adversarial_loss(fake_logits) + sparse_classification_loss(fake_labels, fake_class_logits)


def domain_classification_loss(source_logits, target_logits):
    """Binary cross-entropy of a domain classifier: source -> 0, target -> 1."""
    return discriminator_loss(target_logits, source_logits)


def sparse_classification_loss(labels, logits):
    """Mean softmax cross-entropy for integer labels."""
    return tf.reduce_mean(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)
    )


def conditional_entropy(logits):
    """Mean entropy (nats) of the softmax of `logits`: 0 for one-hot predictions, log(K) for uniform.

    Minimised on unlabelled target images, it pushes the decision boundary away from dense target
    regions (the cluster assumption; Grandvalet & Bengio 2005, used by VADA, Shu et al. 2018).
    """
    log_probabilities = tf.nn.log_softmax(logits, axis=-1)
    return -tf.reduce_mean(tf.reduce_sum(tf.exp(log_probabilities) * log_probabilities, axis=-1))


def masked_pairwise_mse(predictions, targets, mask):
    """Masked pairwise mean squared error (Eigen et al.; PixelDA's content loss).

    Penalises differences between *pairs* of pixel values inside the mask, not
    the pixel values themselves, so the generator may shift the overall colour
    of the foreground while keeping its shape:

        PMSE = 1/k sum(d^2) - 1/k^2 (sum d)^2,   d = (predictions - targets) * mask,

    computed per image over the k masked entries (k counts pixels times
    channels) and averaged over the batch.

    Args:
        predictions: [B, H, W, C] generated images.
        targets: [B, H, W, C] source images.
        mask: broadcastable to predictions, 1 where content must be kept.

    Returns:
        Scalar loss; 0 for images whose mask is empty.
    """
    predictions = tf.convert_to_tensor(predictions)
    mask = tf.cast(tf.broadcast_to(mask, tf.shape(predictions)), predictions.dtype)
    diff = (predictions - tf.cast(targets, predictions.dtype)) * mask
    axes = tf.range(1, tf.rank(diff))
    count = tf.reduce_sum(mask, axis=axes)
    safe_count = tf.maximum(count, 1.0)
    mean_sq = tf.reduce_sum(tf.square(diff), axis=axes) / safe_count
    sq_mean = tf.square(tf.reduce_sum(diff, axis=axes)) / tf.square(safe_count)
    per_image = tf.where(count > 0, mean_sq - sq_mean, tf.zeros_like(count))
    return tf.reduce_mean(per_image)


def foreground_mask(source_images, threshold=0.0):
    """[B, H, W, 1] mask, 1 where any channel of the source image exceeds `threshold`.

    For digits in [-1, 1] on a -1 background this is the stroke, the part of
    the image whose content a pixel-level generator must keep.
    """
    source_images = tf.convert_to_tensor(source_images)
    above = tf.reduce_max(source_images, axis=-1, keepdims=True) > threshold
    return tf.cast(above, source_images.dtype)


def content_similarity_loss(source_images, generated_images, threshold=0.0):
    """PixelDA's content loss: masked pairwise MSE between G(x_s) and x_s on the source foreground.

    Pairwise (not plain) MSE lets G recolour the foreground as a whole while
    keeping its shape; the mask (`foreground_mask`) leaves the background free
    to take the target style.
    """
    mask = foreground_mask(source_images, threshold)
    return masked_pairwise_mse(generated_images, source_images, mask)


def gaussian_kl_divergence(mean, log_variance):
    """KL(N(mean, exp(log_variance)) || N(0, I)), summed over latent dims.

    Returns:
        [B] tensor, one value per example (callers choose how to reduce).
    """
    return -0.5 * tf.reduce_sum(1.0 + log_variance - tf.square(mean) - tf.exp(log_variance), axis=-1)


def binary_crossentropy_per_image(images, reconstructions, epsilon=1e-7):
    """Pixel-wise BCE for images in [0, 1], summed over each image -> [B]."""
    reconstructions = tf.clip_by_value(reconstructions, epsilon, 1.0 - epsilon)
    bce = -(images * tf.math.log(reconstructions) + (1.0 - images) * tf.math.log(1.0 - reconstructions))
    return tf.reduce_sum(bce, axis=tf.range(1, tf.rank(bce)))


def squared_error_per_image(images, reconstructions):
    """Squared error summed over each image -> [B]."""
    sq = tf.square(images - reconstructions)
    return tf.reduce_sum(sq, axis=tf.range(1, tf.rank(sq)))


RECONSTRUCTION_LOSSES = {
    "bce": binary_crossentropy_per_image,
    "mse": squared_error_per_image,
}
