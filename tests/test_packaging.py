"""Packaging: the configs ship with the package and the README's --flagfile paths work after `pip install .`."""

import configparser
import pathlib

import apps

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_flagfile_paths_fall_back_to_the_installed_configs(tmp_path):
    packaged = pathlib.Path(apps.__file__).resolve().parent / "configs" / "pixelda_mnist_to_mnistm_cpu.cfg"
    argv = ["-m", "--flagfile=apps/configs/pixelda_mnist_to_mnistm_cpu.cfg", "--max_steps=3"]
    # From a directory without apps/configs/ (an installed package): the shipped copy.
    assert apps.resolve_packaged_flagfiles(argv, cwd=tmp_path) == ["-m", f"--flagfile={packaged}", "--max_steps=3"]
    # From a checkout, or for any other flagfile: unchanged.
    assert apps.resolve_packaged_flagfiles(argv, cwd=REPO) == argv
    other = ["-m", "--flagfile=my.cfg", "--flagfile=apps/configs/no_such.cfg"]
    assert apps.resolve_packaged_flagfiles(other, cwd=tmp_path) == other


def test_every_config_is_package_data_and_versions_are_bounded():
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    assert setup["options.package_data"]["apps"].strip() == "configs/*.cfg"
    assert list((REPO / "apps" / "configs").glob("*.cfg"))
    requirements = [line.strip() for line in setup["options"]["install_requires"].splitlines() if line.strip()]
    pinned = {line.split(">=")[0]: line for line in requirements}
    assert all(">=" in line for line in requirements)
    assert "<" in pinned["tensorflow"] and "<" in pinned["keras"]
    constraints = (REPO / "constraints.txt").read_text()
    for name in ("tensorflow", "keras", "tensorboard", "numpy"):
        assert f"\n{name}==" in constraints
