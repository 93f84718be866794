"""Finds and reads the raw IMDB reviews: texts and labels, nothing tokenized.

The source is a path, the `KT_TWOSTAGE_IMDB` environment variable, or the
official `aclImdb_v1.tar.gz` downloaded once into the Keras cache and checked
against its sha256. An archive is read in one pass, a folder file by file;
only `{train,test}/{pos,neg}/*.txt` count. `load_imdb` (in `data`) tokenizes
what this module reads.
"""

import hashlib
import os
import re
import tarfile
import tempfile
import zlib

import keras
import numpy as np

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
IMDB_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
ENV_VAR = "KT_TWOSTAGE_IMDB"

# The reviews are sorted by path (so the result does not depend on the order of
# the archive or the file system), then shuffled with this fixed seed. Sorted
# alone, each split would hold every negative review before every positive one,
# and the last 20% that `fit(validation_split=0.2)` keeps would be all positive.
# 113 is the seed `keras.datasets.imdb.load_data` uses.
SHUFFLE_SEED = 113

_SPLITS = ("train", "test")
_LABELS = {"neg": 0, "pos": 1}
# Review files inside an archive, with or without a leading `aclImdb/`.
# Everything else (`unsup/`, `*.feat`, `urls_*.txt`, `imdb.vocab`, `README`)
# is skipped because it does not match.
_REVIEW_MEMBER = re.compile(r"^(?:\./)?(?:aclImdb/)?(train|test)/(neg|pos)/[^/]+\.txt$")
_LAYOUT = (
    "the layout of the official aclImdb_v1.tar.gz: "
    "aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt "
    "(a .tar.gz archive, the `aclImdb` folder or the folder that contains it)"
)


def keras_home():
    """The Keras home folder: `$KERAS_HOME`, else `~/.keras`."""
    # Read at call time (Keras reads it once at import) so that KERAS_HOME
    # set later, e.g. by a test, is honoured.
    home = os.environ.get("KERAS_HOME")
    if home:
        return os.path.expanduser(home)
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = tempfile.gettempdir()
    return os.path.join(base, ".keras")


def resolve_source(path):
    """The absolute path of the reviews: `path`, `$KT_TWOSTAGE_IMDB` or a download."""
    if path is None:
        path = os.environ.get(ENV_VAR) or _download()
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No IMDB reviews at '{path}'. Expected {_LAYOUT}. Download "
            f"{IMDB_URL}, or pass `path=None` (and leave {ENV_VAR} unset) to "
            "download it automatically."
        )
    return path


def _download():
    home = keras_home()
    try:
        # Keras' get_file silently falls back to /tmp/.keras when the folder
        # does not exist yet; create it so the download lands where we expect.
        os.makedirs(os.path.join(home, "datasets"), exist_ok=True)
    except OSError:
        home = os.path.join(tempfile.gettempdir(), ".keras")
    target = os.path.join(home, "datasets", "aclImdb_v1.tar.gz")
    try:
        return keras.utils.get_file(
            fname="aclImdb_v1.tar.gz",
            origin=IMDB_URL,
            file_hash=IMDB_SHA256,
            cache_dir=home,
        )
    except ValueError as error:
        # get_file raises on a hash mismatch but keeps the file; remove it so
        # a truncated or tampered download is never used.
        if os.path.exists(target):
            os.remove(target)
        raise ValueError(
            f"The download of {IMDB_URL} to '{target}' is incomplete or "
            f"corrupted (its sha256 is not {IMDB_SHA256}); the file was "
            "removed. Try again, or download it yourself and pass its path as "
            f"`path` or in the environment variable {ENV_VAR}."
        ) from error
    except Exception as error:  # get_file raises a bare Exception on URL errors.
        raise OSError(
            f"Could not download the IMDB reviews from {IMDB_URL}: {error}. "
            "Download the archive yourself and pass its path as `path` or in "
            f"the environment variable {ENV_VAR}."
        ) from error


def file_sha256(path):
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_root(folder):
    """The `aclImdb` folder: `folder` itself, or its `aclImdb` child."""
    # Accept both the `aclImdb` folder itself and the folder that contains it.
    if not os.path.isdir(os.path.join(folder, "train")) and os.path.isdir(
        os.path.join(folder, "aclImdb")
    ):
        return os.path.join(folder, "aclImdb")
    return folder


def list_folder(root):
    """Returns `{(split, label): [DirEntry of each review, sorted by name]}`."""
    files = {}
    for split in _SPLITS:
        for label in _LABELS:
            folder = os.path.join(root, split, label)
            if not os.path.isdir(folder):
                raise ValueError(
                    f"'{root}' is not an IMDB reviews folder: it has no "
                    f"'{split}/{label}' folder. Expected {_LAYOUT}."
                )
            entries = [
                entry
                for entry in os.scandir(folder)
                if entry.name.endswith(".txt") and entry.is_file()
            ]
            files[split, label] = sorted(entries, key=lambda entry: entry.name)
    _check_not_empty(root, {key: len(value) for key, value in files.items()})
    return files


def folder_signature(files):
    """The sha256 of the name, size and mtime of every review file."""
    signature = hashlib.sha256()
    for (split, label), entries in sorted(files.items()):
        for entry in entries:
            stat = entry.stat()
            line = f"{split}/{label}/{entry.name} {stat.st_size} {stat.st_mtime_ns}\n"
            signature.update(line.encode())
    return signature.hexdigest()


def _check_not_empty(source, counts):
    for (split, label), count in sorted(counts.items()):
        if count == 0:
            raise ValueError(
                f"'{source}' has no reviews in '{split}/{label}' (no .txt "
                f"files). Expected {_LAYOUT}."
            )


def read_folder(files):
    """Reads the files `list_folder` found: `{split: (texts, labels)}`."""
    reviews = {}
    for (split, label), entries in files.items():
        for entry in entries:
            with open(entry.path, "rb") as file:
                reviews[f"{split}/{label}/{entry.name}"] = file.read()
    return _split_reviews(reviews)


def read_archive(path):
    """Reads the reviews of a `.tar`/`.tar.gz`: `{split: (texts, labels)}`."""
    reviews = {}
    try:
        # One sequential pass, nothing extracted to disk. Not the stream mode
        # "r|*": it takes an archive cut short at a member boundary for a
        # complete one. In "r:*" mode, reading the rest of the decompressed
        # stream makes gzip (or bz2, xz) check its end marker and checksum,
        # so a truncated or corrupt archive raises instead of losing reviews.
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                match = _REVIEW_MEMBER.match(member.name)
                if match and member.isfile():
                    name = "/".join(match.groups()) + "/" + member.name.rsplit("/")[-1]
                    reviews[name] = archive.extractfile(member).read()
            while archive.fileobj.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as error:
        raise ValueError(
            f"Could not read the IMDB archive '{path}': {error}. The file is "
            f"not a .tar/.tar.gz archive, or it is truncated or corrupt. "
            f"Expected {_LAYOUT}."
        ) from error
    if not reviews:
        raise ValueError(
            f"The archive '{path}' holds no IMDB reviews. Expected {_LAYOUT}."
        )
    counts = {(split, label): 0 for split in _SPLITS for label in _LABELS}
    for name in reviews:
        split, label, _ = name.split("/")
        counts[split, label] += 1
    _check_not_empty(path, counts)
    return _split_reviews(reviews)


def _split_reviews(reviews):
    """Returns `{split: (texts, labels)}`, sorted by name then shuffled."""
    result = {}
    for split in _SPLITS:
        names = sorted(name for name in reviews if name.startswith(split + "/"))
        order = np.random.default_rng(SHUFFLE_SEED).permutation(len(names))
        names = [names[i] for i in order]
        # errors="replace": one badly encoded file must not stop the load.
        texts = [reviews[name].decode("utf-8", errors="replace") for name in names]
        labels = np.array([_LABELS[name.split("/")[1]] for name in names], "int32")
        result[split] = texts, labels
    return result
