"""Times `load_imdb` on the full 50,000 reviews: cold, warm and in-process.

    python benchmarks/bench_data.py [ARCHIVE_OR_FOLDER] [--repeat 3]

- cold: empty cache folder, nothing in memory: read, tokenize, write the cache.
- warm: a new process would see this: the cache file exists, memory is empty.
- memo: a second call in the same process (what every trial of a search sees).

Results are recorded in docs/benchmarks/data_loading.md.
"""

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

_DEFAULT_SOURCE = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "aclImdb_v1_labeled.tar.gz"
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default=str(_DEFAULT_SOURCE))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--num-words", type=int, default=88584)
    parser.add_argument("--max-length", type=int, default=250)
    args = parser.parse_args(argv)

    start = time.perf_counter()
    import keras  # noqa: F401  (TensorFlow starts here; timed on its own)

    # Run from a checkout without installing the package.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from kt_twostage.imdb import data

    import_seconds = time.perf_counter() - start
    settings = {"num_words": args.num_words, "max_length": args.max_length}
    print(f"source: {args.source}")
    print(f"settings: {settings}")
    print(
        f"machine: {os.cpu_count()} CPU cores, Python {platform.python_version()}, "
        f"TensorFlow {__import__('tensorflow').__version__}, Keras {keras.__version__}"
    )
    print(f"import keras + kt_twostage.data: {import_seconds:.2f} s")

    timings = {"cold": [], "warm": [], "memo": []}
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as cache_dir:
            for kind in timings:
                if kind != "memo":
                    data._MEMO.clear()
                start = time.perf_counter()
                imdb = data.load_imdb(args.source, cache_dir=cache_dir, **settings)
                timings[kind].append(time.perf_counter() - start)
            cache_mb = sum(f.stat().st_size for f in Path(cache_dir).iterdir()) / 1e6
    print(f"result: {imdb!r}, cache file {cache_mb:.0f} MB")
    for kind, seconds in timings.items():
        runs = ", ".join(f"{s:.2f}" for s in seconds)
        print(f"{kind:>5}: best {min(seconds):.2f} s  (runs: {runs})")


if __name__ == "__main__":
    main()
