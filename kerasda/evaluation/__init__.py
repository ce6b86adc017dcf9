"""Evaluation: classification metrics, embeddings, image quality, generative scores, plots."""
