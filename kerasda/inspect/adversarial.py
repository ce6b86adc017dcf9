"""Adversarial examples: a targeted L2 gradient walk, FGSM / iterative FGSM, robustness curves.

- Targeted (Simonyan et al. 2014 / the classic "fooling" exercise): repeat
  `x <- x + eta * g / ||g||_2`, `g = d score_j / d x`, for every image of the
  batch at once, and freeze each image the step the model first predicts the
  target j. Reports the steps taken and the perturbation's L2 and L-inf norms.
- FGSM (Goodfellow et al. 2015) and its iterative form (Kurakin et al. 2017):
  `x <- clip_{x0, eps}(x + alpha * sign(d CE(y, f(x)) / d x))`, an untargeted
  attack under an L-inf budget eps.

Budgets are in units of the full pixel range: epsilon = 8/255 moves each pixel
by at most 8 grey levels whatever the model's input range ([-1, 1] here).
"""

import dataclasses

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class TargetedAttack:
    """Result of `targeted_attack`, all numpy.

    adversarial: images [N, H, W, C] where the walk stopped.
    steps: steps taken until the target was predicted (0 = already was); max_steps when it never was.
    success: bool [N], the model predicts the target on `adversarial`.
    l2, linf: norms of `adversarial - images` in units of the full pixel range (so 1.0 = black to white).
    """

    adversarial: np.ndarray
    steps: np.ndarray
    success: np.ndarray
    l2: np.ndarray
    linf: np.ndarray

    def summary(self):
        """Success rate, and median steps / L2 / L-inf over the successful images."""
        ok = self.success
        med = (lambda v: float(np.median(v[ok]))) if ok.any() else (lambda v: float("nan"))
        return {
            "success_rate": float(ok.mean()) if len(ok) else float("nan"),
            "median_steps": med(self.steps),
            "median_l2": med(self.l2),
            "median_linf": med(self.linf),
        }


def _range_scale(classifier):
    low, high = classifier.value_range
    return float(low), float(high), float(high - low)


def targeted_attack(classifier, images, targets, step_size=0.1, max_steps=100, clip=True, batch_size=256):
    """Walk each image toward `targets` along the normalised gradient of the target score.

    Args:
        classifier: a `model_access.Classifier`.
        images: float [N, H, W, C] in the classifier's value range.
        targets: int [N] target classes.
        step_size: eta, the L2 length of each step in units of the full pixel range.
        max_steps: bound on the steps; images not fooled by then have success False.
        clip: keep the images inside the valid value range (a real image).
    """
    if step_size <= 0 or max_steps < 1:
        raise ValueError(f"step_size must be > 0 and max_steps >= 1, got {step_size}, {max_steps}.")
    low, high, scale = _range_scale(classifier)
    eta = step_size * scale

    @tf.function(reduce_retracing=True)
    def attack(x0, target):
        def predicted_target(x):
            return tf.equal(tf.argmax(classifier.scores(x), axis=-1, output_type=tf.int64), target)

        def body(step, x, steps, done):
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(tf.gather(classifier.scores(x), target, axis=1, batch_dims=1))
            g = tape.gradient(total, x)
            norm = tf.sqrt(tf.reduce_sum(tf.square(g), axis=[1, 2, 3], keepdims=True)) + 1e-12
            moved = x + eta * g / norm
            if clip:
                moved = tf.clip_by_value(moved, low, high)
            active = tf.reshape(tf.logical_not(done), [-1, 1, 1, 1])
            x = tf.where(active, moved, x)
            reached = predicted_target(x)
            steps = tf.where(tf.logical_and(reached, tf.logical_not(done)), step + 1, steps)
            return step + 1, x, steps, tf.logical_or(done, reached)

        done = predicted_target(x0)
        steps = tf.fill(tf.shape(target), tf.constant(max_steps, tf.int64))
        steps = tf.where(done, tf.zeros_like(steps), steps)
        _, x, steps, done = tf.while_loop(
            lambda step, x, steps, done: tf.logical_and(step < max_steps, tf.logical_not(tf.reduce_all(done))),
            body,
            (tf.constant(0, tf.int64), x0, steps, done),
        )
        return x, steps, done

    images = np.asarray(images, np.float32)
    targets = np.asarray(targets, np.int64)
    parts = [
        [t.numpy() for t in attack(tf.constant(images[i : i + batch_size]), tf.constant(targets[i : i + batch_size]))]
        for i in range(0, len(images), batch_size)
    ]
    adversarial, steps, success = (np.concatenate(p) for p in zip(*parts))
    delta = (adversarial - images).reshape(len(images), -1) / scale
    return TargetedAttack(adversarial, steps, success, np.linalg.norm(delta, axis=1), np.abs(delta).max(axis=1))


def _fgsm_fn(classifier, steps):
    """tf.function (images, labels, eps, alpha) -> adversarial images; eps and alpha are tensors,
    so one trace serves every budget of a robustness curve."""
    low, high, _ = _range_scale(classifier)

    @tf.function(reduce_retracing=True)
    def attack(x0, labels, eps, alpha):
        x = x0
        for _ in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x)
                scores = classifier.scores(x)
                # CE on log-softmax of the scores: the same for logits and log-probabilities.
                loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=scores))
            x = x + alpha * tf.sign(tape.gradient(loss, x))
            x = tf.clip_by_value(tf.clip_by_value(x, x0 - eps, x0 + eps), low, high)
        return x

    return attack


def _run_fgsm(attack, classifier, images, labels, epsilon, steps, step_size, batch_size):
    scale = _range_scale(classifier)[2]
    eps = tf.constant(epsilon * scale, tf.float32)
    alpha = tf.constant((step_size if step_size is not None else epsilon / steps) * scale, tf.float32)
    return np.concatenate(
        [
            attack(tf.constant(images[i : i + batch_size]), tf.constant(labels[i : i + batch_size]), eps, alpha).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


def fgsm(classifier, images, labels, epsilon, steps=1, step_size=None, batch_size=256):
    """FGSM (steps=1) or iterative FGSM, untargeted, under an L-inf budget; numpy [N, H, W, C].

    Args:
        epsilon: L-inf budget in units of the full pixel range (8/255 = 8 grey levels).
        steps: 1 is FGSM; more is iterative FGSM (BIM) with projection onto the budget.
        step_size: per-step size (same units); default epsilon / steps.
    """
    if epsilon < 0 or steps < 1:
        raise ValueError(f"epsilon must be >= 0 and steps >= 1, got {epsilon}, {steps}.")
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels, np.int64)
    return _run_fgsm(
        _fgsm_fn(classifier, int(steps)), classifier, images, labels, float(epsilon), int(steps), step_size, batch_size
    )


def robustness_curve(classifier, images, labels, epsilons, steps=1, batch_size=256):
    """Accuracy under (iterative) FGSM at each epsilon, numpy [len(epsilons)]."""
    if any(eps < 0 for eps in epsilons) or steps < 1:
        raise ValueError(f"epsilons must be >= 0 and steps >= 1, got {list(epsilons)}, {steps}.")
    images = np.asarray(images, np.float32)
    labels = np.asarray(labels, np.int64)
    attack = _fgsm_fn(classifier, int(steps))
    return np.array(
        [
            float(
                np.mean(
                    classifier.predict_classes(
                        _run_fgsm(attack, classifier, images, labels, float(eps), int(steps), None, batch_size)
                    )
                    == labels
                )
            )
            for eps in epsilons
        ]
    )
