"""Evaluation: pure metrics and the figures drawn from them (callbacks live in `kerasda.callbacks`).

Inference: `inference.predict` (batched `model.predict`, for functions too).
Metrics: `metrics` (classification), `embeddings` (t-SNE, A-distance),
`image_quality` (PSNR, SSIM, anomaly scores), `frechet`, `class_scores`,
`digits_judge` (the classifier that scores generated digits), `sampling`,
`unsupervised_selection` (label-free scores for choosing a checkpoint).
Figures: `plots` (shared helpers), `gan_figures`, `embedding_figures`, `vae_figures`.
"""

from kerasda.evaluation import (
    class_scores,
    digits_judge,
    embedding_figures,
    embeddings,
    frechet,
    gan_figures,
    image_quality,
    inference,
    metrics,
    plots,
    sampling,
    unsupervised_selection,
    vae_figures,
)
