"""Writes kt_twostage/imdb/sample_data/aclImdb_sample.tar.gz from the full IMDB archive.

The sample is a reproducible, balanced draw of real reviews in the layout of the
official aclImdb_v1.tar.gz, with the dataset's own README (citation and terms of
use) as aclImdb/README:

    python tools/make_sample_data.py ../shared/data/aclImdb_v1_labeled.tar.gz

The same source and arguments give a byte-identical file: members are written in
sorted order with fixed owners and times, and the gzip header has no timestamp.
"""

import argparse
import gzip
import io
import os
import re
import tarfile

import numpy as np

_REVIEW = re.compile(r"^(?:\./)?(?:aclImdb/)?(train|test)/(neg|pos)/[^/]+\.txt$")
_README = re.compile(r"^(?:\./)?(?:aclImdb/)?README$")
_DEFAULT_OUTPUT = os.path.normpath(
    os.path.join(
        os.path.dirname(os.path.abspath(__file__)),
        os.pardir,
        "kt_twostage",
        "imdb",
        "sample_data",
        "aclImdb_sample.tar.gz",
    )
)


def read_source(path):
    """Returns `({(split, label): {file name: bytes}}, README bytes)`."""
    reviews = {(s, label): {} for s in ("train", "test") for label in ("neg", "pos")}
    readme = None
    with tarfile.open(path, "r|*") as archive:
        for member in archive:
            if not member.isfile():
                continue
            match = _REVIEW.match(member.name)
            if match:
                file_name = member.name.rsplit("/", 1)[-1]
                reviews[match.groups()][file_name] = archive.extractfile(member).read()
            elif _README.match(member.name):
                readme = archive.extractfile(member).read()
    if readme is None:
        raise ValueError(f"'{path}' has no aclImdb/README to include in the sample.")
    return reviews, readme


def draw(reviews, per_class, seed):
    """Draws `per_class[split]` reviews of each label, reproducibly."""
    rng = np.random.default_rng(seed)
    sample = {}
    for (split, label), files in sorted(reviews.items()):
        names = sorted(files)
        if len(names) < per_class[split]:
            raise ValueError(
                f"'{split}/{label}' has {len(names)} reviews, fewer than the "
                f"{per_class[split]} requested."
            )
        chosen = rng.choice(len(names), size=per_class[split], replace=False)
        for index in sorted(chosen):
            sample[f"aclImdb/{split}/{label}/{names[index]}"] = files[names[index]]
    return sample


def write_archive(path, members):
    """Writes `{name: bytes}` as a .tar.gz, byte-identical for the same input."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with (
        open(path, "wb") as raw,
        gzip.GzipFile(
            filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9
        ) as compressed,
        tarfile.open(
            fileobj=compressed, mode="w", format=tarfile.PAX_FORMAT
        ) as archive,
    ):
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = 0o644
            info.mtime = 0
            archive.addfile(info, io.BytesIO(members[name]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="the full aclImdb .tar.gz (official layout)")
    parser.add_argument("--output", default=_DEFAULT_OUTPUT)
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20111)
    args = parser.parse_args(argv)

    reviews, readme = read_source(args.source)
    per_class = {"train": args.train_per_class, "test": args.test_per_class}
    members = draw(reviews, per_class, args.seed)
    members["aclImdb/README"] = readme
    write_archive(args.output, members)
    size = os.path.getsize(args.output)
    print(f"Wrote {len(members) - 1} reviews to {args.output} ({size:,} bytes).")


if __name__ == "__main__":
    main()
