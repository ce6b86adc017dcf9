"""benchmarks.augmentation_cost: every jittering kind and the resolution jitter alone are timed."""

from benchmarks import augmentation_cost


def test_measure_times_every_kind_on_a_tiny_batch():
    rows = augmentation_cost.measure(batch_size=4, image_size=12, seconds=0.05)
    assert set(rows) == {"geometric", "geometric_resolution", "geometric_resolution_inversion", "resolution_only"}
    for row in rows.values():
        assert row["calls"] >= 1 and row["ms_per_batch"] > 0.0
