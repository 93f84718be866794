import gzip
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from kt_twostage.imdb import data

# The full dataset's test reads the official archive (or its extracted folder)
# from this environment variable; without it the test is skipped.
FULL_ARCHIVE_VAR = "KT_TWOSTAGE_TEST_FULL_IMDB"

# Everything a loader of the official archive must read...
REVIEWS = {
    "train/pos/1_10.txt": "Great MOVIE!<br /><br />Loved it, one two three four "
    "five six.",
    "train/pos/2_9.txt": "A great, great film.",
    "train/neg/3_1.txt": "Terrible movie.<br />Awful acting!",
    "train/neg/4_2.txt": "Bad film; AWFUL.",
    "test/pos/5_8.txt": "great zebra movie",
    "test/neg/6_3.txt": "awful movie",
}
# ... and what it must skip.
EXTRA_FILES = {
    "README": "Large Movie Review Dataset v1.0",
    "imdb.vocab": "the\nand\n",
    "train/unsup/7_0.txt": "unsupword unsupword",
    "train/labeledBow.feat": "0 0:1",
    "train/urls_pos.txt": "http://www.imdb.com/title/tt0000001/usercomments",
    "test/pos/notes.md": "notaword",
}


def write_folder(root, files):
    for name, text in files.items():
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return Path(root)


def write_archive(path, files, prefix="aclImdb/"):
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            payload = text.encode("utf-8")
            info = tarfile.TarInfo(prefix + name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return Path(path)


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch, tmp_path):
    # Each test sees an empty in-process memo and its own Keras home.
    monkeypatch.setattr(data, "_MEMO", {})
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv(data.ENV_VAR, raising=False)


@pytest.fixture
def archive(tmp_path):
    return write_archive(tmp_path / "aclImdb.tar.gz", {**REVIEWS, **EXTRA_FILES})


def load(path, tmp_path, **kwargs):
    return data.load_imdb(path, cache_dir=tmp_path / "cache", **kwargs)


def decode(row, vocabulary):
    return [vocabulary[i] for i in row if i != 0]


def texts_by_label(imdb, split):
    x, y = (
        (imdb.x_train, imdb.y_train) if split == "train" else (imdb.x_test, imdb.y_test)
    )
    return sorted(
        (int(label), " ".join(decode(row, imdb.vocabulary)))
        for row, label in zip(x, y, strict=True)
    )


@pytest.mark.parametrize(
    "form", ["aclImdb folder", "parent folder", "archive", "archive without prefix"]
)
def test_every_source_form_gives_the_same_data(tmp_path, form):
    files = {**REVIEWS, **EXTRA_FILES}
    if form == "aclImdb folder":
        source = write_folder(tmp_path / "aclImdb", files)
    elif form == "parent folder":
        source = write_folder(tmp_path / "aclImdb", files).parent
    elif form == "archive":
        source = write_archive(tmp_path / "a.tar.gz", files)
    else:
        source = write_archive(tmp_path / "a.tar.gz", files, prefix="")
    imdb = load(source, tmp_path, max_length=12)

    assert imdb.x_train.shape == (4, 12) and imdb.x_test.shape == (2, 12)
    assert imdb.x_train.dtype == np.int32 and imdb.x_test.dtype == np.int32
    assert sorted(imdb.y_train.tolist()) == [0, 0, 1, 1]
    assert sorted(imdb.y_test.tolist()) == [0, 1]
    assert texts_by_label(imdb, "train") == [
        (0, "bad film awful"),
        (0, "terrible movie awful acting"),
        (1, "a great great film"),
        (1, "great movie loved it one two three four five six"),
    ]
    # "zebra" is only in the test split, so it is out of vocabulary.
    assert texts_by_label(imdb, "test") == [
        (0, "awful movie"),
        (1, "great [UNK] movie"),
    ]


def test_vocabulary_is_standardized_and_fit_on_train_only(archive, tmp_path):
    imdb = load(archive, tmp_path)
    vocabulary = imdb.vocabulary
    assert vocabulary[:2] == ["", "[UNK]"]
    assert all(isinstance(token, str) for token in vocabulary)
    # Most frequent first ("great": 3), ties in reverse alphabetical order
    # ("movie", "film", "awful": 2 each), as TextVectorization sorts them.
    assert vocabulary[2:6] == ["great", "movie", "film", "awful"]
    for absent in ("br", "<br", "zebra", "unsupword", "notaword", "the", "Great"):
        assert absent not in vocabulary
    assert not any(set(token) & set(".,;!<>/") for token in vocabulary)
    zebra_row = imdb.x_test[imdb.y_test == 1][0]
    assert decode(zebra_row, vocabulary) == ["great", "[UNK]", "movie"]
    assert zebra_row[-2] == 1


def test_pre_padding_and_pre_truncation(archive, tmp_path):
    long_review = "great movie loved it one two three four five six".split()
    padded = load(archive, tmp_path, max_length=14)
    row = padded.x_train[padded.y_train == 1]
    row = next(r for r in row if np.count_nonzero(r) == 10)
    assert row[:4].tolist() == [0, 0, 0, 0]
    assert decode(row, padded.vocabulary) == long_review

    truncated = load(archive, tmp_path, max_length=3)
    rows = [decode(r, truncated.vocabulary) for r in truncated.x_train]
    # Like keras.utils.pad_sequences: the last tokens are kept.
    assert ["four", "five", "six"] in rows
    assert all(np.count_nonzero(r) == 3 for r in truncated.x_train)


def test_num_words_caps_the_vocabulary(archive, tmp_path):
    imdb = load(archive, tmp_path, num_words=4)
    assert len(imdb.vocabulary) == 4
    assert imdb.x_train.max() == 3 and imdb.x_test.max() <= 3
    assert (imdb.x_train == 1).any()
    # A cap above the number of distinct words changes nothing.
    assert len(load(archive, tmp_path, num_words=1000).vocabulary) < 1000


def test_same_data_every_call_and_read_only(archive, tmp_path):
    first = load(archive, tmp_path)
    assert load(archive, tmp_path) is first
    with pytest.raises(ValueError, match="read-only"):
        first.x_train[0, 0] = 5
    data._MEMO.clear()
    fresh = data.load_imdb(archive, cache_dir=tmp_path / "other_cache")
    np.testing.assert_array_equal(fresh.x_train, first.x_train)
    np.testing.assert_array_equal(fresh.y_test, first.y_test)


def test_second_load_reads_the_cache(archive, tmp_path, monkeypatch):
    first = load(archive, tmp_path, max_length=8)
    (cache_file,) = (tmp_path / "cache").iterdir()
    assert cache_file.suffix == ".npz"

    def no_tokenizing(*args):
        raise AssertionError("tokenized again instead of reading the cache")

    monkeypatch.setattr(data, "_tokenize", no_tokenizing)
    data._MEMO.clear()
    second = load(archive, tmp_path, max_length=8)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(second, name), getattr(first, name))
    assert second.vocabulary == first.vocabulary
    # Other settings or other data are other cache entries.
    monkeypatch.undo()
    monkeypatch.setattr(data, "_MEMO", {})
    load(archive, tmp_path, max_length=9)
    write_archive(archive, {**REVIEWS, "train/pos/9_9.txt": "new review"})
    load(archive, tmp_path, max_length=8)
    assert len(list((tmp_path / "cache").iterdir())) == 3


def test_default_cache_dir_is_in_keras_home(archive, tmp_path):
    data.load_imdb(archive)
    assert len(list((tmp_path / "keras_home" / "kt_twostage").glob("*.npz"))) == 1


def test_corrupt_cache_is_rebuilt(archive, tmp_path):
    first = load(archive, tmp_path)
    (cache_file,) = (tmp_path / "cache").iterdir()
    cache_file.write_bytes(cache_file.read_bytes()[:100])
    data._MEMO.clear()
    with pytest.warns(UserWarning, match="Ignoring the unreadable cache file"):
        rebuilt = load(archive, tmp_path)
    np.testing.assert_array_equal(rebuilt.x_train, first.x_train)
    data._MEMO.clear()
    np.testing.assert_array_equal(load(archive, tmp_path).x_train, first.x_train)


def test_failed_cache_write_leaves_no_file(archive, tmp_path, monkeypatch):
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data.np, "savez", killed)
    with pytest.raises(KeyboardInterrupt):
        load(archive, tmp_path)
    assert list((tmp_path / "cache").iterdir()) == []


def test_environment_variable_names_the_source(archive, tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(archive))
    assert data.load_imdb(cache_dir=tmp_path / "cache").x_train.shape == (4, 250)


def test_download_is_verified(archive, tmp_path, monkeypatch):
    calls = []

    def fake_get_file(fname, origin, file_hash, cache_dir):
        calls.append((origin, file_hash))
        return str(archive)

    monkeypatch.setattr(data.keras.utils, "get_file", fake_get_file)
    assert load(None, tmp_path).x_test.shape == (2, 250)
    assert calls == [(data.IMDB_URL, data.IMDB_SHA256)]


def test_corrupt_download_is_removed(tmp_path, monkeypatch):
    target = tmp_path / "keras_home" / "datasets" / "aclImdb_v1.tar.gz"

    def truncated_download(fname, origin, file_hash, cache_dir):
        assert Path(cache_dir) / "datasets" / fname == target
        target.write_bytes(b"truncated")
        raise ValueError("Incomplete or corrupted file detected.")

    monkeypatch.setattr(data.keras.utils, "get_file", truncated_download)
    with pytest.raises(ValueError, match="incomplete or corrupted.*was removed"):
        load(None, tmp_path)
    assert not target.exists()


def test_failed_download_says_how_to_get_the_data(tmp_path, monkeypatch):
    def offline(**kwargs):
        raise Exception("URL fetch failure on https://ai.stanford.edu/: None")

    monkeypatch.setattr(data.keras.utils, "get_file", offline)
    with pytest.raises(OSError, match="Could not download.*KT_TWOSTAGE_IMDB"):
        load(None, tmp_path)


def _without(name):
    return {key: value for key, value in REVIEWS.items() if not key.startswith(name)}


BAD_SOURCES = [
    ("missing", FileNotFoundError, r"No IMDB reviews at '.*missing'.*aclImdb/\{train"),
    ("empty folder", ValueError, r"has no 'train/neg' folder.*Expected the layout"),
    ("folder without test", ValueError, r"has no 'test/neg' folder"),
    ("folder with empty train/pos", ValueError, r"no reviews in 'train/pos'"),
    ("archive without test/neg", ValueError, r"no reviews in 'test/neg'"),
    ("archive without reviews", ValueError, r"holds no IMDB reviews.*Expected"),
    ("truncated archive", ValueError, r"Could not read the IMDB archive.*truncated"),
    ("text file", ValueError, r"Could not read the IMDB archive '.*review.txt'"),
]


@pytest.mark.parametrize(("case", "error", "message"), BAD_SOURCES)
def test_bad_source(tmp_path, case, error, message):
    source = tmp_path / "aclImdb"
    if case == "missing":
        source = tmp_path / "missing"
    elif case == "empty folder":
        source.mkdir()
    elif case == "folder without test":
        write_folder(source, _without("test/"))
    elif case == "folder with empty train/pos":
        write_folder(source, _without("train/pos/"))
        (source / "train" / "pos").mkdir()
    elif case == "archive without test/neg":
        source = write_archive(tmp_path / "a.tar.gz", _without("test/neg/"))
    elif case == "archive without reviews":
        source = write_archive(tmp_path / "a.tar.gz", EXTRA_FILES)
    elif case == "truncated archive":
        whole = write_archive(tmp_path / "a.tar.gz", REVIEWS).read_bytes()
        source.with_suffix(".tar.gz").write_bytes(whole[: len(whole) // 2])
        source = source.with_suffix(".tar.gz")
    else:
        source = tmp_path / "review.txt"
        source.write_text("Not an archive.")
    with pytest.raises(error, match=message):
        load(source, tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"max_length": 0},
            "argument `max_length`, expected a positive integer, got 0",
        ),
        ({"max_length": -3}, "argument `max_length`.*got -3"),
        ({"max_length": 2.5}, "argument `max_length`.*got 2.5"),
        ({"max_length": True}, "argument `max_length`.*got True"),
        ({"num_words": 0}, "argument `num_words`, expected a positive integer, got 0"),
        ({"num_words": 1}, r"argument `num_words`, expected an integer >= 2.*got 1"),
        ({"num_words": "88584"}, "argument `num_words`.*got '88584'"),
    ],
)
def test_bad_settings(archive, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load(archive, tmp_path, **kwargs)


def test_archive_cut_anywhere_is_rejected(tmp_path):
    # tarfile's stream mode takes an archive cut at a member boundary for a
    # complete one; the loader must notice every truncation.
    whole = write_archive(tmp_path / "a.tar.gz", REVIEWS).read_bytes()
    cut = tmp_path / "cut.tar.gz"
    for length in range(1, len(whole), 3):
        cut.write_bytes(whole[:length])
        with pytest.raises(ValueError, match="Could not read the IMDB archive"):
            load(cut, tmp_path)


def test_gzip_error_inside_archive_is_reported(tmp_path):
    broken = tmp_path / "broken.tar.gz"
    with gzip.open(broken, "wb") as file:
        file.write(b"not a tar archive" * 100)
    with pytest.raises(ValueError, match="Could not read the IMDB archive"):
        load(broken, tmp_path)


def test_builtin_sample_is_balanced(tmp_path):
    assert os.path.getsize(data.sample_path()) < 3_000_000
    imdb = load(data.sample_path(), tmp_path, num_words=10000, max_length=200)
    assert imdb.x_train.shape == (1000, 200) and imdb.x_test.shape == (1000, 200)
    assert imdb.y_train.sum() == 500 and imdb.y_test.sum() == 500
    assert len(imdb.vocabulary) == 10000
    # Shuffled: the last 20% (what fit(validation_split=0.2) holds out) is mixed.
    assert 0.3 < imdb.y_train[-200:].mean() < 0.7
    with tarfile.open(data.sample_path()) as archive:
        readme = archive.extractfile("aclImdb/README").read().decode()
    assert "Maas" in readme


@pytest.mark.slow
def test_full_dataset_counts_and_balance(tmp_path):
    """Tokenizes all 50,000 reviews: about 5 s on 2 CPU cores."""
    full_archive = os.environ.get(FULL_ARCHIVE_VAR)
    if not full_archive:
        pytest.skip(
            "needs the full IMDB dataset (50,000 labeled reviews): set "
            f"{FULL_ARCHIVE_VAR} to the path of the official aclImdb_v1.tar.gz "
            f"({data.IMDB_URL}) or of its extracted aclImdb folder"
        )
    if not os.path.exists(full_archive):
        pytest.fail(f"{FULL_ARCHIVE_VAR}={full_archive!r}: no such file or folder")
    imdb = load(full_archive, tmp_path, num_words=2000, max_length=20)
    assert imdb.x_train.shape == (25000, 20) and imdb.x_test.shape == (25000, 20)
    assert imdb.y_train.sum() == 12500 and imdb.y_test.sum() == 12500
    assert len(imdb.vocabulary) == 2000
