"""Evaluation: classification metrics, embeddings, image quality, generative scores, plots."""

from kerasda.evaluation import embeddings, generative, image_quality, metrics, plots
