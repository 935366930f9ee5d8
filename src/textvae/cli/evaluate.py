"""Commands that measure a trained run: `evaluate` (every number of the paper and He et al.),
`reconstruct` (BLEU / ROUGE by length), `syneval` (minimal pairs) and `probe` (what z encodes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from textvae.cli.common import (
    DecodePrecisionOption, DeviceOption, ForceOption, JsonOption, Precision, ProgressOption, RunDirArgument,
    RunLowercaseOption, RunTokenizeOption, SeedOption, ThreadsOption, Tokenize, WeightsOption, finite_float, interval,
    join_processes, load_run, log, output_file, write_output,
)
from textvae.cli.options import Given, Source, config_fields, with_options
from textvae.evaluation import collapse_note
from textvae.generation.decoding import Decoding
from textvae.options import MAX_SEED


def evaluate(
    run_dir: RunDirArgument,
    data: Annotated[Path, typer.Option(help="Corpus to evaluate, one sentence a line.")],
    iw_samples: Annotated[int, typer.Option(
        min=0, help="Importance samples per sentence for nll_iw; 0 skips it.")] = 500,
    au_threshold: Annotated[float, typer.Option(min=0.0, callback=finite_float,
                                                help="A dimension is active above this variance.")] = 0.01,
    repeats: Annotated[int, typer.Option(min=1, help="Draws averaged for log_det_cov and mu_norm_sq.")] = 5,
    as_json: JsonOption = False,
    weights: WeightsOption = "best",
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = 256,
    iw_batch_tokens: Annotated[int, typer.Option(
        min=1, help="Decoder tokens per importance-sampling pass (bounds memory).")] = 8192,
    seed: SeedOption = 0,
    tokenize: RunTokenizeOption = None,
    lowercase: RunLowercaseOption = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Distortion, rate, ELBO, IW-NLL, perplexities, MI, active units, LogDetCov and ||mu||^2 (in fp32: the
    paper's measurements). Under torchrun the processes share the corpus."""
    from textvae.api import evaluate as evaluate_sentences
    from textvae.data.corpus import load_corpus

    group, device = join_processes(device)
    vae = load_run(run_dir, device, weights, "fp32", threads, tokenize, lowercase)
    corpus = load_corpus(data, vae.vocab, vae.config.data.max_length if vae.config else None,
                         tokenizer=vae.tokenizer, warn_unknown=True)
    result = evaluate_sentences(vae, corpus, iw_samples=iw_samples, au_threshold=au_threshold, repeats=repeats,
                                seed=seed, batch_size=batch_size, max_tokens=iw_batch_tokens, progress=progress,
                                group=group)
    if not group.main:
        return
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
        return
    typer.echo(format_evaluation(result, iw_samples, au_threshold, repeats))
    note = collapse_note(result.rate, result.mi, result.sentences, str(data))
    if note is not None:
        log.warning("%s", note)


def format_evaluation(result, iw_samples: int, au_threshold: float, repeats: int) -> str:
    def number(value: float | None, digits: int = 3) -> str:
        return "skipped" if value is None else f"{value:.{digits}f}"

    rows = [
        ("distortion", number(result.distortion), "nats/sentence, one z ~ q(z|x)"),
        ("rate", number(result.rate), "nats/sentence, KL(q(z|x) || p(z))"),
        ("elbo", number(result.elbo), "nats/sentence, -(distortion + rate)"),
        ("nll_iw", number(result.nll_iw), f"nats/sentence, {iw_samples} importance samples"),
        ("ppl_iw", number(result.ppl_iw, 2), "per token of the run's vocabulary, <eos> counted"),
        ("ppl_elbo", number(result.ppl_elbo, 2), "per token of the run's vocabulary, <eos> counted"),
        ("ppl_word_iw", number(result.ppl_word_iw, 2), "per word, one end of sentence counted (compares tokenizers)"),
        ("ppl_word_elbo", number(result.ppl_word_elbo, 2), "per word, one end of sentence counted"),
        ("mi", number(result.mi), "nats, I_q(x; z)"),
        ("au", f"{result.au} / {len(result.au_variances)}", f"dimensions with variance > {au_threshold:g}"),
        ("log_det_cov", number(result.log_det_cov), f"aggregate posterior, mean of {repeats}"),
        ("mu_norm_sq", number(result.mu_norm_sq), f"aggregate posterior, mean of {repeats}"),
        ("sentences", str(result.sentences), ""),
        ("tokens", str(result.tokens), "<eos> included"),
        ("words", str(result.words), "whitespace-separated, one end of sentence each"),
    ]
    lines = [f"{key:<13} {value:>12}   {note}".rstrip() for key, value, note in rows]
    variances = " ".join(f"{v:.3f}" for v in sorted(result.au_variances, reverse=True))
    lines.append(f"{'au_variances':<13} {variances}")
    return "\n".join(lines)


def _buckets(text: str) -> list[int]:
    try:
        bounds = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        bounds = []
    if not bounds or any(b < 1 for b in bounds) or bounds != sorted(set(bounds)):
        raise typer.BadParameter(f"--buckets takes increasing positive lengths separated by commas, got {text!r}")
    return bounds


def reconstruct(
    decoding: Given,
    run_dir: RunDirArgument,
    data: Annotated[Path, typer.Option(help="Sentences to reconstruct, one a line.")],
    out: Annotated[Path, typer.Option(help="Writes 'source<TAB>reconstruction' a line.")],
    force: ForceOption = False,
    buckets: Annotated[str, typer.Option(help="Upper bounds of the source-length buckets.")] = "10,20,30",
    seed: SeedOption = 0,
    precision: DecodePrecisionOption = Precision.auto,
    tokenize: RunTokenizeOption = None,
    lowercase: RunLowercaseOption = None,
    as_json: JsonOption = False,
    weights: WeightsOption = "best",
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = 256,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Encode with the posterior mean, decode (greedily by default), and score BLEU-2/4 and ROUGE-2/4 by length."""
    from textvae.data.corpus import read_sentences
    from textvae.evaluation.reconstruction import reconstruction_scores

    bounds = _buckets(buckets)
    output_file(out, force)
    vae = load_run(run_dir, device, weights, precision.value, threads, tokenize, lowercase)
    vae.batch_size, vae.progress = batch_size, progress
    sources = [" ".join(tokens) for tokens in vae.prepared(read_sentences(data, vae.tokenizer))]
    longest = 10 + max(len(s.split()) for s in sources)
    chosen = Decoding(**{"max_length": longest, **decoding})  # greedy unless --decode says otherwise
    reconstructions = vae.reconstruct([s.split() for s in sources], chosen, seed=seed)
    write_output(out, "".join(f"{s}\t{r}\n" for s, r in zip(sources, reconstructions)))
    rows = reconstruction_scores(sources, reconstructions, bounds)
    if as_json:
        typer.echo(json.dumps({"buckets": [row.to_dict() for row in rows], "out": str(out)}))
        return
    def cell(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"
    typer.echo("| length | sentences | BLEU-2 | BLEU-4 | ROUGE-2 | ROUGE-4 |\n|---|---|---|---|---|---|")
    for row in rows:
        typer.echo(f"| {row.bucket} | {row.sentences} | {cell(row.bleu2)} | {cell(row.bleu4)} | {cell(row.rouge2)} | "
                   f"{cell(row.rouge4)} |")
    typer.echo(f"reconstructions: {out}")


def syneval(
    run_dir: RunDirArgument,
    pairs: Annotated[Path, typer.Option(help="JSON lines, each with sentence_good and sentence_bad.")],
    group_by: Annotated[Optional[str], typer.Option(help="Report per value of this field (e.g. case).")] = None,
    grouping: Annotated[Optional[str], typer.Option(
        help="A built-in grouping instead: marvin-linzen (the paper's Table 4 rows, from the case field).")] = None,
    skip_oov: Annotated[bool, typer.Option(help="Skip pairs with a word outside the vocabulary (else <unk>).")] = False,
    tokenize: Annotated[Optional[Tokenize], typer.Option(
        help="How the sentences become tokens: none, moses (for raw-text benchmarks, with --lowercase) or ptb "
             "(Penn Treebank style, as Marvin & Linzen's pairs) "
             "[default: the run's].")] = None,
    lowercase: RunLowercaseOption = None,
    as_json: JsonOption = False,
    weights: WeightsOption = "best",
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = 512,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Minimal pairs scored by the decoder (the paper's Table 4), per group and overall.

    pos / neg accuracy with each sentence's posterior mean and with the per-condition mean, and the
    decoder as a language model (z = 0) as a baseline. Pairs that are the same token sequence once
    unknown words read as <unk> are ties: counted, and left out of the accuracies."""
    from textvae.evaluation.syneval import read_pairs
    from textvae.evaluation.syneval import syneval as score

    if group_by is not None and grouping is not None:
        raise typer.BadParameter("give --group-by or --grouping, not both")
    pair_list = read_pairs(pairs, group_by, grouping)
    vae = load_run(run_dir, device, weights, "fp32", threads, tokenize, lowercase)
    vae.batch_size, vae.progress = batch_size, progress
    rows = score(vae, pair_list, skip_oov)
    if as_json:
        typer.echo(json.dumps({"pairs": str(pairs), "skip_oov": skip_oov, "tokenize": vae.tokenizer.describe(),
                               "groups": [r.to_dict() for r in rows]}))
        return
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}"
    typer.echo("| group | pairs | scored | skipped | ties | pairs with OOV % | OOV tokens % | pos | neg | pos (mean z) "
               "| neg (mean z) | LM |")
    typer.echo("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        typer.echo(f"| {r.group} | {r.pairs} | {r.scored} | {r.skipped} | {r.ties} | {100 * r.oov_share:.1f} | "
                   f"{100 * r.oov_token_rate:.2f} | "
                   f"{pct(r.pos)} | {pct(r.neg)} | {pct(r.pos_mean)} | {pct(r.neg_mean)} | {pct(r.lm)} |")


def probe(
    run_dir: RunDirArgument,
    data: Annotated[Path, typer.Option(help="Sentences, one a line.")],
    labels: Annotated[Path, typer.Option(
        help="Their labels, one a line (the factor takes the file's name, or --factor), or a JSON object a line of "
             "factor -> value (e.g. the built-in corpus's test.factors.jsonl).")],
    factor: Annotated[Optional[str], typer.Option(help="The factor's name for a file of plain labels.")] = None,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    max_sentences: Annotated[Optional[int], typer.Option(min=10, help="Probe the first this many sentences.")] = None,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="Seed of the folds.")] = 0,
    as_json: JsonOption = False,
    weights: WeightsOption = "best",
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """What z encodes: a linear probe from the posterior mean to each factor (accuracy against the majority
    baseline, and H(factor) - cross-entropy in nats), and to the sentence's length (R^2)."""
    from textvae.evaluation.probes import aligned
    from textvae.evaluation.probes import probe as run_probes

    sentences, factors = aligned(data, labels, factor, max_sentences)
    vae = load_run(run_dir, device, weights, "fp32", threads)
    vae.warn_unknown(sentences, str(data))
    results = run_probes(vae, sentences, factors, folds, seed)
    if as_json:
        typer.echo(json.dumps({"data": str(data), "labels": str(labels), "folds": folds,
                               "probes": [r.to_dict() for r in results]}))
        return
    typer.echo("| factor | classes | accuracy | majority baseline | information (nats) | H(factor) |")
    typer.echo("|---|---|---|---|---|---|")
    for r in results:
        if r.r2 is not None:
            typer.echo(f"| {r.factor} | - | R^2 {interval(r.r2, 3)} | R^2 0 | - | - |")
        else:
            typer.echo(f"| {r.factor} | {r.classes} | {interval(r.accuracy, 3)} | {interval(r.majority, 3)} | "
                       f"{interval(r.information, 3)} | {r.entropy:.3f} |")
    typer.echo(f"({len(sentences)} sentences, {folds} folds; intervals: 95% over the folds)")


# Decoding's fields, with this command's defaults: the paper's Table 1 decodes greedily.
RECONSTRUCT_DECODING = Source("decoding", config_fields(Decoding), defaults={"strategy": "greedy"},
                              shown={"max_length": "longest source + 10"})


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
    app.command()(with_options(reconstruct, [RECONSTRUCT_DECODING]))
    app.command()(syneval)
    app.command()(probe)
