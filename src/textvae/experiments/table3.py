"""Table 3: forward cross-entropy of artificial corpora sampled from the prior (Cifka et al. 2018).

For each C and decoding scheme, `copies` corpora as large as the real test set are sampled from
the prior; a plain language model trained on each is scored on the real test set (nats per token).
Lower means the samples cover the real distribution better. The reference row trains the same
language model on samples of the real training set of the same size. Each artificial corpus is
described by its diversity (distinct-1, distinct-2, self-BLEU) and mean length.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sacrebleu

from textvae.data.corpus import encode_corpus, load_corpus, read_sentences
from textvae.data.vocab import Vocabulary
from textvae.evaluation import evaluate_lm
from textvae.experiments.parallel import parallel_map
from textvae.experiments.plots import PlotsUnavailable, plot_table3
from textvae.experiments.results import cell, markdown_table, time_text
from textvae.experiments.settings import Experiment, ExperimentKind, ExperimentOptions, register_experiment
from textvae.experiments.sweep import plan_runs, prepare, run_all
from textvae.generation import Decoding
from textvae.models.lm import LanguageModel, LMConfig
from textvae.options import option
from textvae.progress import progress as progress_bar
from textvae.runtime import resolve_device
from textvae.serialization import read_json, write_atomic, write_json, write_text
from textvae.training import LMTrainConfig, fit_lm

log = logging.getLogger(__name__)

TABLE3_C = (3.0, 15.0, 100.0)
TABLE3_SCHEMES = (
    Decoding("greedy"),
    Decoding("top-k", top_k=5), Decoding("top-k", top_k=10), Decoding("top-k", top_k=15),
    Decoding("top-p", top_p=0.5), Decoding("top-p", top_p=0.7), Decoding("top-p", top_p=0.9),
)
REFERENCE = "real training sample"
SELF_BLEU_SENTENCES = 300  # self-BLEU compares each of these with all the others: quadratic cost


def scheme_slug(decoding: Decoding) -> str:
    """A directory name for a scheme: greedy, top-k-5, top-p-0.9."""
    if decoding.strategy == "top-k":
        return f"top-k-{decoding.top_k}"
    if decoding.strategy == "top-p":
        return f"top-p-{decoding.top_p:g}"
    return decoding.strategy


def distinct_n(sentences: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of the corpus (Li et al. 2016)."""
    grams = [tuple(words[i:i + n]) for s in sentences for words in [s.split()] for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(sentences: Sequence[str], sample: int = SELF_BLEU_SENTENCES, seed: int = 0) -> float:
    """Corpus BLEU-4 of `sample` sentences, each against all the others as references (Zhu et al.
    2018); high means the corpus repeats itself."""
    rng = np.random.default_rng(seed)
    chosen = [sentences[i] for i in rng.choice(len(sentences), min(sample, len(sentences)), replace=False)]
    if len(chosen) < 2:
        return 0.0
    streams = [[chosen[(i + shift) % len(chosen)] for i in range(len(chosen))] for shift in range(1, len(chosen))]
    return sacrebleu.corpus_bleu(chosen, streams, tokenize="none", force=True).score


def diversity(sentences: Sequence[str], seed: int = 0) -> dict[str, float]:
    return {"distinct_1": distinct_n(sentences, 1), "distinct_2": distinct_n(sentences, 2),
            "self_bleu": self_bleu(sentences, seed=seed),
            "mean_length": float(np.mean([len(s.split()) for s in sentences]))}


@dataclass(frozen=True)
class CorpusCell:
    """One artificial (or reference) corpus and the language model trained on it."""

    directory: Path
    kl_target: float | None  # None for the reference
    scheme: Decoding | None
    copy: int
    vae_run: Path | None
    train: str  # the real training split (for the reference)
    test: str
    vocab: Path
    size: int  # sentences in the corpus
    lm: LMConfig
    lm_training: LMTrainConfig
    precision: str = "fp32"  # of the VAE's sampling: the experiment's

    @property
    def result_file(self) -> Path:
        return self.directory / "result.json"


def complete_cell(job: CorpusCell, device: str | None = None, progress: bool = False) -> dict[str, Any]:
    """Sample (or draw from the real data) the corpus, train the LM, score the test set; reused when done."""
    if job.result_file.exists():
        return read_json(job.result_file)
    from textvae.api import load

    vocab = Vocabulary.load(job.vocab)
    seed = 1000 * job.copy + 17
    if job.vae_run is None:
        real = read_sentences(job.train)
        picked = np.random.default_rng(seed).choice(len(real), job.size, replace=False)
        sentences = [" ".join(real[i]) for i in picked]
    else:
        vae = load(job.vae_run, device=device or job.lm_training.device, precision=job.precision)
        sentences = vae.sample(job.size, job.scheme, seed=seed)
    job.directory.mkdir(parents=True, exist_ok=True)
    write_atomic(job.directory / "corpus.txt", "".join(s + "\n" for s in sentences).encode("utf-8"))
    training = LMTrainConfig(**{**asdict(job.lm_training), "seed": seed, "device": device or job.lm_training.device})
    lm = LanguageModel(LMConfig(**{**asdict(job.lm), "vocab_size": len(vocab)}), vocab.eos_id, vocab.pad_id)
    lm = lm.to(resolve_device(training.device))
    # an empty generated sentence is still a sentence: the LM learns to end at once
    fit_lm(lm, encode_corpus([s.split() for s in sentences], vocab), None, training, progress)
    test = load_corpus(job.test, vocab, name="test")
    result = {"C": job.kl_target, "scheme": REFERENCE if job.scheme is None else job.scheme.describe(),
              "copy": job.copy, "cross_entropy": evaluate_lm(lm, test).cross_entropy, **diversity(sentences, seed)}
    write_json(job.result_file, result)
    return result


def _spread(values: Sequence[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and standard deviation over copies, per (C, scheme), in the order first seen."""
    keys = list(dict.fromkeys((r["C"], r["scheme"]) for r in results))
    rows = []
    for c, scheme in keys:
        mine = [r for r in results if (r["C"], r["scheme"]) == (c, scheme)]
        row: dict[str, Any] = {"C": c, "scheme": scheme, "copies": len(mine)}
        for key in ("cross_entropy", "distinct_1", "distinct_2", "self_bleu", "mean_length"):
            values = [r[key] for r in mine]
            row[key], row[f"{key}_std"] = statistics.fmean(values), _spread(values)
        rows.append(row)
    return rows


def seed_text(experiment: Experiment, copies: int) -> str:
    seeds = experiment.run_seeds
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"seeds {', '.join(map(str, seeds))} ({len(seeds)} models a C, {len(seeds) * copies} corpora a cell)"


def table3_markdown(experiment: Experiment, rows: Sequence[dict[str, Any]], size: int, copies: int,
                    wall_seconds: float, runs: Sequence[str] = ()) -> str:
    def with_spread(row: dict[str, Any], key: str, digits: int = 3) -> str:
        return f"{row[key]:.{digits}f} ± {row[key + '_std']:.{digits}f}"

    body = [["-" if r["C"] is None else f"{r['C']:g}", r["scheme"], with_spread(r, "cross_entropy"),
             cell(r["distinct_1"], 3), cell(r["distinct_2"], 3), cell(r["self_bleu"], 1), cell(r["mean_length"], 1)]
            for r in rows]
    return "\n".join([
        "# Table 3: forward cross-entropy of artificial corpora",
        "",
        f"Preset `{experiment.preset}`; VAE: lstm-lstm, best-validation weights; {seed_text(experiment, copies)}. "
        f"For each C and scheme, {copies} corpora of {size} sentences (the size of the test split) sampled from the "
        "prior of each seed's model; an LSTM language model trained on each; its cross-entropy on the real test split "
        f"`{experiment.test}` in nats per token (`<eos>` counted), mean ± standard deviation over those corpora. "
        "Reference: the same language model trained on random samples of the real training split of the same size. "
        f"Diversity of the training corpora (means over copies): distinct-1 / distinct-2 (distinct n-grams over all), "
        f"self-BLEU-4 of {SELF_BLEU_SENTENCES} sentences against the rest (high = repetitive), mean length in words. "
        f"{time_text(experiment.root / 'runs', runs, wall_seconds)} (The VAEs' training; the language "
        "models' is not counted.)",
        "",
        markdown_table(["C", "scheme", "cross-entropy", "distinct-1", "distinct-2", "self-BLEU", "length"], body),
        "",
    ])


def run_table3(experiment: Experiment, copies: int = 3, jobs: int = 1, progress: bool = True) -> list[dict[str, Any]]:
    """Every (C, scheme, copy) cell and the reference; writes table3.md / .json / .png."""
    started = time.perf_counter()
    prepare(experiment)
    runs = run_all(plan_runs(experiment, ["lstm-lstm"], experiment.kl_targets), jobs, experiment.device, progress,
                   experiment.only)
    if experiment.only is not None:  # one cell of a job array: the outputs wait for all of them
        return runs
    size = len(read_sentences(experiment.test))
    lm, lm_training = experiment.settings.language_model()
    root, vocab = experiment.root / "table3", experiment.root / "vocab.txt"

    def make(directory: Path, c: float | None, scheme: Decoding | None, copy: int, vae_run: Path | None) -> CorpusCell:
        return CorpusCell(directory, c, scheme, copy, vae_run, experiment.train, experiment.test, vocab, size, lm,
                          lm_training, experiment.precision)

    cells = [make(root / "reference" / f"copy{k}", None, None, k, None) for k in range(copies)]
    for run in runs:  # every seed's model samples `copies` corpora; the first seed's keep their one-seed names
        prefix = "" if run["seed"] == experiment.seed else f"seed{run['seed']}-"
        for scheme in TABLE3_SCHEMES:
            cells += [make(root / f"C{run['C']:g}" / scheme_slug(scheme) / f"{prefix}copy{k}", run["C"], scheme, k,
                           experiment.root / "runs" / run["run"]) for k in range(copies)]
    pending = [c for c in cells if not c.result_file.exists()]
    with progress_bar(total=len(cells), initial=len(cells) - len(pending), unit="corpus", desc="table3",
                      enabled=progress) as bar:
        for _ in parallel_map(complete_cell, pending, jobs, experiment.device, False):
            bar.update(1)
    results = [read_json(c.result_file) for c in cells]  # in the order of the table
    rows = summarise(results)
    wall = time.perf_counter() - started
    write_json(experiment.root / "table3.json", {"experiment": experiment.to_dict(), "copies": copies,
                                                 "corpus_size": size, "rows": rows,
                                                 "cells": results})
    write_text(experiment.root / "table3.md", table3_markdown(experiment, rows, size, copies, wall,
                                                             [r["run"] for r in runs]))
    try:
        plot_table3(rows, experiment.root / "table3.png")
    except PlotsUnavailable as err:
        log.warning("no table3.png: %s", err)
    return rows


@dataclass
class Table3Options(ExperimentOptions):
    copies: int = option(3, "Independent artificial corpora per cell.", min=1)


register_experiment("table3", ExperimentKind(
    run=lambda experiment, options, jobs, progress: run_table3(experiment, options.copies, jobs, progress),
    about="Forward cross-entropy of corpora sampled with 7 schemes, scored by a language model trained on each "
          "(table3.md / .json / .png).",
    kl_targets=TABLE3_C, report="table3.md", options=Table3Options))
