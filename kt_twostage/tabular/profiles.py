"""What `kt-twostage record` trains: the IMDB table profiles.

Pure settings, no Keras. Each profile fixes the data (which reviews, how
they are tokenized), the model grid (units, learning rates), the seeds and
the epochs of every run.
"""

from __future__ import annotations

import dataclasses
import numbers

from kt_twostage._validation import check_positive_int


def halving_rates(top=0.02, halvings=8, extra=(0.001,)) -> tuple:
    """`top * 2**-k` for k = 0..halvings, plus `extra`, ascending.

    The stage-2 rule halves from its maximum, so these are the learning
    rates it reaches by halving alone; 0.001 is the stage-1 learning rate.
    """
    rates = {top * 2.0**-k for k in range(halvings + 1)} | {float(x) for x in extra}
    return tuple(sorted(rates))


@dataclasses.dataclass(frozen=True)
class TableProfile:
    """The runs of one learning-curve table.

    Args:
        data: Path of the IMDB reviews (see `load_imdb`); `None`: the
            `KT_TWOSTAGE_IMDB` environment variable, else a download.
        num_words, max_length: Tokenization (see `load_imdb`).
        train_reviews: Integer, the first N of the shuffled training reviews
            are used (`None`: all 25,000); the last `validation_split` of them
            are the validation data, as `fit(validation_split=...)` takes it.
        validation_split: Float in (0, 1).
        test_reviews: Integer, the first N of the shuffled test reviews
            (`None`: all 25,000).
        units: Tuple of the units values.
        learning_rates: Tuple of the learning rates.
        seeds: Tuple of the seeds: each run is trained once per seed.
        epochs: Integer, epochs of every run.
        batch_size: Integer, the training batch size.
        description: String, what the profile is for.
        model: String, the model recorded (see `tabular.models`):
            `lstm-rmsprop` (the reference), `gru-adam` or `conv1d-adam`.
    """

    data: str | None = None
    num_words: int = 20000
    max_length: int = 150
    train_reviews: int | None = 10000
    validation_split: float = 0.2
    test_reviews: int | None = 5000
    units: tuple = (16, 32, 64, 128)
    learning_rates: tuple = halving_rates()
    seeds: tuple = (0, 1)
    epochs: int = 10
    batch_size: int = 32
    description: str = ""
    model: str = "lstm-rmsprop"

    def __post_init__(self):
        from kt_twostage.tabular.models import check_model

        check_model(self.model)
        check_positive_int("num_words", self.num_words)
        check_positive_int("max_length", self.max_length)
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        for name in ("train_reviews", "test_reviews"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        if not 0 < self.validation_split < 1:
            raise ValueError(
                "Received an invalid value for argument `validation_split`, "
                f"expected a number between 0 and 1, got {self.validation_split!r}."
            )
        for name in ("units", "learning_rates", "seeds"):
            values = getattr(self, name)
            if not isinstance(values, tuple) or not values:
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected a "
                    f"non-empty tuple, got {values!r}."
                )
            if len(set(values)) != len(values):
                raise ValueError(
                    f"Received an invalid value for argument `{name}`: "
                    f"{values!r} repeats a value."
                )
        for value in self.units:
            check_positive_int("units", value)
        for value in self.seeds:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(
                    "Received an invalid value for argument `seeds`, expected "
                    f"integers, got {value!r}."
                )
        for value in self.learning_rates:
            if isinstance(value, bool) or not (
                isinstance(value, numbers.Real) and 0 < value < float("inf")
            ):
                raise ValueError(
                    "Received an invalid value for argument `learning_rates`, "
                    f"expected positive numbers, got {value!r}."
                )

    @property
    def runs(self) -> list[tuple]:
        """Every `(units, learning_rate, seed)`, in recording order.

        Seed by seed, so that a partial table holds whole seeds (usable with
        `replay --partial`); within a seed, learning rate by learning rate.
        """
        return [
            (units, float(rate), seed)
            for seed in self.seeds
            for rate in self.learning_rates
            for units in self.units
        ]

    def to_dict(self) -> dict:
        state = dataclasses.asdict(self)
        for name in ("units", "learning_rates", "seeds"):
            state[name] = list(state[name])
        return state

    @classmethod
    def from_dict(cls, state: dict) -> TableProfile:
        names = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in state.items() if key in names}
        for name in ("units", "learning_rates", "seeds"):
            if name in values:
                values[name] = tuple(values[name])
        return cls(**values)


def _on_imdb_short_data(model, what) -> TableProfile:
    """A profile of another model and optimizer on imdb-short's data, 4 seeds."""
    return TableProfile(
        model=model,
        num_words=10000,
        max_length=80,
        train_reviews=5000,
        seeds=(0, 1, 2, 3),
        learning_rates=halving_rates(halvings=8),
        description=f"{what} (5,000 training reviews, 80 tokens, 10,000 words); "
        "units 16-128; 10 learning rates from 7.8e-5 to 0.02; 4 seeds; 10 epochs",
    )


TABLE_PROFILES = {
    # This machine's table: 2 CPU cores, about 2 hours on the JAX backend.
    "imdb-cpu": TableProfile(
        description="10,000 training reviews (8,000 fit, 2,000 validation), "
        "5,000 test reviews, 150 tokens, 20,000 words; units 16-128; 10 "
        "learning rates from 7.8e-5 to 0.02; 2 seeds; 10 epochs",
        learning_rates=halving_rates(halvings=8),
    ),
    # The second table: less data, shorter reviews, more seeds.
    "imdb-short": TableProfile(
        num_words=10000,
        max_length=80,
        train_reviews=5000,
        seeds=(0, 1, 2),
        learning_rates=halving_rates(halvings=8),
        description="5,000 training reviews (4,000 fit, 1,000 validation), "
        "5,000 test reviews, 80 tokens, 10,000 words; units 16-128; 10 "
        "learning rates from 7.8e-5 to 0.02; 3 seeds; 10 epochs",
    ),
    # Other problems for the benchmark suite: another model and optimizer
    # on imdb-short's data, 4 seeds.
    "imdb-gru-adam": _on_imdb_short_data("gru-adam", "GRU + Adam on imdb-short's data"),
    "imdb-conv1d-adam": _on_imdb_short_data(
        "conv1d-adam",
        "Conv1D (units = filters, kernel 5) + global max pooling + Adam on "
        "imdb-short's data",
    ),
    # The reference problem, for a GPU: hours there, weeks on a CPU.
    "imdb-reference": TableProfile(
        num_words=88584,
        max_length=250,
        train_reviews=None,
        test_reviews=None,
        units=tuple(range(10, 200, 10)),
        learning_rates=halving_rates(halvings=10),
        seeds=(0, 1),
        epochs=30,
        description="the reference: 25,000 training reviews (20,000 fit, "
        "5,000 validation), 25,000 test reviews, 250 tokens, 88,584 words; "
        "units 10-190; 12 learning rates from 2e-5 to 0.02; 2 seeds; 30 epochs",
    ),
}
