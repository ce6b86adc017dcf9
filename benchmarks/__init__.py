"""Benchmarks: scripts that measure the figures README.md quotes; results in results/."""
