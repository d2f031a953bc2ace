"""load(): finding files, splits, normalisation, the test-split door, cache, download, errors."""

from __future__ import annotations

import gzip
import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from fake_data import decode, make_cifar, make_mnist, write_idx

from objectives import data
from objectives.data import DATASETS, load, sources
from objectives.errors import ConfigError, DataError


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    make_mnist(tmp_path / "data" / "mnist")
    return tmp_path / "data"


def test_load_shapes_types_and_default_sizes(tmp_path: Path) -> None:
    make_mnist(tmp_path / "mnist", n_train=6000, n_test=10)
    ds = load("mnist", data_dir=tmp_path)
    assert (ds.name, ds.classes, ds.image_shape) == ("mnist", 10, (1, 28, 28))
    assert ds.class_names == tuple("0123456789")
    assert (len(ds.train), len(ds.val)) == (1000, 5000)
    for split in (ds.train, ds.val):
        assert split.X.dtype == np.float32 and split.X.flags.c_contiguous
        assert split.X.shape[1] == 784 and split.y.dtype == np.int64


def test_val_is_carved_from_train_with_the_seed(mnist_root: Path) -> None:
    a = load("mnist", data_dir=mnist_root, val_size=50, seed=3, normalize="none")
    b = load("mnist", data_dir=mnist_root, val_size=50, seed=3, normalize="none")
    c = load("mnist", data_dir=mnist_root, val_size=50, seed=4, normalize="none")
    train, val = decode(a.train.X), decode(a.val.X)
    assert sorted(np.concatenate([train, val])) == list(range(300))
    np.testing.assert_array_equal(val, decode(b.val.X))
    assert set(val) != set(decode(c.val.X))
    np.testing.assert_array_equal(a.val.y, val % 10)


def test_val_size_fraction_and_train_limit(mnist_root: Path) -> None:
    ds = load("mnist", data_dir=mnist_root, val_size=0.1, train_limit=40, normalize="none")
    assert (len(ds.train), len(ds.val)) == (40, 30)
    full = load("mnist", data_dir=mnist_root, val_size=0.1, normalize="none")
    np.testing.assert_array_equal(decode(ds.train.X), decode(full.train.X)[:40])


@pytest.mark.parametrize("val_size, message", [
    (0, r"val_size=0 gives 0"),
    (300, r"mnist has 300 samples to split, val_size=300 gives 300"),
    (1.5, r"The 'val_size' fraction must be in \(0, 1\). Got 1.5 instead."),
    ("10", r"must be an int count or a float in \(0, 1\). Got '10' instead."),
    (True, r"Got True instead."),
])
def test_bad_val_size(mnist_root: Path, val_size: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load("mnist", data_dir=mnist_root, val_size=val_size)  # type: ignore[arg-type]


def test_bad_normalize_and_train_limit(mnist_root: Path) -> None:
    with pytest.raises(ConfigError, match="one of: feature, channel, none. Got 'z' instead"):
        load("mnist", data_dir=mnist_root, normalize="z")
    with pytest.raises(ConfigError, match=r"'train_limit' .* \[1, inf\) or None. Got 0 instead"):
        load("mnist", data_dir=mnist_root, train_limit=0)


def test_unknown_dataset_lists_valid_names() -> None:
    with pytest.raises(DataError, match="Unknown dataset 'svhn'; valid datasets: mnist, "
                                        "fashion-mnist, cifar10, digits."):
        load("svhn")
    assert DATASETS == ("mnist", "fashion-mnist", "cifar10", "digits")


def test_feature_normalisation_uses_train_statistics_only(mnist_root: Path) -> None:
    raw = load("mnist", data_dir=mnist_root, val_size=60, normalize="none")
    ds = load("mnist", data_dir=mnist_root, val_size=60)
    mean, std = raw.train.X.mean(axis=0), raw.train.X.std(axis=0)
    np.testing.assert_allclose(ds.train.X.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.train.X.std(axis=0), 1, atol=1e-4)
    np.testing.assert_allclose(ds.val.X, (raw.val.X - mean) / std, atol=1e-4)


def test_constant_features_do_not_divide_by_zero(tmp_path: Path) -> None:
    make_mnist(tmp_path / "mnist")
    images = np.zeros((300, 28, 28), np.uint8)
    images[:, 5, 5] = np.arange(300) % 7
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", images)
    ds = load("mnist", data_dir=tmp_path, val_size=30)
    assert np.isfinite(ds.train.X).all() and np.isfinite(ds.val.X).all()
    assert ds.train.X[:, 0].max() == 0.0
    assert ds.train.X[:, 5 * 28 + 5].std() == pytest.approx(1.0, abs=1e-4)


def test_channel_normalisation_and_none(tmp_path: Path) -> None:
    make_cifar(tmp_path / "cifar-10-batches-py")
    ds = load("cifar10", data_dir=tmp_path, val_size=10, normalize="channel")
    per_channel = ds.train.X.reshape(len(ds.train), 3, -1)
    np.testing.assert_allclose(per_channel.mean(axis=(0, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(per_channel.std(axis=(0, 2)), 1, atol=1e-4)
    assert ds.train.X.mean(axis=0).std() > 0.01  # per channel, not per feature
    none = load("cifar10", data_dir=tmp_path, val_size=10, normalize="none")
    assert none.train.X.min() >= 0.0 and none.train.X.max() == 1.0


def test_cifar_reads_five_batches_and_meta(tmp_path: Path) -> None:
    make_cifar(tmp_path / "cifar-10-batches-py")
    ds = load("cifar10", data_dir=tmp_path, val_size=10, normalize="none")
    assert ds.image_shape == (3, 32, 32) and ds.class_names[:2] == ("plane", "car")
    assert sorted(np.concatenate([decode(ds.train.X), decode(ds.val.X)])) == list(range(100))


def test_final_splits_monitor_and_test(mnist_root: Path) -> None:
    ds = load("mnist", data_dir=mnist_root, val_size=50, normalize="none")
    fit, monitor, test = ds.final_splits(20)
    assert (len(fit), len(monitor), len(test)) == (280, 20, 50)
    assert sorted(np.concatenate([decode(fit.X), decode(monitor.X)])) == list(range(300))
    np.testing.assert_array_equal(decode(test.X), np.arange(10_000, 10_050))
    assert all(s.X.dtype == np.float32 and s.y.dtype == np.int64 for s in (fit, monitor, test))
    with pytest.raises(ConfigError, match=r"'monitor' size must be an int in \[0, 299\]"):
        ds.final_splits(300)


def test_final_splits_normalise_with_the_fit_part(mnist_root: Path) -> None:
    raw_fit, _, raw_test = load("mnist", data_dir=mnist_root, normalize="none",
                                val_size=50).final_splits(0)
    fit, monitor, test = load("mnist", data_dir=mnist_root, val_size=50).final_splits(0)
    assert len(monitor) == 0 and monitor.X.shape == (0, 784)
    mean, std = raw_fit.X.mean(axis=0), raw_fit.X.std(axis=0)
    np.testing.assert_allclose(test.X, (raw_test.X - mean) / std, atol=1e-4)


def test_load_never_opens_test_files(mnist_root: Path) -> None:
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (mnist_root / "mnist" / name).unlink()
    ds = load("mnist", data_dir=mnist_root, val_size=50)
    assert len(ds.train) == 250
    with pytest.raises(DataError, match=r"mnist test file t10k-images-idx3-ubyte\[.gz\] is "
                                        r"missing from .*mnist; pass --download"):
        ds.final_splits(10)


def test_corrupt_test_file_only_fails_final_splits(tmp_path: Path) -> None:
    make_cifar(tmp_path / "cifar-10-batches-py")
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    ds = load("cifar10", data_dir=tmp_path, val_size=10)
    assert not any("test" in p.name for p in (tmp_path / "cache" / "arrays").iterdir())
    with pytest.raises(DataError, match="test_batch is truncated or not a CIFAR-10 python batch"):
        ds.final_splits(5)


def test_cache_is_reused_and_invalidated(mnist_root: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    first = load("mnist", data_dir=mnist_root, val_size=50)
    cached = sorted(p.name for p in (Path(os.environ["TUNER_CACHE_DIR"]) / "arrays").iterdir())
    assert len(cached) == 2 and all(name.startswith("mnist-train-") for name in cached)

    def boom(path: Path, ndim: int) -> np.ndarray:
        raise AssertionError("parsed again")

    monkeypatch.setattr(sources, "read_idx", boom)
    second = load("mnist", data_dir=mnist_root, val_size=50)
    np.testing.assert_array_equal(first.train.X, second.train.X)
    labels = mnist_root / "mnist" / "train-labels-idx1-ubyte.gz"
    os.utime(labels, ns=(labels.stat().st_atime_ns, labels.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="parsed again"):
        load("mnist", data_dir=mnist_root, val_size=50)


def test_unwritable_cache_still_loads(mnist_root: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("TUNER_CACHE_DIR", str(blocker))
    assert len(load("mnist", data_dir=mnist_root, val_size=50).train) == 250
    assert "cannot cache mnist under" in caplog.text


def test_dataset_survives_pickling_for_worker_processes(mnist_root: Path) -> None:
    ds = pickle.loads(pickle.dumps(load("mnist", data_dir=mnist_root, val_size=50)))
    assert len(ds.final_splits(0)[2]) == 50


@pytest.mark.parametrize("layout", ["mnist", "MNIST/raw"])
def test_layouts_and_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layout: str
                             ) -> None:
    make_mnist(tmp_path / "root" / layout, gz=layout == "mnist")
    monkeypatch.setenv("TUNER_DATA_DIR", str(tmp_path / "root"))
    assert len(load("mnist", val_size=50).train) == 250


def test_cache_data_root_and_system_dir_are_searched(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    make_mnist(data.default_data_root() / "mnist")
    assert len(load("mnist", data_dir=tmp_path / "empty", val_size=50).val) == 50
    make_mnist(tmp_path / "debian")
    monkeypatch.setitem(data.SYSTEM_DIRS, "fashion-mnist", (tmp_path / "debian",))
    ds = load("fashion-mnist", val_size=50)
    assert ds.class_names[0] == "T-shirt/top" and len(ds.train) == 250


def test_missing_dataset_says_where_it_looked_and_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=(
        r"^Dataset mnist not found: looked for train-images-idx3-ubyte, train-labels-idx1-ubyte "
        r"\(optionally .gz\) in .*nowhere/mnist, .*nowhere/MNIST/raw, .*cache/data/mnist, "
        r".*; pass --download \(needs internet\), or put the files in ROOT/mnist/ and pass "
        r"--data-dir ROOT \(or set TUNER_DATA_DIR\).$"
    )):
        load("mnist", data_dir=tmp_path / "nowhere")


def test_count_mismatch(mnist_root: Path) -> None:
    write_idx(mnist_root / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(299, np.uint8))
    with pytest.raises(DataError, match=r"holds 300 images but .*train-labels-idx1-ubyte.gz "
                                        r"holds 299 labels"):
        load("mnist", data_dir=mnist_root)


def test_labels_out_of_range(mnist_root: Path) -> None:
    write_idx(mnist_root / "mnist" / "train-labels-idx1-ubyte.gz", np.full(300, 12, np.uint8))
    with pytest.raises(DataError, match=r"Label 12 in the mnist training data is out of range: "
                                        r"expected 0..9"):
        load("mnist", data_dir=mnist_root)


def test_wrong_magic_and_truncation_through_load(mnist_root: Path) -> None:
    images = mnist_root / "mnist" / "train-images-idx3-ubyte.gz"
    labels = mnist_root / "mnist" / "train-labels-idx1-ubyte.gz"
    images.write_bytes(labels.read_bytes())
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz has the wrong magic number"):
        load("mnist", data_dir=mnist_root)
    write_idx(images, np.zeros((300, 28, 28), np.uint8))
    images.write_bytes(gzip.compress(gzip.decompress(images.read_bytes())[:-100]))
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz is truncated"):
        load("mnist", data_dir=mnist_root)


def test_wrong_image_size(tmp_path: Path) -> None:
    make_mnist(tmp_path / "mnist")
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", np.zeros((300, 8, 8), np.uint8))
    with pytest.raises(DataError, match=r"images of shape \(8, 8\); expected \(28, 28\)"):
        load("mnist", data_dir=tmp_path)


def test_hostile_cifar_pickle_is_refused_by_load(tmp_path: Path) -> None:
    make_cifar(tmp_path / "cifar-10-batches-py")
    payload = b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(payload)
    with pytest.raises(DataError, match=r"Refusing to unpickle os\.system"):
        load("cifar10", data_dir=tmp_path)


def test_digits_fixed_test_split_and_stratified_val() -> None:
    a, b = load("digits", seed=0), load("digits", seed=1)
    assert a.image_shape == (1, 8, 8) and (len(a.train), len(a.val)) == (1150, 287)
    assert not np.array_equal(a.val.y, b.val.y)
    counts = np.bincount(a.val.y, minlength=10)
    assert counts.min() >= 27 and counts.max() <= 30
    _, _, test_a = a.final_splits(0)
    _, _, test_b = b.final_splits(0)
    assert len(test_a) == 360
    np.testing.assert_array_equal(test_a.y, test_b.y)
    assert load("digits", normalize="none").train.X.max() == 1.0


def test_download_calls_torchvision_with_the_cache_root(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, bool, bool]] = []

    class FakeMNIST:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            calls.append((root, train, download))
            make_mnist(Path(root) / "MNIST" / "raw", n_train=100, n_test=20, gz=False)

    fake = types.ModuleType("torchvision.datasets")
    fake.MNIST = FakeMNIST  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake)
    monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))
    root = str(data.default_data_root())
    ds = load("mnist", val_size=10, download=True)
    assert calls == [(root, True, True), (root, False, True)]
    assert len(ds.train) == 90 and len(ds.final_splits(0)[2]) == 20
    load("mnist", val_size=10, download=True)
    assert len(calls) == 2  # already there: no second download


def test_download_failure_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    class Offline:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            raise RuntimeError("Error downloading cifar-10-python.tar.gz")

    fake = types.ModuleType("torchvision.datasets")
    fake.CIFAR10 = Offline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torchvision.datasets", fake)
    monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))
    with pytest.raises(DataError, match=r"Downloading cifar10 into .*cache/data failed "
                                        r"\(RuntimeError: Error downloading .*\); check the "
                                        r"internet connection"):
        load("cifar10", download=True)


def test_download_without_torchvision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(DataError, match=r"Cannot download mnist: torchvision is not importable "
                                        r".*; put the files in ROOT/mnist/"):
        load("mnist", download=True)


@pytest.mark.slow
@pytest.mark.parametrize("name, n_test, shape", [
    ("mnist", 10_000, (1, 28, 28)),
    ("cifar10", 10_000, (3, 32, 32)),
])
def test_real_shared_data(shared_data: Path, name: str, n_test: int,
                          shape: tuple[int, int, int]) -> None:
    ds = load(name, data_dir=shared_data)
    d = int(np.prod(shape))
    assert ds.image_shape == shape and ds.train.X.shape == (len(ds.train), d)
    assert (len(ds.train), len(ds.val)) == ((55_000, 5_000) if name == "mnist" else (45_000, 5_000))
    fit, monitor, test = ds.final_splits(1000)
    assert len(test) == n_test and len(fit) + len(monitor) == len(ds.train) + len(ds.val)
    for split in (ds.train, ds.val, test):
        assert set(np.unique(split.y)) == set(range(10))


@pytest.mark.slow
def test_real_fashion_mnist() -> None:
    if not (data.SYSTEM_DIRS["fashion-mnist"][0] / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip("dataset-fashion-mnist is not installed")
    ds = load("fashion-mnist")
    assert (len(ds.train), len(ds.val), ds.image_shape) == (55_000, 5_000, (1, 28, 28))
    assert len(ds.final_splits(0)[2]) == 10_000 and set(np.unique(ds.train.y)) == set(range(10))
