"""Loads the IMDB movie reviews from raw text as padded integer token ids.

The reviews come from the Large Movie Review Dataset v1.0 (Maas et al., ACL 2011),
read from its official archive or a folder with the same layout (`reviews`), and
are tokenized here with `keras.layers.TextVectorization` fitted on the training
split only, then cached.
"""

import dataclasses
import hashlib
import json
import os
import re
import string
import warnings
import zipfile

import keras
import numpy as np
import tensorflow as tf

from kt_twostage import _io
from kt_twostage._validation import check_positive_int
from kt_twostage.imdb.reviews import (  # noqa: F401 - the constants are public here too
    ENV_VAR,
    IMDB_SHA256,
    IMDB_URL,
    SHUFFLE_SEED,
    file_sha256,
    find_root,
    folder_signature,
    keras_home,
    list_folder,
    read_archive,
    read_folder,
    resolve_source,
)
from kt_twostage.imdb.sample import sample_path  # noqa: F401 - public here too

# Part of every cache key: bump it whenever tokenization or the array layout
# changes, so that caches written by an older version are never read.
TOKENIZER_VERSION = 1

# Large batches keep TensorFlow's per-batch overhead negligible (see
# docs/benchmarks/data_loading.md).
_BATCH_SIZE = 2048
# Same punctuation set as the Keras text classification tutorial.
_PUNCTUATION = f"[{re.escape(string.punctuation)}]"
# A few loads per process at most (one per setting); each holds ~100 MB.
_MEMO_SIZE = 4
_MEMO = {}


@dataclasses.dataclass(frozen=True, eq=False)
class ImdbData:
    """The tokenized IMDB reviews returned by `load_imdb`.

    Attributes:
        x_train: int32 array of shape `(n_train, max_length)` of token ids.
        y_train: int32 array of shape `(n_train,)`, 0 (negative) or 1 (positive).
        x_test: int32 array of shape `(n_test, max_length)`.
        y_test: int32 array of shape `(n_test,)`.
        vocabulary: list of str, the token of each id: `vocabulary[0]` is `""`
            (padding), `vocabulary[1]` is `"[UNK]"` (out of vocabulary).

    The arrays are read-only, because one `ImdbData` is shared by every call
    with the same source and settings in a process.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    vocabulary: list

    def __repr__(self):
        return (
            f"ImdbData(x_train={self.x_train.shape}, x_test={self.x_test.shape}, "
            f"vocabulary={len(self.vocabulary)} tokens)"
        )


def load_imdb(path=None, *, num_words=88584, max_length=250, cache_dir=None):
    """Loads the IMDB reviews as padded token ids, ready for an `Embedding`.

    The text is lowercased, `<br />` tags and punctuation are removed, and
    the text is split on whitespace by a `keras.layers.TextVectorization`
    adapted on the training reviews only. Each review then becomes its last
    `max_length` token ids, with zeros in front of shorter reviews (what
    `keras.utils.pad_sequences` does by default). Reviews are sorted by path
    and shuffled with a fixed seed, so every call gives the same arrays.

    The arrays are cached in `cache_dir` under a key made of the source's
    identity (the sha256 of an archive's bytes, so a moved or copied archive
    still hits the cache; for a folder its absolute path and the name, size
    and modification time of every review file), `num_words`, `max_length`
    and `TOKENIZER_VERSION`. Within a process, later calls return the same
    `ImdbData` without touching the disk.

    Args:
        path: Path of the reviews: the official `aclImdb_v1.tar.gz` (or any
            `.tar`/`.tar.gz` with the same layout), the extracted `aclImdb`
            folder or the folder that contains it. Only
            `{train,test}/{pos,neg}/*.txt` are read; `unsup/` and the other
            files are ignored. Defaults to `None`: the environment variable
            `KT_TWOSTAGE_IMDB` if set, else the official archive, downloaded
            once into the Keras cache (`~/.keras/datasets`, or
            `$KERAS_HOME/datasets`) and checked against its sha256.
        num_words: Integer, the size of the vocabulary including the two
            reserved ids: 0 for padding and 1 for out-of-vocabulary words.
            The `num_words - 2` most frequent training words get the ids
            `2, ..., num_words - 1`, so every id is below `num_words` and fits
            `Embedding(num_words, ...)`. If the training reviews hold fewer
            distinct words, the vocabulary is smaller. Must be at least 2.
            Defaults to `88584`.
        max_length: Integer, the length of every tokenized review. Defaults
            to `250`.
        cache_dir: Folder for the tokenized arrays. Defaults to `None`:
            `kt_twostage/` in the Keras home (`~/.keras`, or `$KERAS_HOME`).

    Returns:
        An `ImdbData`: `x_train`, `y_train`, `x_test`, `y_test` and
        `vocabulary`. The full dataset has 25,000 training and 25,000 test
        reviews, half of each positive.

    Example:

    ```python
    from kt_twostage import load_imdb, sample_path

    data = load_imdb(sample_path(), num_words=10000, max_length=200)
    data.x_train.shape  # (1000, 200)
    data.vocabulary[:3]  # ['', '[UNK]', 'the']
    ```
    """
    _check_num_words(num_words)
    check_positive_int("max_length", max_length)
    source = resolve_source(path)
    if os.path.isdir(source):
        root = find_root(source)
        files = list_folder(root)
        identity = ["folder", root, folder_signature(files)]
    else:
        files = None
        identity = ["archive", file_sha256(source)]
    settings = [int(num_words), int(max_length), TOKENIZER_VERSION]
    key = hashlib.sha256(json.dumps([identity, settings]).encode()).hexdigest()[:24]
    if key in _MEMO:
        return _MEMO[key]

    cache_dir = cache_dir or os.path.join(keras_home(), "kt_twostage")
    cache_file = os.path.join(
        os.path.expanduser(cache_dir), f"imdb-{num_words}-{max_length}-{key}.npz"
    )
    data = _read_cache(cache_file)
    if data is None:
        if files is None:
            reviews = read_archive(source)
        else:
            reviews = read_folder(files)
        data = _tokenize(reviews, num_words, max_length)
        try:
            _write_cache(cache_file, data)
        except OSError as error:
            # A cache that cannot be written (read-only home, full disk) costs
            # time on the next run, not this run's data.
            warnings.warn(
                f"Could not write the cache file '{cache_file}': {error}.",
                stacklevel=2,
            )
    if len(_MEMO) >= _MEMO_SIZE:
        _MEMO.pop(next(iter(_MEMO)))
    _MEMO[key] = data
    return data


def source_sha256(path=None) -> str:
    """The sha256 that identifies the reviews at `path` (as `load_imdb` reads it).

    For an archive, the sha256 of its bytes; for a folder, the sha256 of the
    name, size and modification time of every review file. `path=None`
    resolves as in `load_imdb`.
    """
    source = resolve_source(path)
    if os.path.isdir(source):
        return folder_signature(list_folder(find_root(source)))
    return file_sha256(source)


def _check_num_words(num_words):
    check_positive_int("num_words", num_words)
    if num_words < 2:
        raise ValueError(
            "Received an invalid value for argument `num_words`, expected an "
            f"integer >= 2 (ids 0 and 1 are reserved for padding and "
            f"out-of-vocabulary words), got {num_words!r}."
        )


def _standardize(text):
    # The Keras text classification tutorial's standardization: lowercase,
    # `<br />` line breaks become spaces, punctuation is dropped ("don't" ->
    # "dont").
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, "<br />", " ")
    return tf.strings.regex_replace(text, _PUNCTUATION, "")


def _tokenize(reviews, num_words, max_length):
    # Not `ragged=True`: Keras allows it on the TensorFlow backend only. Dense
    # output is zero-padded at the end of each batch's longest review, and no
    # token is 0 (0 is the padding id), so the nonzero ids are the tokens.
    vectorizer = keras.layers.TextVectorization(
        max_tokens=num_words, standardize=_standardize
    )
    train_texts, y_train = reviews["train"]
    test_texts, y_test = reviews["test"]
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(train_texts).batch(_BATCH_SIZE))
    return _read_only(
        ImdbData(
            x_train=_vectorize(vectorizer, train_texts, max_length),
            y_train=y_train,
            x_test=_vectorize(vectorizer, test_texts, max_length),
            y_test=y_test,
            # get_vocabulary() gives numpy strings; make them plain str, like
            # the vocabulary read back from the cache.
            vocabulary=[str(token) for token in vectorizer.get_vocabulary()],
        )
    )


def _vectorize(vectorizer, texts, max_length):
    # Called eagerly, batch by batch: inside `Dataset.map` the layer fails on
    # the JAX and PyTorch backends.
    values, lengths = [], []
    for start in range(0, len(texts), _BATCH_SIZE):
        batch = np.asarray(vectorizer(texts[start : start + _BATCH_SIZE]))
        tokens = batch != 0
        values.append(batch[tokens])
        lengths.append(tokens.sum(axis=1))
    return _pad_last(np.concatenate(values), np.concatenate(lengths), max_length)


def _pad_last(values, lengths, max_length):
    """Keeps each row's last `max_length` ids, zero-padded in front.

    The vectorized equivalent of `keras.utils.pad_sequences(rows, max_length)`
    (padding="pre", truncating="pre"), where row `i` is
    `values[ends[i] - lengths[i]:ends[i]]`.
    """
    kept = np.minimum(lengths, max_length)
    ends = np.cumsum(lengths)
    rows = np.repeat(np.arange(len(lengths)), kept)
    # Position of each kept id within its row's kept ids: 0, 1, ..., kept - 1.
    offsets = np.arange(kept.sum()) - np.repeat(np.cumsum(kept) - kept, kept)
    padded = np.zeros((len(lengths), max_length), dtype="int32")
    padded[rows, np.repeat(max_length - kept, kept) + offsets] = values[
        np.repeat(ends - kept, kept) + offsets
    ]
    return padded


def _read_only(data):
    for array in (data.x_train, data.y_train, data.x_test, data.y_test):
        array.flags.writeable = False
    return data


def _read_cache(cache_file):
    if not os.path.exists(cache_file):
        return None
    try:
        with np.load(cache_file, allow_pickle=False) as arrays:
            vocabulary = arrays["vocabulary"].tobytes().decode("utf-8").split("\n")
            data = ImdbData(
                x_train=arrays["x_train"],
                y_train=arrays["y_train"],
                x_test=arrays["x_test"],
                y_test=arrays["y_test"],
                vocabulary=vocabulary,
            )
        if len(data.x_train) != len(data.y_train) or len(data.x_test) != len(
            data.y_test
        ):
            raise ValueError("inconsistent array lengths")
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        warnings.warn(
            f"Ignoring the unreadable cache file '{cache_file}' ({error}); "
            "tokenizing the reviews again.",
            stacklevel=3,
        )
        return None
    return _read_only(data)


def _write_cache(cache_file, data):
    # Tokens never contain whitespace (TextVectorization splits on it), so the
    # vocabulary round-trips through one newline-joined UTF-8 buffer, which is
    # far smaller than a fixed-width numpy string array.
    vocabulary = np.frombuffer("\n".join(data.vocabulary).encode("utf-8"), "uint8")
    # A killed process leaves either the old cache or the complete new one.
    with _io.atomic_file(cache_file, binary=True) as file:
        np.savez(
            file,
            x_train=data.x_train,
            y_train=data.y_train,
            x_test=data.x_test,
            y_test=data.y_test,
            vocabulary=vocabulary,
        )
