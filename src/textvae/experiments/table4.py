"""Table 4: syntax in the latent code, minimal pairs at a small and a large C (docs/method.md, Table 4)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textvae.evaluation.syneval import GroupScores, read_pairs, syneval
from textvae.experiments.results import cell, markdown_table, time_text
from textvae.experiments.stats import seeds_text, spread
from textvae.experiments.settings import Experiment, ExperimentKind, ExperimentOptions, register_experiment
from textvae.experiments.sweep import plan_runs, prepare, run_all
from textvae.options import option
from textvae.serialization import write_json, write_text

TABLE4_C = (3.0, 100.0)


ACCURACIES = ("pos", "neg", "pos_mean", "neg_mean", "lm")


def percent(values: Sequence[float | None]) -> str:
    """An accuracy in %, over seeds: the mean +- the half-width of its 95% interval where several."""
    if any(v is None for v in values):
        return "-"
    measured = spread([100 * v for v in values])
    return measured.text(1)


def table4_markdown(experiment: Experiment, pairs_file: Path, scores: dict[float, list[list[GroupScores]]],
                    skip_oov: bool, wall_seconds: float, runs: Sequence[str] = ()) -> str:
    """`scores`: for each C, every seed's groups."""
    targets = list(scores)
    header = ["group", "pairs", "OOV %", "ties"]
    for c in targets:
        header += [f"C={c:g} pos", f"C={c:g} neg", f"C={c:g} pos (mean z)", f"C={c:g} neg (mean z)", f"C={c:g} LM"]
    first = scores[targets[0]][0]
    body = []
    for i, group in enumerate(first):
        line = [group.group, str(group.pairs), cell(100 * group.oov_share, 1), str(group.ties)]
        for c in targets:
            line += [percent([getattr(seed[i], key) for seed in scores[c]]) for key in ACCURACIES]
        body.append(line)
    return "\n".join([
        "# Table 4: syntax in the latent code (minimal pairs)",
        "",
        f"Preset `{experiment.preset}`; lstm-lstm, best-validation weights; {seeds_text(experiment.run_seeds)}; "
        f"pairs from `{pairs_file}`, grouped as "
        "in the paper. Accuracies in %: pos = share of pairs with p(x+ | z+) > p(x- | z+), neg = the same with z-, "
        "where z+ / z- are the posterior means of the good / bad sentence, or (mean z) the average of those over "
        "all pairs of one condition; LM = the decoder as a language model (z = 0, the prior mean). "
        + ("Pairs with an out-of-vocabulary word are skipped. " if skip_oov else
           "Out-of-vocabulary words are scored as `<unk>`; OOV % is the share of pairs with at least one. ")
        + "Ties are pairs whose two sentences are the same token ids once unknown words read as `<unk>`: no model "
          "can tell them apart, so they are left out of the accuracies. "
        + time_text(experiment.root / "runs", runs, wall_seconds),
        "",
        markdown_table(header, body),
        "",
    ])


def run_table4(experiment: Experiment, pairs_file: Path | str, skip_oov: bool = False, jobs: int = 1,
               progress: bool = True) -> dict[float, list[GroupScores]]:
    """Syneval of each C's lstm-lstm runs (one a seed); writes table4.md and table4.json (every seed's
    scores). Returns the first seed's groups at each C."""
    from textvae.api import load

    started = time.perf_counter()
    pairs = read_pairs(pairs_file, grouping="marvin-linzen")  # a bad file is refused before any training
    prepare(experiment)
    runs = run_all(plan_runs(experiment, ["lstm-lstm"], experiment.kl_targets), jobs, experiment.device, progress,
                   experiment.only)
    if experiment.only is not None:  # one cell of a job array: the outputs wait for all of them
        return runs
    scores: dict[float, list[list[GroupScores]]] = {}
    for run in runs:  # seeds innermost, so each C's list is in the order of the seeds
        vae = load(experiment.root / "runs" / run["run"], device=experiment.device, precision="fp32")
        scores.setdefault(run["C"], []).append(syneval(vae, pairs, skip_oov))
    wall = time.perf_counter() - started
    write_json(experiment.root / "table4.json", {
        "experiment": experiment.to_dict(), "pairs": str(pairs_file), "skip_oov": skip_oov,
        "groups": {f"{c:g}": [g.to_dict() for g in seeds[0]] for c, seeds in scores.items()},
        "seeds": experiment.run_seeds,
        "groups_by_seed": {f"{c:g}": [[g.to_dict() for g in groups] for groups in seeds] for c, seeds in scores.items()}})
    write_text(experiment.root / "table4.md", table4_markdown(experiment, Path(pairs_file), scores, skip_oov, wall,
                                                             [r["run"] for r in runs]))
    return {c: seeds[0] for c, seeds in scores.items()}


@dataclass
class Table4Options(ExperimentOptions):
    pairs: str = option(help="Minimal pairs (JSON lines with sentence_good, sentence_bad, case, condition), e.g. "
                             "../shared/data/syneval/marvin_linzen_2018.jsonl.")
    skip_oov: bool = option(False, "Skip pairs with out-of-vocabulary words.")


register_experiment("table4", ExperimentKind(
    run=lambda experiment, options, jobs, progress: run_table4(experiment, options.pairs, options.skip_oov, jobs,
                                                               progress),
    about="Minimal pairs: pos / neg accuracy and the language-model baseline at a small and a large C "
          "(table4.md / .json).",
    kl_targets=TABLE4_C, report="table4.md", options=Table4Options))
