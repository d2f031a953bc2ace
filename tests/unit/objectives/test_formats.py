"""IDX and CIFAR-10 readers on real-format files in tmp_path, and each way they can be bad."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from objectives.data.cifar import read_cifar_batch, read_cifar_meta
from objectives.data.idx import read_idx
from objectives.errors import DataError


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes holding `array`."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write(path: Path, data: bytes, *, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def cifar_batch(n: int = 4, protocol: int = 4, overrides: dict[bytes, Any] | None = None) -> bytes:
    rng = np.random.default_rng(0)
    batch: dict[Any, Any] = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": [int(v) for v in rng.integers(0, 10, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [f"img_{i}.png".encode() for i in range(n)],
    }
    batch.update(overrides or {})
    return pickle.dumps(batch, protocol=protocol)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_images_and_labels_raw_or_gzipped(tmp_path: Path, gz: bool) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 3], dtype=np.uint8)
    name = "x.gz" if gz else "x"
    np.testing.assert_array_equal(read_idx(write(tmp_path / name, idx_bytes(images), gz=gz), 3),
                                  images)
    np.testing.assert_array_equal(read_idx(write(tmp_path / name, idx_bytes(labels), gz=gz), 1),
                                  labels)


def test_read_idx_wrong_magic_names_expected_and_found(tmp_path: Path) -> None:
    labels_file = write(tmp_path / "labels", idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DataError, match=r"labels has the wrong magic number: expected "
                                        r"0x00000803 .*got 0x00000801"):
        read_idx(labels_file, 3)


def test_read_idx_rejects_non_byte_types_and_tiny_files(tmp_path: Path) -> None:
    ints = write(tmp_path / "ints", struct.pack(">BBBBI", 0, 0, 0x0C, 1, 1) + b"\0\0\0\1")
    with pytest.raises(DataError, match="wrong magic number.*got 0x00000C01"):
        read_idx(ints, 1)
    with pytest.raises(DataError, match="got a file shorter than 4 bytes"):
        read_idx(write(tmp_path / "tiny", b"\0\0"), 1)


def test_read_idx_truncated_data(tmp_path: Path) -> None:
    data = idx_bytes(np.zeros((5, 28, 28), np.uint8))[:-10]
    with pytest.raises(DataError, match=r"truncated: the header promises 3920 bytes of data "
                                        r"for shape \(5, 28, 28\), found 3910"):
        read_idx(write(tmp_path / "imgs.gz", data, gz=True), 3)


def test_read_idx_truncated_header(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="truncated: the IDX header needs 16 bytes, found 8"):
        read_idx(write(tmp_path / "imgs", idx_bytes(np.zeros((1, 2, 2), np.uint8))[:8]), 3)


def test_read_idx_truncated_gzip_stream(tmp_path: Path) -> None:
    packed = gzip.compress(idx_bytes(np.arange(4000, dtype=np.uint8) % 251))
    path = write(tmp_path / "labels.gz", packed[: len(packed) // 2])
    with pytest.raises(DataError, match=r"labels.gz is truncated or corrupt gzip data"):
        read_idx(path, 1)


def test_read_idx_trailing_bytes(tmp_path: Path) -> None:
    path = write(tmp_path / "labels", idx_bytes(np.zeros(3, np.uint8)) + b"junk")
    with pytest.raises(DataError, match="4 bytes after the data the header promises"):
        read_idx(path, 1)


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Cannot read .*nope: No such file"):
        read_idx(tmp_path / "nope", 1)


@pytest.mark.parametrize("protocol", [2, 3, 4])
def test_read_cifar_batch_round_trip(tmp_path: Path, protocol: int) -> None:
    path = write(tmp_path / "data_batch_1", cifar_batch(n=6, protocol=protocol))
    X, y = read_cifar_batch(path)
    original = pickle.loads(path.read_bytes())
    np.testing.assert_array_equal(X, original[b"data"])
    np.testing.assert_array_equal(y, original[b"labels"])
    assert X.dtype == np.uint8 and X.flags.c_contiguous and y.dtype == np.int64


def test_read_cifar_batch_accepts_str_keys(tmp_path: Path) -> None:
    data = np.ones((2, 3072), np.uint8)
    path = write(tmp_path / "b", pickle.dumps({"data": data, "labels": [1, 2]}))
    X, y = read_cifar_batch(path)
    assert X.shape == (2, 3072) and list(y) == [1, 2]


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


def test_restricted_unpickler_refuses_other_globals(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Evil(marker), b"labels": []})
    with pytest.raises(DataError, match=r"Refusing to unpickle (posix|os|nt)\.system"):
        read_cifar_batch(write(tmp_path / "data_batch_1", payload))
    assert not marker.exists()


def test_restricted_unpickler_refuses_object_arrays(tmp_path: Path) -> None:
    data = np.array([[b"x"] * 3072], dtype=object)
    path = write(tmp_path / "b", pickle.dumps({b"data": data, b"labels": [0]}))
    with pytest.raises(DataError, match=r"numpy array of type 'O8'; expected uint8"):
        read_cifar_batch(path)


def test_restricted_unpickler_refuses_ndarray_subclasses(tmp_path: Path) -> None:
    data = np.ma.masked_array(np.zeros((1, 3072), np.uint8))
    path = write(tmp_path / "b", pickle.dumps({b"data": data, b"labels": [0]}))
    with pytest.raises(DataError, match=r"Refusing to unpickle numpy\.ma\.core"):
        read_cifar_batch(path)


def test_read_cifar_batch_truncated(tmp_path: Path) -> None:
    path = write(tmp_path / "data_batch_2", cifar_batch()[:-2000])
    with pytest.raises(DataError, match="data_batch_2 is truncated or not a CIFAR-10 python batch"):
        read_cifar_batch(path)


def test_read_cifar_batch_count_mismatch(tmp_path: Path) -> None:
    path = write(tmp_path / "b", cifar_batch(n=3, overrides={b"labels": [1, 2]}))
    with pytest.raises(DataError, match="has 3 images but 2 labels"):
        read_cifar_batch(path)


def test_read_cifar_batch_wrong_shape_and_keys(tmp_path: Path) -> None:
    wide = write(tmp_path / "wide", cifar_batch(overrides={b"data": np.zeros((4, 10), np.uint8)}))
    with pytest.raises(DataError, match=r"data of shape \(4, 10\); expected \(n, 3072\)"):
        read_cifar_batch(wide)
    keyless = write(tmp_path / "keyless", pickle.dumps({b"pixels": np.zeros(1, np.uint8)}))
    with pytest.raises(DataError, match="expected keys 'data' .*and 'labels'"):
        read_cifar_batch(keyless)
    listed = write(tmp_path / "listed", pickle.dumps([1, 2]))
    with pytest.raises(DataError, match="expected a dict, got list"):
        read_cifar_batch(listed)


def test_read_cifar_meta(tmp_path: Path) -> None:
    path = write(tmp_path / "batches.meta",
                 pickle.dumps({b"label_names": [b"cat", b"dog"], b"num_vis": 3072}))
    assert read_cifar_meta(path) == ("cat", "dog")
    bad = write(tmp_path / "bad.meta", pickle.dumps({b"label_names": 3}))
    with pytest.raises(DataError, match="expected 'label_names', a list of strings"):
        read_cifar_meta(bad)


@pytest.mark.slow
def test_real_cifar_batch_needs_only_admitted_names(shared_data: Path) -> None:
    X, y = read_cifar_batch(shared_data / "cifar-10-batches-py" / "data_batch_1")
    assert X.shape == (10000, 3072) and y.shape == (10000,)
    assert read_cifar_meta(shared_data / "cifar-10-batches-py" / "batches.meta")[0] == "airplane"
