"""kerasda.data.download and apps.prepare_data against a local HTTP server (never the internet).

Fixture archives are built in the test in each dataset's real format; the real
specs are re-pointed at 127.0.0.1 with the fixtures' checksums, so the real
fetch / verify / unpack code runs.
"""

import dataclasses
import hashlib
import http.server
import io
import os
import pathlib
import subprocess
import sys
import tarfile
import threading
import zipfile

import numpy as np
import pytest
from PIL import Image

from kerasda import errors
from kerasda.data import download, mnist, mnist_m, paths
from tests.conftest import make_digits, write_idx

REPO = pathlib.Path(__file__).resolve().parents[1]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.files`; paths in `server.truncated` send half the body and hang up."""

    def do_GET(self):
        self.server.requests.append(self.path)
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path in self.server.truncated:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.truncated, httpd.requests = {}, set(), []
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _jpeg(seed):
    image = np.random.default_rng(seed).integers(0, 256, (40, 48, 3), np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG")
    return buffer.getvalue()


def _bsds_tarball():
    """A BSR_bsds500.tgz in the real layout: 3/2/2 photos, plus ground truth and Thumbs.db to skip."""
    members = {f"BSR/BSDS500/data/images/train/{i}.jpg": _jpeg(i) for i in range(3)}
    members.update({f"BSR/BSDS500/data/images/val/{i}.jpg": _jpeg(10 + i) for i in range(2)})
    members.update({f"BSR/BSDS500/data/images/test/{i}.jpg": _jpeg(20 + i) for i in range(2)})
    members["BSR/BSDS500/data/images/train/Thumbs.db"] = b"junk"
    members["BSR/BSDS500/data/groundTruth/train/0.mat"] = b"not needed"
    members["BSR/documentation/Arbelaez_Maire_Fowlkes_Malik_TPAMI2010.pdf"] = b"%PDF"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), members


def _bsds_spec(server, data, sha256=None, urls=None):
    """The real bsds500 spec, served locally, expecting the fixture's photo counts."""
    server.files["/BSR_bsds500.tgz"] = data
    remote = download.RemoteFile(
        "BSR_bsds500.tgz", tuple(urls or (server.url + "/BSR_bsds500.tgz",)), sha256=sha256 or _sha256(data)
    )
    return dataclasses.replace(
        download.SPECS["bsds500"], files=(remote,), expected={"train/*.jpg": 3, "val/*.jpg": 2, "test/*.jpg": 2}
    )


def _leftovers(root):
    """Files that a failed or finished prepare must not leave: part files and staging folders."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".part" in p.name or ".unpacking-" in p.name)


FAST = {"retries": 1, "backoff_seconds": 0.0}


def test_bsds500_is_downloaded_verified_unpacked_and_read_by_the_loader(server, tmp_path):
    data, members = _bsds_tarball()
    spec = _bsds_spec(server, data)
    folder = download.prepare(spec, tmp_path, **FAST)

    assert folder == tmp_path / "bsds500"
    assert sorted(p.name for p in (folder / "train").iterdir()) == ["0.jpg", "1.jpg", "2.jpg"]  # no Thumbs.db
    assert (folder / "val" / "1.jpg").read_bytes() == members["BSR/BSDS500/data/images/val/1.jpg"]
    assert not (folder / "groundTruth").exists() and not list(folder.rglob("*.mat"))
    assert (tmp_path / "downloads" / "BSR_bsds500.tgz").read_bytes() == data
    assert (folder / download.MARKER).exists()
    assert _leftovers(tmp_path) == []
    photos = mnist_m.load_bsds500_train(tmp_path)  # the loader reads the unpacked layout
    assert len(photos) == 3 and photos[0].shape == (40, 48, 3)
    assert server.requests == ["/BSR_bsds500.tgz"]


def test_second_run_uses_the_cache_and_reunpacks_from_the_kept_archive(server, tmp_path):
    spec = _bsds_spec(server, _bsds_tarball()[0])
    download.prepare(spec, tmp_path, **FAST)
    download.prepare(spec, tmp_path, **FAST)  # already in place: nothing fetched
    assert len(server.requests) == 1
    (tmp_path / "bsds500" / "train" / "0.jpg").unlink()  # a damaged folder is unpacked again...
    (tmp_path / "bsds500" / download.MARKER).unlink()
    download.prepare(spec, tmp_path, **FAST)
    assert (tmp_path / "bsds500" / "train" / "0.jpg").exists()
    assert len(server.requests) == 1  # ...from the verified archive, without a download


def test_checksum_mismatch_is_refused_with_a_clear_message_and_nothing_kept(server, tmp_path):
    spec = _bsds_spec(server, _bsds_tarball()[0], sha256="0" * 64)
    with pytest.raises(download.ChecksumError) as error:
        download.prepare(spec, tmp_path, **FAST)
    message = str(error.value)
    assert "expected sha256 " + "0" * 64 in message
    assert server.url + "/BSR_bsds500.tgz" in message
    assert str(tmp_path / "downloads" / "BSR_bsds500.tgz") in message
    assert list((tmp_path / "downloads").iterdir()) == []
    assert not (tmp_path / "bsds500").exists()


def test_a_bad_cached_file_is_set_aside_and_downloaded_again(server, tmp_path):
    data = _bsds_tarball()[0]
    spec = _bsds_spec(server, data)
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / "BSR_bsds500.tgz").write_bytes(b"truncated by hand")
    (tmp_path / "downloads" / "BSR_bsds500.tgz.part").write_bytes(b"left by a killed process")
    download.prepare(spec, tmp_path, **FAST)
    assert (tmp_path / "downloads" / "BSR_bsds500.tgz").read_bytes() == data
    assert (tmp_path / "downloads" / "BSR_bsds500.tgz.rejected").read_bytes() == b"truncated by hand"
    assert _leftovers(tmp_path) == [] and len(server.requests) == 1


def test_interrupted_download_is_retried_and_never_left_half_written(server, tmp_path):
    data = _bsds_tarball()[0]
    spec = _bsds_spec(server, data)
    server.truncated.add("/BSR_bsds500.tgz")
    with pytest.raises(download.DownloadError) as error:
        download.prepare(spec, tmp_path, retries=2, backoff_seconds=0.0)
    assert server.requests == ["/BSR_bsds500.tgz"] * 2  # retried
    assert list((tmp_path / "downloads").iterdir()) == []  # no partial file, under any name
    assert not (tmp_path / "bsds500").exists()
    message = str(error.value)
    assert f"BSR_bsds500.tgz (sha256 {_sha256(data)}) at {tmp_path / 'downloads' / 'BSR_bsds500.tgz'}" in message
    assert "python -m apps.prepare_data --datasets=bsds500" in message
    assert isinstance(error.value, paths.MissingDataError)


def test_next_mirror_is_used_when_the_first_fails(server, tmp_path):
    data = _bsds_tarball()[0]
    server.files["/mirror/BSR_bsds500.tgz"] = data
    spec = _bsds_spec(server, data, urls=(server.url + "/gone/BSR_bsds500.tgz", server.url + "/mirror/BSR_bsds500.tgz"))
    download.prepare(spec, tmp_path, **FAST)
    assert server.requests == ["/gone/BSR_bsds500.tgz", "/mirror/BSR_bsds500.tgz"]
    assert (tmp_path / "bsds500" / "test" / "1.jpg").exists()


def test_offline_message_names_the_file_and_where_to_place_it(tmp_path):
    spec = download.SPECS["svhn"]
    closed_port = "http://127.0.0.1:9/train_32x32.mat"  # discard port: connection refused, no internet
    offline = dataclasses.replace(
        spec, files=(dataclasses.replace(spec.files[0], urls=(closed_port,)),) + spec.files[1:]
    )
    with pytest.raises(download.DownloadError) as error:
        download.prepare(offline, tmp_path, **FAST)
    message = str(error.value)
    train = (
        "http://127.0.0.1:9/train_32x32.mat (sha256 435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8)"
    )
    assert f"{train} at {tmp_path / 'downloads' / 'train_32x32.mat'}" in message
    test = "http://ufldl.stanford.edu/housenumbers/test_32x32.mat (sha256 cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b)"  # noqa: E501
    assert f"; {test} at {tmp_path / 'downloads' / 'test_32x32.mat'}; then run" in message  # the whole dataset
    assert f"{tmp_path / 'svhn'}/train_32x32.mat, test_32x32.mat" in message


def test_mnist_files_are_placed_where_the_mnist_loader_reads_them(server, tmp_path):
    x, y = make_digits(20, np.random.default_rng(0))
    sources = tmp_path / "sources"
    sources.mkdir()
    arrays = {
        "train-images-idx3-ubyte.gz": x[:12],
        "train-labels-idx1-ubyte.gz": y[:12],
        "t10k-images-idx3-ubyte.gz": x[12:],
        "t10k-labels-idx1-ubyte.gz": y[12:],
    }
    files = []
    for name, array in arrays.items():
        write_idx(sources / name, array)
        data = (sources / name).read_bytes()
        server.files["/" + name] = data
        files.append(download.RemoteFile(name, (f"{server.url}/{name}",), sha256=_sha256(data)))
    spec = dataclasses.replace(download.SPECS["mnist"], files=tuple(files))
    data_dir = tmp_path / "data"
    download.prepare(spec, data_dir, **FAST)
    loaded = mnist.load_mnist_arrays(data_dir)
    np.testing.assert_array_equal(loaded["train"][0], x[:12])
    np.testing.assert_array_equal(loaded["test"][1], y[12:])


def test_kvasir_zip_becomes_class_folders_and_needs_allow_unverified(server, tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("kvasir-dataset-v2/polyps/a.jpg", _jpeg(1))
        zipped.writestr("kvasir-dataset-v2/normal-cecum/b.jpg", _jpeg(2))
        zipped.writestr("kvasir-dataset-v2/normal-cecum/.DS_Store", b"junk")
        zipped.writestr("__MACOSX/kvasir-dataset-v2/polyps/._a.jpg", b"junk")
    server.files["/kvasir-dataset-v2.zip"] = buffer.getvalue()
    remote = dataclasses.replace(download.SPECS["kvasir"].files[0], urls=(server.url + "/kvasir-dataset-v2.zip",))
    spec = dataclasses.replace(download.SPECS["kvasir"], files=(remote,))
    with pytest.raises(download.UnverifiedFileError, match="--allow_unverified"):
        download.prepare(spec, tmp_path, **FAST)
    assert server.requests == []  # refused before downloading
    folder = download.prepare(spec, tmp_path, allow_unverified=True, **FAST)
    listing = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != download.MARKER)
    assert listing == ["normal-cecum", "normal-cecum/b.jpg", "polyps", "polyps/a.jpg"]


def test_real_specs_record_urls_checksums_and_layouts():
    for name, spec in download.SPECS.items():
        assert spec.name == name and spec.layout.startswith(f"<data_dir>/{spec.subdir}/")
        for remote in spec.files:
            assert remote.urls and all(url.startswith("http") for url in remote.urls)
            if name == "kvasir":
                assert remote.checksum is None  # Simula publishes none: needs --allow_unverified
            else:
                algorithm, digest = remote.checksum
                assert len(digest) == {"sha256": 64, "md5": 32}[algorithm]
                int(digest, 16)
    assert all(name in download.SPECS for names in download.REQUIREMENTS.values() for name in names)
    assert download.datasets_for("mnist_m_synth") == ("mnist", "bsds500")
    assert download.datasets_for("folder:/somewhere") == () and download.datasets_for("uci_digits") == ()


def test_a_hand_prepared_folder_counts_as_prepared(tiny_data_dir):
    assert download.is_prepared(download.SPECS["mnist"], tiny_data_dir)
    download.ensure("mnist", tiny_data_dir)  # nothing to fetch: must not touch the network
    assert not (tiny_data_dir / "downloads").exists()


def test_dataset_names_are_checked():
    # (apps.prepare_data is only run in a subprocess: importing it here would define --data_dir a
    # second time in this process, next to the apps other tests import.)
    assert download.select(["all"]) == list(download.SPECS)
    assert download.select(["svhn", "mnist"]) == ["svhn", "mnist"]
    with pytest.raises(errors.FlagError, match=r"Unknown dataset\(s\) \['nope'\]"):
        download.select(["mnist", "nope"])


def test_prepare_data_app_reports_a_prepared_dataset_ready(tiny_data_dir):
    env = {**os.environ, "KERASDA_DATA_DIR": str(tiny_data_dir), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "apps.prepare_data", "--datasets=mnist"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"mnist: ready at {tiny_data_dir / 'mnist'}" in done.stdout


def test_ensure_fetches_what_synthesised_mnist_m_needs_then_the_loader_runs(server, tmp_path, monkeypatch):
    """The apps' --download path: `ensure("mnist_m")` fetches MNIST and BSDS500, nothing else."""
    x, y = make_digits(20, np.random.default_rng(1))
    sources = tmp_path / "sources"
    sources.mkdir()
    files = []
    for name, array in {
        "train-images-idx3-ubyte.gz": x[:12],
        "train-labels-idx1-ubyte.gz": y[:12],
        "t10k-images-idx3-ubyte.gz": x[12:],
        "t10k-labels-idx1-ubyte.gz": y[12:],
    }.items():
        write_idx(sources / name, array)
        server.files["/" + name] = (sources / name).read_bytes()
        files.append(download.RemoteFile(name, (f"{server.url}/{name}",), sha256=_sha256(server.files["/" + name])))
    monkeypatch.setitem(download.SPECS, "mnist", dataclasses.replace(download.SPECS["mnist"], files=tuple(files)))
    monkeypatch.setitem(download.SPECS, "bsds500", _bsds_spec(server, _bsds_tarball()[0]))
    data_dir = tmp_path / "fresh"  # a fresh machine: not even the data folder exists
    download.ensure("mnist_m", data_dir, backoff_seconds=0.0)
    assert sorted(server.requests) == sorted(["/BSR_bsds500.tgz"] + [f"/{f.name}" for f in files])
    domain = mnist_m.load_mnist_m_synth(data_dir, cache_dir=tmp_path / "cache")
    assert domain.x_train.shape == (12, 32, 32, 3)
    download.ensure("mnist_m", data_dir)
    assert len(server.requests) == 5  # all in place: nothing fetched again
