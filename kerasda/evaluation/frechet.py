"""Frechet distance between two feature sets, each fitted with a Gaussian.

FID's formula, ||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)). This
project computes it in the penultimate layer of a digits classifier
(`kerasda.evaluation.digits_judge`) instead of Inception, so its numbers are
comparable between runs of this project, not with published FIDs.
"""

import numpy as np


def frechet_distance_from_moments(mean_a, cov_a, mean_b, cov_b):
    """||mu_a - mu_b||^2 + Tr(C_a + C_b - 2 (C_a C_b)^(1/2)) between two Gaussians.

    Tr((C_a C_b)^(1/2)) is computed as the sum of square roots of the
    eigenvalues of the symmetric matrix C_a^(1/2) C_b C_a^(1/2), which has the
    same spectrum as C_a C_b: no complex round-off and no failure on the
    singular covariances that dead ReLU features produce (the usual
    `scipy.linalg.sqrtm(C_a @ C_b)` needs an epsilon fallback for those).
    """
    mean_a, mean_b = np.atleast_1d(mean_a).astype(np.float64), np.atleast_1d(mean_b).astype(np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(np.float64), np.atleast_2d(cov_b).astype(np.float64)
    if mean_a.shape != mean_b.shape or cov_a.shape != cov_b.shape:
        raise ValueError(
            f"Moments must match: means {mean_a.shape} vs {mean_b.shape}, covariances {cov_a.shape} vs {cov_b.shape}."
        )
    sqrt_a = _psd_sqrt(cov_a)
    eigenvalues = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt_product = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    diff = mean_a - mean_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt_product
    return float(max(value, 0.0))


def _psd_sqrt(matrix):
    """Symmetric square root of a positive semi-definite matrix."""
    eigenvalues, eigenvectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def feature_moments(features):
    """Mean and (unbiased) covariance of features [N, D]."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"features must be [N >= 2, D], got shape {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(features_a, features_b):
    """Frechet distance between Gaussians fitted to two feature sets [N, D]."""
    return frechet_distance_from_moments(*feature_moments(features_a), *feature_moments(features_b))
