"""What z encodes: linear probes from the posterior mean to known factors of each sentence.

For each factor (a label per sentence: sentiment, tense, topic, ...) a multinomial logistic
regression (scikit-learn, the `probe` extra) is fitted on the posterior means of part of the
sentences and scored on the rest, in stratified folds. Reported per factor, as mean and 95%
interval over the folds:
- accuracy, and the majority-class baseline (the training part's commonest label);
- information about the factor in z, H(factor) - CE in nats: the label entropy of the held-out part
  minus the probe's held-out cross-entropy. It is a lower bound on I(factor; z) that a linear
  probe can show (0 or below: a linear probe finds nothing).
Sentence length is always a factor too, as a linear regression with its held-out R^2.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from textvae.data.files import read_lines
from textvae.errors import ConfigError, DataError
from textvae.evaluation.sentence_model import SentenceModel

log = logging.getLogger(__name__)
LENGTH = "length"
MIN_PER_CLASS = 2  # a label seen fewer times cannot be split into training and held-out parts


@dataclass
class Interval:
    mean: float
    low: float  # 95% interval over the folds (t distribution)
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Interval":
        values = np.asarray(values, dtype=float)
        mean = float(values.mean())
        if len(values) < 2:
            return cls(mean, mean, mean)
        from scipy.stats import t

        half = float(t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
        return cls(mean, mean - half, mean + half)


@dataclass
class ProbeResult:
    factor: str
    classes: int  # 0 for the length regression
    sentences: int
    accuracy: Interval | None  # classification factors
    majority: Interval | None
    information: Interval | None  # nats: H(factor) - CE
    entropy: float | None  # nats: H(factor) over all sentences
    r2: Interval | None = None  # the length regression

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _require_sklearn() -> Any:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ConfigError("probes need scikit-learn: pip install 'textvae[probe]'") from None
    import sklearn.linear_model
    import sklearn.model_selection

    return sklearn


def probe_factor(features: np.ndarray, labels: Sequence[str], name: str, folds: int = 5,
                 seed: int = 0) -> ProbeResult | None:
    """A logistic-regression probe of one factor (None where fewer than two labels can be split,
    with a warning that says why; classes too rare to split are left out, with a warning too)."""
    sklearn = _require_sklearn()
    counts = Counter(labels)
    rare = sorted(label for label, count in counts.items() if count < MIN_PER_CLASS)
    if rare:
        log.warning("factor %r: %d sentence%s of %s, seen fewer than %d times, left out of its probe", name,
                    sum(counts[label] for label in rare), "" if len(rare) == 1 and counts[rare[0]] == 1 else "s",
                    ", ".join(repr(label) for label in rare[:5]) + (" ..." if len(rare) > 5 else ""), MIN_PER_CLASS)
    kept = np.array([counts[label] >= MIN_PER_CLASS for label in labels])
    x, y = features[kept], np.asarray(labels)[kept]
    classes = sorted(set(y))
    if len(classes) < 2:
        log.warning("factor %r: %s; nothing to tell apart, so it is left out of the table", name,
                    f"every sentence kept is {classes[0]!r}" if classes else "no class is seen twice")
        return None
    splits = min(folds, min(Counter(y).values()))
    if splits < folds:
        log.warning("factor %r: its rarest class is seen %d times, so its probe uses %d folds, not %d", name,
                    splits, max(splits, 2), folds)
    cv = sklearn.model_selection.StratifiedKFold(n_splits=max(splits, 2), shuffle=True, random_state=seed)
    accuracy, majority, information = [], [], []
    for train, held in cv.split(x, y):
        model = sklearn.linear_model.LogisticRegression(max_iter=2000)
        model.fit(x[train], y[train])
        probabilities = np.clip(model.predict_proba(x[held]), 1e-12, 1.0)
        column = {label: i for i, label in enumerate(model.classes_)}
        cross_entropy = -float(np.mean(np.log([probabilities[i, column[label]] for i, label in enumerate(y[held])])))
        frequencies = np.array(list(Counter(y[held]).values()), dtype=float) / len(held)
        information.append(float(-(frequencies * np.log(frequencies)).sum()) - cross_entropy)
        accuracy.append(float((model.predict(x[held]) == y[held]).mean()))
        commonest = Counter(y[train]).most_common(1)[0][0]
        majority.append(float((y[held] == commonest).mean()))
    overall = np.array(list(Counter(y).values()), dtype=float) / len(y)
    return ProbeResult(name, len(classes), len(y), Interval.of(accuracy), Interval.of(majority),
                       Interval.of(information), float(-(overall * np.log(overall)).sum()))


def probe_length(features: np.ndarray, lengths: Sequence[int], folds: int = 5, seed: int = 0) -> ProbeResult:
    """A linear regression from z to the sentence's length in words, with its held-out R^2."""
    sklearn = _require_sklearn()
    y = np.asarray(lengths, dtype=float)
    cv = sklearn.model_selection.KFold(n_splits=min(folds, len(y)), shuffle=True, random_state=seed)
    scores = []
    for train, held in cv.split(features):
        model = sklearn.linear_model.LinearRegression().fit(features[train], y[train])
        residual = ((model.predict(features[held]) - y[held]) ** 2).sum()
        total = ((y[held] - y[held].mean()) ** 2).sum()
        scores.append(1.0 - residual / total if total > 0 else 0.0)
    return ProbeResult(LENGTH, 0, len(y), None, None, None, None, r2=Interval.of(scores))


def probe(vae: SentenceModel, sentences: Sequence[str], factors: Mapping[str, Sequence[str]], folds: int = 5,
          seed: int = 0) -> list[ProbeResult]:
    """Probes of every factor (and of length) on the posterior means of `sentences`."""
    if len(sentences) < 2 * folds:
        raise ConfigError(f"probes need at least {2 * folds} sentences for {folds} folds, got {len(sentences)}")
    for name, labels in factors.items():
        if len(labels) != len(sentences):
            raise ConfigError(f"factor {name!r} has {len(labels)} labels for {len(sentences)} sentences")
    mu, _ = vae.encode(sentences)
    features = mu.double().cpu().numpy()
    results = [r for name, labels in factors.items() if (r := probe_factor(features, labels, name, folds, seed))]
    lengths = [len(tokens) for tokens in vae.tokenize(sentences)]
    return [*results, probe_length(features, lengths, folds, seed)]


def read_labels(path: Path | str, name: str | None = None) -> dict[str, list[str]]:
    """Labels a line: one label (the factor is `name`, or the file's name), or a JSON object of
    factor -> value (what the built-in corpus writes as .factors.jsonl). Blank lines count, so the
    labels stay aligned with the lines of the corpus."""
    path = Path(path)
    lines = [line.strip() for _, line in read_lines(path)]
    if lines and lines[0].startswith("{"):
        factors: dict[str, list[str]] = {}
        for number, line in enumerate(lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise DataError(path, "not a JSON object (a labels file is all labels or all JSON lines)",
                                number) from None
            if not isinstance(record, dict):
                raise DataError(path, "not a JSON object", number)
            if number > 1 and set(record) != set(factors):
                raise DataError(path, f"holds factors {sorted(record)}, the first line {sorted(factors)}", number)
            for key, value in record.items():
                factors.setdefault(key, []).append(str(value))
        return factors
    return {name or path.name.split(".")[0]: lines}


def aligned(sentences_path: Path | str, labels_path: Path | str, name: str | None = None,
            limit: int | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """A corpus file's non-blank lines and their labels (the same number of lines in both files)."""
    lines = [line for _, line in read_lines(sentences_path)]
    factors = read_labels(labels_path, name)
    for factor, labels in factors.items():
        if len(labels) != len(lines):
            raise DataError(labels_path, f"has {len(labels)} labels for the {len(lines)} lines of {sentences_path}")
    keep = [i for i, line in enumerate(lines) if line.strip()][:limit]
    return [lines[i] for i in keep], {factor: [labels[i] for i in keep] for factor, labels in factors.items()}
