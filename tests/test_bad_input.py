"""Bad input fails early with one clear message, or is converted correctly (issue 12, part A).

Most checks are called in-process (validation functions, loaders, `apps.evaluate.main`);
two subprocess runs prove what a user sees: one line, exit status 2, no TensorFlow noise,
and a traceback only with --verbose.
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

import apps
from apps import common, evaluate
from kerasda import export, validation
from kerasda.data import cache, folders, mnist, pipeline, registry
from kerasda.data.domain import Domain
from kerasda.errors import DataError, FlagError, UserError
from kerasda.networks.digits import build_digits_classifier

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FLAGS = flags.FLAGS


def save_npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def digits(n, size=8, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), np.arange(n) % classes


def write_png(path, array, mode=None):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)


def class_tree(root, per_class=2, classes=("a", "b")):
    for name in classes:
        for i in range(per_class):
            write_png(root / name / f"{i}.png", np.full((6, 6, 3), 40 * i, np.uint8))
    return root


@pytest.fixture(scope="module")
def export_28(tmp_path_factory):
    """A 10-class classifier exported for 28x28 images (the size of DANN's shipped tower)."""
    path = tmp_path_factory.mktemp("export") / "1"
    return export.export_classifier(build_digits_classifier((28, 28, 3), 10), "tiny", (28, 28, 3), export_dir=path)


# ---- the rows -----------------------------------------------------------------------------


def test_npz_float_images_in_0_1_are_scaled_to_0_255(tmp_path):
    x = np.linspace(0, 1, 10 * 4 * 4, dtype=np.float32).reshape(10, 4, 4)
    path = save_npz(tmp_path / "f.npz", x_train=x, y_train=np.arange(10) % 2, x_test=x[:2], y_test=[0, 1])
    domain = folders.load_npz(path, image_size=4)
    np.testing.assert_array_equal(domain.x_train[..., 0], np.round(x * 255).astype(np.uint8))
    assert domain.x_train.max() == 255


def test_npz_nan_images_are_refused_naming_the_file(tmp_path):
    x, y = digits(10)
    x = x.astype(np.float32) / 255
    x[3, 1, 1] = np.nan
    with pytest.raises(DataError, match=r"f\.npz: x: 1 of 640 pixel values are NaN or Inf"):
        folders.load_npz(save_npz(tmp_path / "f.npz", x=x, y=y))


def test_corrupt_and_truncated_npz_name_the_file(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match=r"garbage\.npz is not an \.npz file"):
        folders.load_npz(garbage)
    whole = save_npz(tmp_path / "whole.npz", x=digits(10)[0], y=digits(10)[1]).read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"truncated\.npz is not a readable \.npz file"):
        registry.check_spec(f"npz:{truncated}", "--target")  # found before any set-up


def test_npz_with_100_images_and_90_labels_is_refused(tmp_path):
    x, _ = digits(100)
    with pytest.raises(DataError, match="100 images but 90 labels"):
        folders.load_npz(save_npz(tmp_path / "f.npz", x=x, y=np.arange(90) % 3))


def test_tsne_and_pad_examples_zero_skip_the_comparison_but_one_zero_is_refused():
    common.check_flags({"tsne_examples": 0, "pad_examples": 0})  # both 0: skipped, allowed
    with pytest.raises(FlagError, match="--tsne_examples=0 --pad_examples=100"):
        common.check_flags({"tsne_examples": 0, "pad_examples": 100})
    with pytest.raises(FlagError, match="--tsne_examples=3"):
        common.check_flags({"tsne_examples": 3, "pad_examples": 100})


def test_nonempty_export_dir_is_refused_before_any_work(tmp_path):
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "saved_model.pb").write_text("x")
    with pytest.raises(FlagError, match=r"--export_dir=.*already holds 1 entry \(e\.g\. saved_model\.pb\)"):
        common.check_paths({"export_dir": str(export_dir), "output_dir": str(tmp_path / "run")})
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "values, message",
    [
        ({"batch_size": 0}, r"--batch_size=0: expected an integer >= 1"),
        ({"max_steps": -3}, r"--max_steps=-3: expected an integer >= 1"),
        ({"inversion_probability": 1.5}, r"--inversion_probability=1.5: expected a number in \[0, 1\]"),
    ],
)
def test_bad_step_and_batch_flags_name_the_flag(values, message):
    with pytest.raises(FlagError, match=message):
        common.check_flags(values)


def test_missing_data_bad_folder_and_bad_npz_keys_are_user_errors(tmp_path):
    with pytest.raises(UserError, match=r"--source=npz:.*nope\.npz does not exist"):
        registry.check_spec(f"npz:{tmp_path / 'nope.npz'}", "--source")
    with pytest.raises(UserError, match=r"does not exist"):
        common.check_paths({"data_dir": str(tmp_path / "absent")})
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(UserError, match=r"file\.txt is a file; expected a folder"):
        folders.load_image_folder(a_file)
    with pytest.raises(DataError, match=r"holds arrays \['images', 'labels'\]; expected x and y"):
        folders.load_npz(save_npz(tmp_path / "k.npz", images=digits(4)[0], labels=np.arange(4)))
    with pytest.raises(DataError, match=r"holds arrays \['images', 'labels'\]"):
        registry.check_spec(f"npz:{tmp_path / 'k.npz'}", "--target")  # before any set-up
    with pytest.raises(FlagError, match=r"--source=folder:.*file\.txt: .* is a file; expected a folder"):
        registry.check_spec(f"folder:{a_file}", "--source")


def test_bad_class_counts_are_refused(tmp_path):
    x, _ = digits(10)
    with pytest.raises(DataError, match="labels name 1 class"):
        folders.load_npz(save_npz(tmp_path / "one.npz", x=x, y=np.zeros(10, int)))
    images = np.zeros((4, 4, 4, 3), np.uint8)
    with pytest.raises(DataError, match=r"labels span \[0, 5\] but there are 2 classes"):
        Domain("d", images, np.array([0, 1, 5, 1]), images, np.array([0, 1, 0, 1]), class_names=("a", "b"))


def test_source_and_target_with_different_class_counts_are_refused():
    images = np.zeros((4, 4, 4, 3), np.uint8)
    ten = Domain("mnist", images, np.array([0, 9, 1, 2]), images, np.array([0, 1, 2, 3]))
    three = Domain("d", images, np.array([0, 1, 2, 1]), images, np.array([0, 1, 2, 0]))
    with pytest.raises(DataError, match=r"--source=mnist has 10 classes but --target=npz:d\.npz has 3"):
        common.check_same_classes(ten, three.unlabeled(), "mnist", "npz:d.npz")
    common.check_same_classes(ten, ten.unlabeled(), "mnist", "mnist")


def test_zero_tsne_and_pad_examples_skip_the_embedding_comparison(monkeypatch):
    import types

    monkeypatch.setattr(common, "FLAGS", types.SimpleNamespace(tsne_examples=0, pad_examples=0))
    monkeypatch.setattr(common.embeddings, "compare_embeddings", lambda *a, **k: 1 / 0)  # must not run
    assert common.compare_embeddings(None, {"dann": None}, {}, None, None, step=5) == {}


def test_evaluate_serves_32px_domain_images_to_a_28px_export(export_28, tmp_path, capsys):
    x = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    npz = save_npz(
        tmp_path / "d32.npz", x_train=x[:20], y_train=np.arange(20) % 10, x_test=x[20:], y_test=np.arange(20) % 10
    )
    FLAGS(
        [
            "evaluate",
            f"--model={export_28}",
            f"--domain=npz:{npz}",
            f"--output_dir={tmp_path / 'out'}",
            "--batch_size=8",
            "--noverbose",
        ]
    )
    evaluate.main([])
    printed = capsys.readouterr().out
    assert "20 test images served at 28x28" in printed
    assert "d32 test accuracy:" in printed
    assert (tmp_path / "out" / "metrics.json").exists()
    serving = tf.saved_model.load(str(export_28)).signatures["serving_default"]
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"must be float32 \[N, 28, 28, 3\].*got shape.*32 32 3"):
        serving(images=tf.zeros((2, 32, 32, 3)))


# ---- more bad inputs ----------------------------------------------------------------------------------


def test_float_images_in_minus1_1_and_0_255_are_scaled_and_others_refused(tmp_path):
    x = np.array([-1.0, 0.0, 1.0], np.float32).reshape(1, 1, 3)
    np.testing.assert_array_equal(validation.images_to_uint8(x, "x").ravel(), [0, 128, 255])
    np.testing.assert_array_equal(
        validation.images_to_uint8(x * 0 + [[[3.0, 200.0, 255.0]]], "x").ravel(), [3, 200, 255]
    )
    with pytest.raises(DataError, match=r"float images span \[-5, 300\]; expected \[0, 1\], \[-1, 1\] or \[0, 255\]"):
        validation.images_to_uint8(np.array([[[-5.0, 300.0]]]), "x")


def test_inf_images_are_refused():
    with pytest.raises(DataError, match="NaN or Inf"):
        validation.images_to_uint8(np.array([[[0.5, np.inf]]]), "x")


def test_integer_images_outside_0_255_are_refused_and_uint16_is_scaled():
    with pytest.raises(DataError, match=r"integer images span \[-3, 9\]"):
        validation.images_to_uint8(np.array([[[-3, 9]]], np.int16), "x")
    sixteen = np.array([[[0, 32896, 65535]]], np.uint16)
    np.testing.assert_array_equal(validation.images_to_uint8(sixteen, "x").ravel(), [0, 128, 255])


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0, 1, -1, 2]), "no negatives"),
        (np.array([0, 1.5, 1, 2]), "fractional"),
        (np.eye(4, 3), r"one-hot\? store y\.argmax"),
        (np.array(["a", "b", "c", "d"]), "dtype <U1"),
    ],
)
def test_bad_labels_are_refused(labels, message):
    with pytest.raises(DataError, match=message):
        validation.labels_to_int64(labels, 4, "y")


def test_images_with_two_channels_or_no_examples_are_refused():
    with pytest.raises(DataError, match=r"shape \(3, 4, 4, 2\)"):
        validation.images_to_uint8(np.zeros((3, 4, 4, 2), np.uint8), "x")
    with pytest.raises(DataError, match="holds no images"):
        validation.images_to_uint8(np.zeros((0, 4, 4), np.uint8), "x")


def test_npy_file_and_missing_labels_are_refused(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 4, 4), np.uint8))
    with pytest.raises(DataError, match="single .npy array"):
        folders.load_npz(tmp_path / "x.npy")
    with pytest.raises(DataError, match=r"holds arrays \['x'\]"):
        folders.load_npz(save_npz(tmp_path / "x_only.npz", x=digits(4)[0]))


def test_class_seen_only_in_training_still_counts(tmp_path):
    x, _ = digits(6)
    path = save_npz(tmp_path / "f.npz", x_train=x, y_train=[0, 1, 2, 3, 0, 1], x_test=x[:2], y_test=[0, 1])
    assert folders.load_npz(path, image_size=8).num_classes == 4  # was 2 (from y_test) before


def test_folder_grey_rgba_and_16bit_images_become_correct_rgb(tmp_path):
    write_png(tmp_path / "a" / "grey.png", np.full((5, 5), 100, np.uint8), "L")
    write_png(
        tmp_path / "a" / "rgba.png", np.dstack([np.full((5, 5, 3), 30, np.uint8), np.zeros((5, 5), np.uint8)]), "RGBA"
    )
    write_png(tmp_path / "b" / "sixteen.png", np.full((5, 5), 32896, np.uint16))
    x, y, classes = folders.read_class_folders(tmp_path, 5)
    assert classes == ("a", "b")
    by_name = dict(zip(["grey", "rgba", "sixteen"], x))
    assert (by_name["grey"] == 100).all() and (by_name["rgba"] == 30).all()
    assert (by_name["sixteen"] == 128).all()  # PIL's own conversion clips 16-bit to 255


def test_truncated_and_unreadable_images_are_skipped_and_named(tmp_path, caplog):
    class_tree(tmp_path)
    png = (tmp_path / "a" / "0.png").read_bytes()
    (tmp_path / "a" / "cut.png").write_bytes(png[: len(png) // 2])
    (tmp_path / "b" / "dangling.png").symlink_to(tmp_path / "gone.png")
    (tmp_path / "b" / "notes.txt").write_text("not an image")
    (tmp_path / "b" / ".DS_Store").write_bytes(b"\0")
    x, y, _ = folders.read_class_folders(tmp_path, 6)
    assert len(x) == 4 and list(np.bincount(y)) == [2, 2]
    assert "Skipped 2 unreadable file(s)" in caplog.text
    assert "a/cut.png" in caplog.text and "b/dangling.png" in caplog.text


def test_empty_class_folder_and_single_class_are_refused(tmp_path):
    class_tree(tmp_path / "t")
    (tmp_path / "t" / "c").mkdir()
    with pytest.raises(DataError, match=r"Class folder .*/c holds no readable images"):
        folders.load_image_folder(tmp_path / "t")
    class_tree(tmp_path / "one", classes=("a",))
    with pytest.raises(DataError, match=r"has 1 class sub-folder\(s\) \['a'\]; expected at least two"):
        folders.load_image_folder(tmp_path / "one")


def test_unreadable_folder_is_a_data_error(tmp_path, monkeypatch):
    class_tree(tmp_path)

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "iterdir", denied)  # chmod does not stop root
    with pytest.raises(DataError, match=r"Cannot read folder .* \(Permission denied\)"):
        folders.read_class_folders(tmp_path, 6)


def test_read_only_or_blocked_output_dirs_are_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FlagError, match=r"--output_dir=.*file/run: .*file is a file"):
        common.check_paths({"output_dir": str(blocker / "run")})
    with pytest.raises(FlagError, match=r"--export_dir=.*file is a file"):
        common.check_paths({"export_dir": str(blocker)})
    with pytest.raises(FlagError, match=r"--output_dir=/proc/kerasda-run is not writable"):
        validation.check_writable_dir("/proc/kerasda-run", "--output_dir")
    if os.geteuid() != 0:
        read_only = tmp_path / "ro"
        read_only.mkdir(mode=0o555)
        with pytest.raises(FlagError, match="is not writable"):
            validation.check_writable_dir(read_only / "run", "--output_dir")


def test_interrupted_or_corrupt_cache_is_rebuilt_and_stale_temps_removed(tmp_path, caplog):
    stale = tmp_path / "k.abc.tmp.npz"
    stale.write_bytes(b"PK half written")
    os.utime(stale, (0, 0))
    (tmp_path / f"k.v{cache.CACHE_FORMAT}.npz").write_bytes(b"PK\x03\x04 truncated")
    arrays = cache.cached_arrays("k", lambda: {"a": np.arange(3)}, tmp_path)
    np.testing.assert_array_equal(arrays["a"], [0, 1, 2])
    assert "Ignoring unreadable cache" in caplog.text
    assert not stale.exists()
    assert list(tmp_path.glob("*.tmp.npz")) == []
    np.testing.assert_array_equal(cache.cached_arrays("k", lambda: 1 / 0, tmp_path)["a"], [0, 1, 2])


def test_unwritable_cache_dir_builds_uncached(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    arrays = cache.cached_arrays("k", lambda: {"a": np.ones(2)}, blocker / "cache")
    np.testing.assert_array_equal(arrays["a"], [1, 1])
    assert "without caching" in caplog.text


def test_truncated_mnist_file_is_named(tmp_path):
    import gzip

    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") * 3 + b"\0" * 50)[:-12])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz cannot be read"):
        mnist.read_idx(path)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("mnistt", r"--source=mnistt is not a known domain; expected one of mnist"),
        ("npz:", r"--source=npz: names no path"),
        ("", "--source is empty"),
    ],
)
def test_bad_domain_specs_are_refused(spec, message):
    with pytest.raises(UserError, match=message):
        registry.check_spec(spec, "--source")


def test_batch_size_larger_than_the_data_names_the_flag():
    with pytest.raises(FlagError, match=r"--batch_size=64 is larger than the 10 training examples"):
        pipeline.labeled_dataset(np.zeros((10, 4, 4, 3), np.uint8), np.zeros(10), 64)


@pytest.mark.parametrize(
    "values, flag",
    [
        ({"learning_rate": float("nan")}, "--learning_rate=nan"),
        ({"learning_rate": -0.1}, "--learning_rate=-0.1"),
        ({"max_minutes": 0.0}, "--max_minutes=0.0"),
        ({"momentum": 1.5}, "--momentum=1.5"),
        ({"seed": -1}, "--seed=-1"),
        ({"image_size": 4}, "--image_size=4"),
        ({"log_every": 0}, "--log_every=0"),
        ({"retries": 0}, "--retries=0: expected an integer >= 1"),
        ({"num_images": 0}, "--num_images=0: expected an integer >= 1"),
        ({"validation_fraction": 1.0}, r"--validation_fraction=1.0: expected a number in \[0, 1\)"),
        (
            {"heldout_fraction": 0.5, "validation_fraction": 0.5},
            r"--heldout_fraction=0.5 --validation_fraction=0.5: expected a sum < 1",
        ),
        ({"fine_tune_learning_rate": 0.0}, "--fine_tune_learning_rate=0.0: expected a finite number > 0"),
    ],
)
def test_more_bad_flag_values_name_the_flag(values, flag):
    with pytest.raises(FlagError, match=flag):
        common.check_flags(values)
    common.check_flags({"max_minutes": None, "learning_rate": 1e-3, "seed": 0})  # defaults pass


@pytest.mark.parametrize(
    "images, message",
    [
        (tf.zeros((2, 28, 28)), r"got shape.*2 28 28\]"),
        (tf.zeros((2, 28, 28, 3, 1)), r"got shape.*2 28 28 3 1"),
        (tf.fill((2, 28, 28, 3), 255.0), r"with values in \[-1, 1\]; got values in\] \[255\]"),
        (tf.fill((1, 28, 28, 3), float("nan")), r"got values in\] \[nan\]"),
        (tf.zeros((2, 28, 28, 3), tf.uint8), "expected to be a float tensor but is a uint8 tensor"),
    ],
)
def test_serving_signature_rejects_wrong_rank_range_and_dtype(export_28, images, message):
    serving = tf.saved_model.load(str(export_28)).signatures["serving_default"]
    assert serving(images=tf.zeros((0, 28, 28, 3)))["classes"].shape == (0,)
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serving(images=images)


def test_evaluate_refuses_what_is_not_a_classifier_export(export_28, tmp_path):
    with pytest.raises(FlagError, match=r"holds versions 1: pass --model=.*/1"):
        evaluate.load_classifier(export_28.parent)
    generator = build_digits_classifier((4, 4, 3), 2)  # any tracked model; the signature is what matters
    noise_spec = [tf.TensorSpec([None, 3], tf.float32, name="noise")]
    path = export.export_signatures(
        "g",
        {"serving_default": (lambda noise: {"images": noise * 2.0}, noise_spec)},
        [generator],
        export_dir=tmp_path / "g",
    )
    with pytest.raises(DataError, match=r"takes \['noise'\] and returns \['images'\]; expected images -> classes"):
        evaluate.load_classifier(path)


def test_evaluate_refuses_a_domain_with_other_classes(export_28, tmp_path):
    x, y = digits(20, size=28, classes=3)
    npz = save_npz(tmp_path / "three.npz", x=x, y=y)
    FLAGS(["evaluate", f"--model={export_28}", f"--domain=npz:{npz}", "--noverbose"])
    with pytest.raises(DataError, match=r"predicts 10 classes but --domain=npz:.* has 3"):
        evaluate.main([])


def test_run_app_prints_user_errors_in_one_line_and_keeps_bug_tracebacks(monkeypatch, capsys):
    def user_error(argv):
        raise DataError("x.npz: bad\nthing; fix it.")

    monkeypatch.setattr(sys, "argv", ["app", "--model=unused", "--noverbose"])
    with pytest.raises(SystemExit) as exit_info:
        common.run_app(user_error)
    assert exit_info.value.code == common.USER_ERROR_EXIT_CODE
    assert capsys.readouterr().err == "error: x.npz: bad thing; fix it.\n"

    def bug(argv):
        raise KeyError("a real bug")

    with pytest.raises(KeyError):
        common.run_app(bug)
    monkeypatch.setattr(sys, "argv", ["app", "--model=unused", "--verbose"])
    with pytest.raises(DataError):
        common.run_app(user_error)
    FLAGS.verbose = False


def test_verbose_is_read_from_the_command_line_before_tensorflow():
    assert apps.verbose_requested(["app", "--verbose"])
    assert apps.verbose_requested(["app", "--noverbose", "--verbose=true"])
    assert not apps.verbose_requested(["app", "--verbose", "--noverbose"])
    assert not apps.verbose_requested(["app", "--verbosity=1"])


# ---- what a user sees (subprocesses) ------------------------------------------------------------------


def run_app_process(module, *args):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # the app must quiet TF itself
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240
    )


def test_app_user_error_is_one_quiet_line_after_tensorflow_started(export_28, tmp_path):
    x, y = digits(20, size=28, classes=3)
    npz = save_npz(tmp_path / "three.npz", x=x, y=y)
    result = run_app_process("apps.evaluate", f"--model={export_28}", f"--domain=npz:{npz}")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # no C++ INFO/WARNING, no CUDA probing, no traceback
    assert result.stderr.startswith("error: --model=") and "predicts 10 classes" in result.stderr


def test_verbose_shows_the_traceback_and_export_dir_fails_before_training(tmp_path):
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    (export_dir / "old").write_text("x")
    result = run_app_process(
        "apps.train_source_only", f"--output_dir={tmp_path / 'run'}", f"--export_dir={export_dir}", "--verbose"
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "FlagError" in result.stderr
    assert "already holds 1 entry" in result.stderr
    assert not (tmp_path / "run").exists()  # nothing was set up, let alone trained


# ---- apps.prepare_data, apps.inspect, apps.transfer go through run_app too ------------------------------


def test_list_flags_and_model_paths_are_checked_naming_the_flag(export_28, tmp_path):
    assert validation.parse_numbers(["0", "2.5"], "epsilons", float, minimum=0) == [0.0, 2.5]
    with pytest.raises(FlagError, match=r"--epsilons=1,x: expected comma-separated float values"):
        validation.parse_numbers(["1", "x"], "epsilons")
    with pytest.raises(FlagError, match=r"--fgsm_steps=0: expected one or more finite int values, each >= 1"):
        validation.parse_numbers(["0"], "fgsm_steps", int, minimum=1)
    assert validation.check_choices(["svm"], "modes", ("svm", "frozen")) == ("svm",)
    with pytest.raises(FlagError, match=r"--modes=svm,nope: unknown nope; expected one or more of svm, frozen"):
        validation.check_choices(["svm", "nope"], "modes", ("svm", "frozen"))
    assert validation.check_model_path(export_28, "--model") == export_28
    with pytest.raises(FlagError, match=r"--model=.*nope does not exist; expected a SavedModel version folder"):
        validation.check_model_path(tmp_path / "nope", "--model")
    with pytest.raises(FlagError, match=r"--backbone=.*m\.keras does not exist; .* or a \.keras file"):
        validation.check_model_path(tmp_path / "m.keras", "--backbone")
    with pytest.raises(FlagError, match=r"holds versions 1: pass --backbone=.*/1"):
        validation.check_model_path(export_28.parent, "--backbone")


def test_prepare_data_checks_that_data_dir_is_writable_not_that_it_exists(tmp_path):
    common.check_paths({"data_dir": str(tmp_path / "new")}, writes_data_dir=True)  # created by the app
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FlagError, match=r"--data_dir=.*file/data: .*file is a file, so the folder cannot be created"):
        common.check_paths({"data_dir": str(blocker / "data")}, writes_data_dir=True)
    with pytest.raises(UserError, match=r"--data_dir=.*new does not exist"):  # an app that reads it
        common.check_paths({"data_dir": str(tmp_path / "new")})


APP_RUNS = {  # name: (module, flags, expected error line (a regex))
    "prepare_unknown": (
        "apps.prepare_data",
        ["--datasets=mnist,nope"],
        r"error: Unknown dataset\(s\) \['nope'\]; choose from mnist, .* or 'all'\.",
    ),
    "prepare_retries": ("apps.prepare_data", ["--retries=0"], r"error: --retries=0: expected an integer >= 1\."),
    "inspect_model": (
        "apps.inspect",
        ["--model={tmp}/nope"],
        r"error: --model=.*/nope does not exist; expected a SavedModel version folder \(with "
        r"saved_model\.pb\) or a \.keras file\.",
    ),
    "inspect_epsilons": (
        "apps.inspect",
        ["--model={export}", "--epsilons=1,two"],
        r"error: --epsilons=1,two: expected comma-separated float values\.",
    ),
    "inspect_damaged": (
        "apps.inspect",
        ["--model={tmp}/m.keras"],
        r"error: --model=.*/m\.keras cannot be loaded as a classifier \(ValueError: .*\); expected an "
        r"export of apps\.train_\*",
    ),
    "transfer_backbone": (
        "apps.transfer",
        ["--backbone=keras:NoSuchNet"],
        r"error: --backbone=keras:NoSuchNet: keras\.applications has no network 'NoSuchNet'",
    ),
    "transfer_weights": (
        "apps.transfer",
        ["--backbone={export}", "--weights=imagenet"],
        r"error: --weights=imagenet applies to keras: backbones",
    ),
}


@pytest.fixture(scope="module")
def app_runs(export_28, tmp_path_factory):
    import concurrent.futures

    tmp = tmp_path_factory.mktemp("apps")
    (tmp / "m.keras").write_text("not a zip")  # a damaged model file

    def run(module, args):
        args = [arg.format(tmp=tmp, export=export_28) for arg in args]
        return run_app_process(
            module,
            *args,
            f"--output_dir={tmp / 'out'}" if module != "apps.prepare_data" else f"--data_dir={tmp / 'data'}",
        )

    with concurrent.futures.ThreadPoolExecutor(3) as pool:  # each run spends most of its time importing TF
        futures = {name: pool.submit(run, module, args) for name, (module, args, _) in APP_RUNS.items()}
        return tmp, {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("name", list(APP_RUNS))
def test_prepare_data_inspect_and_transfer_print_user_errors_in_one_line(app_runs, name):
    import re

    tmp, results = app_runs
    result = results[name]
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert re.fullmatch(APP_RUNS[name][2] + ".*", line), line
    assert not (tmp / "out").exists() and not (tmp / "data").exists()  # refused before any work
