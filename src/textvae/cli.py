"""The `textvae` command line."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from textvae import distributed
from textvae.data.tokenize import TOKENIZERS
from textvae.errors import DivergenceError, TextVAEError
from textvae.experiments.demo import DEMO_C, DEMO_STEPS, DEMO_TIME_BUDGET
from textvae.experiments.sweep import EXPERIMENT_PRESETS
from textvae.generation.decoding import STRATEGIES
from textvae.models.config import PRESETS
from textvae.models.rnn import RNN_INITS
from textvae.objectives import ANNEAL_SHAPES, FREE_BITS_MODES, OBJECTIVES
from textvae.precision import PRECISIONS
from textvae.training import DEFAULT_MAX_LENGTH

if TYPE_CHECKING:
    from textvae.generation import Decoding

app = typer.Typer(
    help="Sentence VAEs with an explicitly controlled KL term (beta-C VAE, Prokhorov et al. 2019).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,  # plain help: no boxes, no <bool> type column, readable when piped
)
log = logging.getLogger("textvae")


# -- options shared by several commands ----------------------------------------------------------
DeviceOption = Annotated[str, typer.Option(help="auto (a GPU where PyTorch sees one, else the CPU), cpu, cuda or "
                                                "cuda:N.")]
WeightsOption = Annotated[str, typer.Option(help="best (lowest validation loss) or last.")]
ThreadsOption = Annotated[Optional[int], typer.Option(
    min=1, help="CPU threads for PyTorch [default: PyTorch's, one per core]. With other work on the machine, "
                "fewer can be much faster.")]
ProgressOption = Annotated[bool, typer.Option(
    help="Report progress: a bar on a terminal, a line every 20 s when output goes to a file or pipe.")]


def choices(name: str, values: Iterable[str]) -> Any:
    """An Enum of a library's names, for typer's choices (members: the names with - as _)."""
    return Enum(name, {value.replace("-", "_"): value for value in values}, type=str)


# The command line offers what the library defines, from where it defines it.
Preset = choices("Preset", PRESETS)
Precision = choices("Precision", PRECISIONS)
RNNInit = choices("RNNInit", RNN_INITS)
Tokenize = choices("Tokenize", TOKENIZERS)
Objective = choices("Objective", OBJECTIVES)
AnnealShape = choices("AnnealShape", ANNEAL_SHAPES)
FreeBitsMode = choices("FreeBitsMode", FREE_BITS_MODES)
Strategy = choices("Strategy", STRATEGIES)
ExperimentPreset = choices("ExperimentPreset", EXPERIMENT_PRESETS)


DecodePrecisionOption = Annotated[Precision, typer.Option(
    help="auto: bf16 autocast where this machine runs it faster (one log line says which), else fp32. bf16 where "
         "the CPU cannot run it is an error.")]
RunTokenizeOption = Annotated[Optional[Tokenize], typer.Option(
    "--tokenize", help="How lines become tokens: none (split on whitespace) or moses [default: the run's, as its "
                       "training data was read].")]
RunLowercaseOption = Annotated[Optional[bool], typer.Option(
    "--lowercase/--no-lowercase", help="Lower-case the text first [default: the run's].")]


def _load(run_dir: Path, device: str, weights: str, precision: str = "auto", threads: int | None = None,
          tokenize: Tokenize | None = None, lowercase: bool | None = None):
    """A run loaded for a command, its tokenizer overridden where the options say so."""
    from dataclasses import replace

    from textvae.api import load

    vae = load(run_dir, device=device, weights=weights, precision=precision, threads=threads)
    if tokenize is not None:
        vae.tokenizer = replace(vae.tokenizer, kind=tokenize.value)
    if lowercase is not None:
        vae.tokenizer = replace(vae.tokenizer, lowercase=lowercase)
    return vae


ForceOption = Annotated[bool, typer.Option("--force", help="Overwrite --out if it exists.")]


def _output_file(path: Path, force: bool) -> Path:
    """Check where a command will write, before it works: not a directory, not an existing file
    unless forced, a parent that exists (made when missing) and can be written."""
    from textvae.errors import ConfigError

    if path.is_dir():
        raise ConfigError(f"--out {path} is a directory; give a file name")
    if path.exists() and not force:
        raise ConfigError(f"--out {path} exists; pass --force to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not os.access(path.parent, os.W_OK):
        raise ConfigError(f"--out {path}: cannot write in {path.parent} (permission denied or read-only)")
    if path.exists() and not os.access(path, os.W_OK):
        raise ConfigError(f"--out {path}: the file exists and cannot be written")
    return path


def _join_processes(device: str) -> tuple[Any, str]:
    """Under torchrun, join the process group (one process otherwise); returns it and the device this
    rank computes on. Ranks other than 0 say only warnings and errors."""
    from textvae import distributed

    group = distributed.init_from_environment(device)
    if not group.main:
        logging.getLogger().setLevel(logging.WARNING)
    return group, distributed.rank_device(device, group)


@app.callback()
def _configure(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors on stderr.")] = False,
) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(message)s", stream=sys.stderr)


@app.command()
def train(
    out: Annotated[Path, typer.Option(help="Run directory to create (or resume with --resume).")],
    train_file: Annotated[Optional[Path], typer.Option("--train", help="Training corpus, one sentence a line.")] = None,
    valid_file: Annotated[Optional[Path], typer.Option("--valid", help="Validation corpus.")] = None,
    model: Annotated[str, typer.Option(help="lstm-lstm, gru-gru or lstm-cnn (ENCODER-DECODER).")] = "lstm-lstm",
    kl_target: Annotated[float, typer.Option("--C", "--kl-target", help="Target rate C in nats (>= 0).")] = 15.0,
    beta: Annotated[float, typer.Option(help="beta-c: weight of |KL - C|; beta: weight of KL (> 0).")] = 1.0,
    objective: Annotated[Objective, typer.Option(
        help="beta-c: D + beta |KL - C| (the paper's); elbo: D + KL; beta: D + beta KL; anneal: D + w KL, w rising "
             "0 -> 1; cyclical: w rising and resetting in --cycles cycles; free-bits: the ELBO with a KL floor of "
             "--free-bits nats (0.5 a dimension unless given). See the README's 'Choosing an objective'.")
    ] = Objective.beta_c,
    anneal_steps: Annotated[Optional[int], typer.Option(
        help="Steps for C (beta-c) or the KL weight (anneal) to rise from 0 [default: --anneal-epochs].")] = None,
    anneal_epochs: Annotated[float, typer.Option(help="Same, in epochs (used without --anneal-steps).")] = 2.0,
    anneal_shape: Annotated[AnnealShape, typer.Option(help="anneal: linear or logistic (Bowman et al. 2016).")
                            ] = AnnealShape.linear,
    cycles: Annotated[int, typer.Option(min=1, help="cyclical: cycles over the run (Fu et al. 2019).")] = 4,
    cycle_ratio: Annotated[float, typer.Option(help="cyclical: share of a cycle over which the weight rises.")] = 0.5,
    free_bits: Annotated[Optional[float], typer.Option(
        help="A floor under the KL in nats, below which it is not pushed down (elbo, beta, anneal, cyclical, "
             "free-bits).")] = None,
    fb_mode: Annotated[FreeBitsMode, typer.Option(
        help="dim: the floor holds per latent dimension (Kingma et al. 2016); batch: for the whole KL (Li et al. "
             "2019).")] = FreeBitsMode.dim,
    word_dropout: Annotated[float, typer.Option(
        help="Share of decoder input words replaced by <unk> (Bowman et al. 2016).")] = 0.0,
    aggressive: Annotated[bool, typer.Option(
        help="Aggressive inference-network training (He et al. 2019) until the validation MI stops rising.")
    ] = False,
    aggressive_max_updates: Annotated[int, typer.Option(
        min=1, help="--aggressive: encoder-only updates before each step, at most.")] = 100,
    aggressive_until: Annotated[Optional[int], typer.Option(
        min=0, help="--aggressive: the step it ends at the latest, whatever the MI does (a compute budget).")] = None,
    ae_pretrain_steps: Annotated[int, typer.Option(
        min=0, help="Train this many steps as an autoencoder (no KL weight), then reset the decoder (Li et al. "
                    "2019; with --objective free-bits).")] = 0,
    epochs: Annotated[Optional[int], typer.Option(help="Epochs to train [default: 10 without --max-steps].")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="Optimizer steps to train.")] = None,
    batch_size: Annotated[int, typer.Option(help="Sentences per batch.")] = 128,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 0.00075,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation, the data order and every draw.")] = 0,
    device: DeviceOption = "auto",
    precision: Annotated[Precision, typer.Option(
        help="fp32, bf16 (autocast: faster where the CPU or GPU has bf16, results differ a little) or auto (bf16 "
             "where it runs faster).")] = Precision.fp32,
    threads: ThreadsOption = None,
    vocab: Annotated[Optional[Path], typer.Option(help="Vocabulary file [default: built from --train].")] = None,
    min_count: Annotated[int, typer.Option(help="Keep words seen this often in --train.")] = 1,
    max_vocab: Annotated[Optional[int], typer.Option(help="Largest vocabulary, special entries included.")] = None,
    max_length: Annotated[int, typer.Option(
        help="Cut longer sentences to this many words (a warning counts them).")] = DEFAULT_MAX_LENGTH,
    tokenize: Annotated[Tokenize, typer.Option(
        help="How lines become tokens: none (split on whitespace, for tokenized corpora) or moses (punctuation "
             "split off; for raw text). Saved with the run.")] = Tokenize.none,
    lowercase: Annotated[bool, typer.Option(help="Lower-case the text first. Saved with the run.")] = False,
    preset: Annotated[Preset, typer.Option(
        help="Model sizes (embedding / hidden / latent): paper 256/512/64, small 128/256/32, cpu-small 64/128/32 "
             "(the sizes of `experiment --preset cpu-small`).")] = Preset.paper,
    embedding_dim: Annotated[Optional[int], typer.Option(help="Overrides the preset.")] = None,
    hidden_dim: Annotated[Optional[int], typer.Option(help="Overrides the preset.")] = None,
    latent_dim: Annotated[Optional[int], typer.Option(help="Overrides the preset.")] = None,
    rnn_init: Annotated[RNNInit, typer.Option(help="Recurrent weights start as TensorFlow's defaults (the "
                                              "paper's; LSTM forget-gate bias 1) or PyTorch's.")] = RNNInit.tf,
    eval_every: Annotated[Optional[int], typer.Option(help="Steps between evaluations [default: each epoch].")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option(
        help="Steps between resumable checkpoints [default: one a minute of training].")] = None,
    time_budget: Annotated[Optional[float], typer.Option(
        help="Seconds of training per invocation: past it the run evaluates, checkpoints and stops; --resume "
             "continues it.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out; its saved configs replace the other options.")] = False,
    progress: ProgressOption = True,
) -> None:
    """Train a sentence VAE (the beta-C objective unless --objective says otherwise); under torchrun, on every
    process it starts."""
    from textvae.models.config import PRESETS, ModelConfig
    from textvae.training import DataConfig, TrainConfig
    from textvae.training import train as run_training

    group, device = _join_processes(device)
    if resume:
        result = run_training(out, resume=True, progress=progress, threads=threads)
    else:
        if train_file is None or valid_file is None:
            raise typer.BadParameter("--train and --valid are needed (unless --resume)")
        sizes = dict(PRESETS[preset.value])
        for name, value in (("embedding_dim", embedding_dim), ("hidden_dim", hidden_dim), ("latent_dim", latent_dim)):
            if value is not None:
                sizes[name] = value
        data = DataConfig(str(train_file), str(valid_file), None if vocab is None else str(vocab),
                          min_count, max_vocab, max_length, tokenize.value, lowercase)
        training = TrainConfig(
            objective=objective.value, kl_target=kl_target, beta=beta, anneal_steps=anneal_steps,
            anneal_epochs=anneal_epochs, anneal_shape=anneal_shape.value, cycles=cycles, cycle_ratio=cycle_ratio,
            free_bits=free_bits, fb_mode=fb_mode.value, word_dropout=word_dropout, aggressive=aggressive,
            aggressive_max_updates=aggressive_max_updates, aggressive_until=aggressive_until,
            ae_pretrain_steps=ae_pretrain_steps, epochs=epochs,
            max_steps=max_steps, batch_size=batch_size, lr=lr, seed=seed, eval_every=eval_every,
            checkpoint_every=checkpoint_every, device=device, precision=precision.value, time_budget=time_budget,
        )
        model_config = ModelConfig(model=model, rnn_init=rnn_init.value, **sizes)
        result = run_training(out, data, model_config, training, progress=progress, threads=threads)
    if not group.main:
        return
    v = result.valid
    typer.echo(f"finished {result.steps} steps: valid D {v.distortion:.3f}  R {v.rate:.3f}  ELBO {v.elbo:.3f}  "
               f"PPL {v.ppl_elbo:.2f}")
    typer.echo(f"run directory: {result.run_dir}")


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `textvae train`.")],
    data: Annotated[Path, typer.Option(help="Corpus to evaluate, one sentence a line.")],
    iw_samples: Annotated[int, typer.Option(min=0, help="Importance samples per sentence for nll_iw; 0 skips it.")] = 500,
    au_threshold: Annotated[float, typer.Option(min=0.0, help="A dimension is active above this variance.")] = 0.01,
    repeats: Annotated[int, typer.Option(min=1, help="Draws averaged for log_det_cov and mu_norm_sq.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    weights: WeightsOption = "best",
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = 256,
    iw_batch_tokens: Annotated[int, typer.Option(
        min=1, help="Decoder tokens per importance-sampling pass (bounds memory).")] = 8192,
    seed: Annotated[int, typer.Option(min=0, help="Seed of every random draw.")] = 0,
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

    group, device = _join_processes(device)
    vae = _load(run_dir, device, weights, "fp32", threads, tokenize, lowercase)
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


def format_evaluation(result, iw_samples: int, au_threshold: float, repeats: int) -> str:
    def number(value: float | None, digits: int = 3) -> str:
        return "skipped" if value is None else f"{value:.{digits}f}"

    rows = [
        ("distortion", number(result.distortion), "nats/sentence, one z ~ q(z|x)"),
        ("rate", number(result.rate), "nats/sentence, KL(q(z|x) || p(z))"),
        ("elbo", number(result.elbo), "nats/sentence, -(distortion + rate)"),
        ("nll_iw", number(result.nll_iw), f"nats/sentence, {iw_samples} importance samples"),
        ("ppl_iw", number(result.ppl_iw, 2), "per token, <eos> counted"),
        ("ppl_elbo", number(result.ppl_elbo, 2), "per token, <eos> counted"),
        ("mi", number(result.mi), "nats, I_q(x; z)"),
        ("au", f"{result.au} / {len(result.au_variances)}", f"dimensions with variance > {au_threshold:g}"),
        ("log_det_cov", number(result.log_det_cov), f"aggregate posterior, mean of {repeats}"),
        ("mu_norm_sq", number(result.mu_norm_sq), f"aggregate posterior, mean of {repeats}"),
        ("sentences", str(result.sentences), ""),
        ("tokens", str(result.tokens), "<eos> included"),
    ]
    lines = [f"{key:<12} {value:>12}   {note}".rstrip() for key, value, note in rows]
    variances = " ".join(f"{v:.3f}" for v in sorted(result.au_variances, reverse=True))
    lines.append(f"{'au_variances':<12} {variances}")
    return "\n".join(lines)


# Decoding options shared by sample, interpolate and reconstruct.
KOption = Annotated[Optional[int], typer.Option(
    "--k", min=1, help="top-k: tokens kept [default: 15]; with --decode sample, an extra filter.")]
POption = Annotated[Optional[float], typer.Option(
    "--p", help="top-p: probability mass kept, in (0, 1] [default: 0.9]; with --decode sample, an extra filter.")]
TemperatureOption = Annotated[float, typer.Option(help="Sampling temperature (sample, top-k, top-p).")]
BeamSizeOption = Annotated[int, typer.Option(min=1, help="Hypotheses kept by beam search.")]
LengthPenaltyOption = Annotated[float, typer.Option(help="Beam search ranks by log p / length ** this.")]
SeedOption = Annotated[int, typer.Option(min=0, help="Seed of the prior draws and the sampling.")]
MaxLengthOption = Annotated[int, typer.Option(min=1, help="Longest sentence, in tokens.")]


def _decoding(strategy: str, temperature: float, k: int | None, p: float | None, beam_size: int,
              length_penalty: float, max_length: int | None) -> Decoding:
    from textvae.generation import Decoding

    options = {} if max_length is None else {"max_length": max_length}
    return Decoding(strategy, temperature=temperature, top_k=k, top_p=p, beam_size=beam_size,
                    length_penalty=length_penalty, **options)


def _strategies(names: str) -> list[str]:
    from textvae.generation import STRATEGIES

    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in STRATEGIES]
    if unknown or not chosen:
        raise typer.BadParameter(f"--decode takes a comma-separated list of {', '.join(STRATEGIES)}; got {names!r}")
    return chosen


def _buckets(text: str) -> list[int]:
    try:
        bounds = [int(b) for b in text.split(",") if b.strip()]
    except ValueError:
        bounds = []
    if not bounds or any(b < 1 for b in bounds) or bounds != sorted(set(bounds)):
        raise typer.BadParameter(f"--buckets takes increasing positive lengths separated by commas, got {text!r}")
    return bounds


@app.command()
def sample(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `textvae train`.")],
    n: Annotated[int, typer.Option("-n", help="Sentences to draw (the first ones are the same for any n at one "
                                              "seed).", min=1)] = 10,
    decode: Annotated[Strategy, typer.Option(help="Decoding strategy.")] = Strategy.sample,
    k: KOption = None,
    p: POption = None,
    temperature: TemperatureOption = 1.0,
    beam_size: BeamSizeOption = 5,
    length_penalty: LengthPenaltyOption = 1.0,
    max_length: MaxLengthOption = 30,
    seed: SeedOption = 0,
    precision: DecodePrecisionOption = Precision.auto,
    out: Annotated[Optional[Path], typer.Option(help="Write the sentences here instead of printing them.")] = None,
    force: ForceOption = False,
    weights: WeightsOption = "best",
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Draw z from the prior and decode a sentence from each, one a line."""
    decoding = _decoding(decode.value, temperature, k, p, beam_size, length_penalty, max_length)
    if out is not None:
        _output_file(out, force)
    vae = _load(run_dir, device, weights, precision.value, threads)
    vae.progress = progress
    sentences = vae.sample(n, decoding, seed=seed)
    text = "".join(f"{s}\n" for s in sentences)
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        log.info("%d sentences (%s) written to %s", n, decoding.describe(), out)


@app.command()
def interpolate(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `textvae train`.")],
    start: Annotated[Optional[str], typer.Option("--from", help="First sentence [default: a prior draw].")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="Last sentence [default: a prior draw].")] = None,
    steps: Annotated[int, typer.Option(help="Points on the path, both ends included.", min=2)] = 8,
    decode: Annotated[str, typer.Option(help="Comma-separated strategies, one block each.")] = "greedy,top-k,top-p",
    k: KOption = None,
    p: POption = None,
    temperature: TemperatureOption = 1.0,
    beam_size: BeamSizeOption = 5,
    length_penalty: LengthPenaltyOption = 1.0,
    max_length: MaxLengthOption = 30,
    seed: SeedOption = 0,
    precision: DecodePrecisionOption = Precision.auto,
    tokenize: RunTokenizeOption = None,
    lowercase: RunLowercaseOption = None,
    weights: WeightsOption = "best",
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Decode sentences along z = (1 - s) z_from + s z_to, s from 0 to 1 (the paper's Table 2)."""
    strategies = _strategies(decode)
    decodings = [_decoding(s, temperature, k, p, beam_size, length_penalty, max_length) for s in strategies]
    for name, sentence in (("--from", start), ("--to", end)):
        if sentence is not None and not sentence.split():
            raise typer.BadParameter(f"{name} is empty; give a sentence, or leave it out for a prior draw")
    vae = _load(run_dir, device, weights, precision.value, threads, tokenize, lowercase)
    blocks = []
    for decoding in decodings:
        path = vae.interpolate(start, end, steps, decoding, seed=seed)
        lines = [f"{i}. {sentence}" for i, sentence in enumerate(path.sentences, 1)]
        blocks.append("\n".join([f"# {decoding.describe()}", *lines]))
    typer.echo("\n\n".join(blocks))


@app.command()
def reconstruct(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `textvae train`.")],
    data: Annotated[Path, typer.Option(help="Sentences to reconstruct, one a line.")],
    out: Annotated[Path, typer.Option(help="Writes 'source<TAB>reconstruction' a line.")],
    force: ForceOption = False,
    buckets: Annotated[str, typer.Option(help="Upper bounds of the source-length buckets.")] = "10,20,30",
    max_length: Annotated[Optional[int], typer.Option(
        min=1, help="Longest reconstruction [default: longest source + 10].")] = None,
    decode: Annotated[Strategy, typer.Option(help="Decoding strategy (the paper's Table 1 uses greedy).")] = Strategy.greedy,
    k: KOption = None,
    p: POption = None,
    temperature: TemperatureOption = 1.0,
    beam_size: BeamSizeOption = 5,
    length_penalty: LengthPenaltyOption = 1.0,
    seed: SeedOption = 0,
    precision: DecodePrecisionOption = Precision.auto,
    tokenize: RunTokenizeOption = None,
    lowercase: RunLowercaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
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
    _output_file(out, force)
    vae = _load(run_dir, device, weights, precision.value, threads, tokenize, lowercase)
    vae.batch_size, vae.progress = batch_size, progress
    sources = [" ".join(tokens) for tokens in read_sentences(data, vae.tokenizer)]
    if max_length is None:
        max_length = 10 + max(len(s.split()) for s in sources)
    decoding = _decoding(decode.value, temperature, k, p, beam_size, length_penalty, max_length)
    reconstructions = vae.reconstruct([s.split() for s in sources], decoding, seed=seed)
    out.write_text("".join(f"{s}\t{r}\n" for s, r in zip(sources, reconstructions)), encoding="utf-8")
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


@app.command()
def corpus(
    out: Annotated[Path, typer.Argument(help="Directory for train/valid/test .txt and .factors.jsonl.")],
    sentences: Annotated[int, typer.Option("--sentences", "-n", min=3, help="Sentences in all splits.")] = 20_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the grammar's draws.")] = 0,
) -> None:
    """Write the built-in generated corpus (with the factors behind every sentence)."""
    from textvae.data.synthetic import write_corpus

    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file; give a directory")
    splits = write_corpus(out, n_sentences=sentences, seed=seed)
    for name, path in asdict(splits).items():
        typer.echo(f"{name}: {path}")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where the corpus and the run go.")] = Path("textvae-demo"),
    kl_target: Annotated[float, typer.Option("--C", "--kl-target", help="Target rate C in nats.")] = DEMO_C,
    model: Annotated[str, typer.Option(help="lstm-lstm, gru-gru or lstm-cnn.")] = "lstm-lstm",
    max_steps: Annotated[int, typer.Option(min=1, help="Training steps.")] = DEMO_STEPS,
    time_budget: Annotated[float, typer.Option(
        min=1.0, help="Seconds of training at most: on a slow or busy machine training stops there (and says "
                      "so) rather than run past the demo's promise.")] = DEMO_TIME_BUDGET,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the corpus, the training and the samples.")] = 0,
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Generate the built-in corpus, train a small model on it (about a minute on 2 cores), evaluate it and show
    samples and reconstructions."""
    from textvae.experiments.demo import run_demo

    report = run_demo(out, kl_target=kl_target, model=model, max_steps=max_steps, time_budget=time_budget, seed=seed,
                      progress=progress, threads=threads)
    typer.echo(report)


class ExperimentName(str, Enum):
    figure1 = "figure1"
    table1 = "table1"
    table2 = "table2"
    table3 = "table3"
    table4 = "table4"
    compare = "compare"


@app.command()
def experiment(
    name: Annotated[ExperimentName, typer.Argument(
        help="figure1: D, R, LogDetCov, ||mu||^2 and AU against C for each model (results.json/.csv, figure1.png, "
             "report.md); table1: measurements and greedy-reconstruction BLEU/ROUGE by length (table1.md); "
             "table2: interpolations with greedy, top-k 15 and top-p 0.9 (table2.md); table3: forward "
             "cross-entropy of corpora sampled with 7 schemes, scored by an LM trained on each (table3.md/.json/"
             ".png); table4: minimal pairs with pos / neg accuracy and the LM baseline at C = 3 and 100, needs "
             "--pairs (table4.md/.json); compare: the remedies for posterior collapse (ELBO, KL annealing, cyclical, "
             "free bits, aggressive, AE pretraining + free bits) next to beta-C at three C, with an LSTM language "
             "model's NLL as the floor (compare.md/.json/.csv/.png).")],
    train: Annotated[Path, typer.Option(help="Training corpus, one sentence a line.")],
    valid: Annotated[Path, typer.Option(help="Validation corpus (picks each run's best weights).")],
    test: Annotated[Path, typer.Option(help="Test corpus: every measurement is taken on it.")],
    out: Annotated[Path, typer.Option(
        help="Experiment directory: runs/ (one per model and C) and the results. Re-running resumes it; "
             "the experiments can share one and reuse each other's runs.")],
    preset: Annotated[ExperimentPreset, typer.Option(
        help="Sizes and training: paper (256/512/64, the paper's optimiser, 10 epochs; for a GPU) or cpu-small "
             "(64/128/32, 6,000 steps; the Yelp Figure 1 sweep in about an hour on 2 CPU cores). train's "
             "--preset small is a model size only, with no training settings to sweep.")] = ExperimentPreset.cpu_small,
    models: Annotated[Optional[str], typer.Option(
        help="Comma-separated models [default: all three for figure1, lstm-lstm for the tables].")] = None,
    kl_targets: Annotated[Optional[str], typer.Option(
        "--C", help="Comma-separated target rates [default: 3,5,10,15,30,60,100 for figure1, 3,15,100 for tables "
                    "1-3 and compare's beta-C runs, 3,100 for table4].")] = None,
    variants: Annotated[Optional[str], typer.Option(
        help="compare: the runs to compare, comma-separated, from elbo, anneal, cyclical, free-bits, aggressive, "
             "ae-free-bits, beta-c [default: all].")] = None,
    epochs: Annotated[Optional[int], typer.Option(min=1, help="Epochs per run (overrides the preset).")] = None,
    max_steps: Annotated[Optional[int], typer.Option(min=1, help="Steps per run (overrides the preset).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of every run.")] = 0,
    jobs: Annotated[int, typer.Option(
        help="Runs trained at once, in separate processes (one GPU each where several are visible).", min=1)] = 1,
    device: DeviceOption = "auto",
    precision: Annotated[Precision, typer.Option(
        help="Of training and evaluation: fp32, bf16 (autocast) or auto (bf16 where it runs faster).")] = Precision.fp32,
    threads: Annotated[Optional[int], typer.Option(
        min=1, help="CPU threads in all, split between --jobs [default: one per core].")] = None,
    iw_samples: Annotated[Optional[int], typer.Option(
        min=0, help="Importance samples for the test NLL (0 skips it) [default: the preset's].")] = None,
    start: Annotated[Optional[str], typer.Option("--from", help="table2: first sentence of the sentence path.")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="table2: last sentence of the sentence path.")] = None,
    steps: Annotated[int, typer.Option(help="table2: points on each path.", min=2)] = 8,
    copies: Annotated[int, typer.Option(help="table3: independent artificial corpora per cell.", min=1)] = 3,
    pairs: Annotated[Optional[Path], typer.Option(
        help="table4: minimal pairs (JSON lines with sentence_good, sentence_bad, case, condition), e.g. "
             "../shared/data/syneval/marvin_linzen_2018.jsonl.")] = None,
    skip_oov: Annotated[bool, typer.Option(help="table4: skip pairs with out-of-vocabulary words.")] = False,
    labels: Annotated[Optional[str], typer.Option(
        "--labels-test", help="figure1: labels of the test split to probe what z encodes: JSON lines of factor -> "
                              "value, or FACTOR=FILE of one label a line (e.g. sentiment=test.labels) [default: the "
                              "built-in corpus's factors beside --test].")] = None,
    only: Annotated[Optional[str], typer.Option(
        help="Run one cell only: MODEL:C (e.g. lstm-lstm:15), a run's name (compare: its variant, e.g. "
             "lstm-lstm-elbo) or its 0-based index, as a job array's task does on a cluster; a call without it "
             "then writes the outputs from the finished runs.")] = None,
    progress: ProgressOption = True,
) -> None:
    """Reproduce the paper's Figure 1 or Tables 1-4, or compare remedies for posterior collapse: train every
    run, evaluate, report."""
    from textvae.experiments.figure1 import FIGURE1_C, run_figure1
    from textvae.experiments.sweep import MODELS, Experiment
    from textvae.experiments.table1 import TABLE1_C, run_table1
    from textvae.experiments.table2 import DEFAULT_FROM, DEFAULT_TO, TABLE2_C, run_table2
    from textvae.experiments.table3 import TABLE3_C, run_table3
    from textvae.experiments.compare import COMPARE_C, default_variants, run_compare
    from textvae.experiments.table4 import TABLE4_C, run_table4
    from textvae.runtime import set_threads

    if name is ExperimentName.table4 and pairs is None:
        raise typer.BadParameter("table4 needs --pairs FILE.jsonl")
    set_threads(threads)
    default_c = {"figure1": FIGURE1_C, "table1": TABLE1_C, "table2": TABLE2_C, "table3": TABLE3_C,
                 "table4": TABLE4_C, "compare": COMPARE_C}[name.value]
    model_list = [m.strip() for m in models.split(",") if m.strip()] if models else (
        list(MODELS) if name is ExperimentName.figure1 else ["lstm-lstm"])
    try:
        c_list = [float(c) for c in kl_targets.split(",") if c.strip()] if kl_targets else list(default_c)
    except ValueError:
        raise typer.BadParameter(f"--C takes comma-separated numbers, got {kl_targets!r}") from None
    settings = Experiment(name.value, str(train), str(valid), str(test), str(out), preset.value, model_list, c_list,
                          epochs, max_steps, seed, device, precision.value, iw_samples, only,
                          labels)
    if name is ExperimentName.figure1:
        run_figure1(settings, jobs, progress)
    elif name is ExperimentName.table1:
        run_table1(settings, jobs, progress)
    elif name is ExperimentName.table2:
        run_table2(settings, start or DEFAULT_FROM, end or DEFAULT_TO, steps, jobs, progress)
    elif name is ExperimentName.table3:
        run_table3(settings, copies, jobs, progress)
    elif name is ExperimentName.table4:
        run_table4(settings, pairs, skip_oov, jobs, progress)
    else:
        chosen = None
        if variants is not None:
            probe = settings.run_config(model_list[0], 0.0).training
            every = default_variants(probe.max_steps or 0, probe.eval_every, c_list)
            wanted = {v.strip() for v in variants.split(",") if v.strip()}
            known = {v.kind for v in every}
            if not wanted or wanted - known:
                raise typer.BadParameter(f"--variants takes a comma-separated list of {', '.join(sorted(known))}; "
                                         f"got {variants!r}")
            chosen = [v for v in every if v.kind in wanted]
        run_compare(settings, chosen, jobs, progress)
    if only is not None:
        return  # one cell: the outputs come from a call without --only
    report = "report.md" if name is ExperimentName.figure1 else f"{name.value}.md"
    typer.echo((out / report).read_text(encoding="utf-8"), nl=False)


lm_app = typer.Typer(help="A plain LSTM language model (the scorer of Table 3's forward cross-entropy).",
                     no_args_is_help=True, rich_markup_mode=None)
app.add_typer(lm_app, name="lm")


@lm_app.command("train")
def lm_train(
    train: Annotated[Path, typer.Option(help="Training corpus, one sentence a line.")],
    out: Annotated[Path, typer.Option(help="Directory for config.json, vocab.txt, model.safetensors, metrics.jsonl.")],
    valid: Annotated[Optional[Path], typer.Option(help="Validation corpus: keeps the best epoch's weights.")] = None,
    vocab: Annotated[Optional[Path], typer.Option(help="Vocabulary file (e.g. a VAE run's vocab.txt) [default: "
                                                       "built from --train].")] = None,
    max_vocab: Annotated[Optional[int], typer.Option(help="Largest vocabulary built from --train.")] = None,
    kind: Annotated[str, typer.Option(help="lstm or gru.")] = "lstm",
    embedding_dim: Annotated[int, typer.Option(min=1, help="Embedding size.")] = 256,
    hidden_dim: Annotated[int, typer.Option(min=1, help="Recurrent state size.")] = 512,
    epochs: Annotated[int, typer.Option(min=1, help="Epochs to train.")] = 5,
    max_steps: Annotated[Optional[int], typer.Option(min=1, help="Stop after this many steps.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 0.002,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the initialisation and the data order.")] = 0,
    max_length: Annotated[int, typer.Option(
        min=1, help="Cut longer sentences to this many words (a warning counts them).")] = DEFAULT_MAX_LENGTH,
    tokenize: Annotated[Tokenize, typer.Option(help="none (split on whitespace) or moses. Saved with the model.")
                        ] = Tokenize.none,
    lowercase: Annotated[bool, typer.Option(help="Lower-case the text first. Saved with the model.")] = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
    progress: ProgressOption = True,
) -> None:
    """Train a language model; prints the validation cross-entropy of each epoch."""
    from textvae.data.tokenize import Tokenizer
    from textvae.data.vocab import Vocabulary
    from textvae.lm import LMTrainConfig, train_lm
    from textvae.models.lm import LMConfig
    from textvae.runtime import set_threads

    set_threads(threads)
    history = train_lm(out, train, valid, Vocabulary.load(vocab) if vocab else None,
                       LMConfig(kind, 0, embedding_dim, hidden_dim),
                       LMTrainConfig(epochs, max_steps, batch_size, lr, seed, device), max_vocab, progress,
                       Tokenizer(tokenize.value, lowercase), max_length)
    for record in history:
        typer.echo(json.dumps(record))


@lm_app.command("evaluate")
def lm_evaluate(
    lm_dir: Annotated[Path, typer.Argument(help="A directory written by `textvae lm train`.")],
    data: Annotated[Path, typer.Option(help="Sentences to score, one a line.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """Cross-entropy (nats per token, `<eos>` counted) and perplexity of a corpus."""
    from textvae.data.corpus import load_corpus
    from textvae.lm import evaluate_lm, load_lm, saved_data_settings
    from textvae.runtime import set_threads

    set_threads(threads)
    model, vocab = load_lm(lm_dir, device)
    tokenizer, max_length = saved_data_settings(lm_dir)
    result = evaluate_lm(model, load_corpus(data, vocab, max_length, tokenizer=tokenizer, warn_unknown=True))
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        typer.echo(f"cross-entropy {result.cross_entropy:.4f} nats/token, perplexity {result.perplexity:.2f} "
                   f"({result.sentences} sentences, {result.tokens} tokens)")


@app.command()
def syneval(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `textvae train`.")],
    pairs: Annotated[Path, typer.Option(help="JSON lines, each with sentence_good and sentence_bad.")],
    group_by: Annotated[Optional[str], typer.Option(help="Report per value of this field (e.g. case).")] = None,
    grouping: Annotated[Optional[str], typer.Option(
        help="A built-in grouping instead: marvin-linzen (the paper's Table 4 rows, from the case field).")] = None,
    skip_oov: Annotated[bool, typer.Option(help="Skip pairs with a word outside the vocabulary (else <unk>).")] = False,
    tokenize: Annotated[Optional[Tokenize], typer.Option(
        help="How the sentences become tokens: none or moses (for raw-text benchmarks, with --lowercase) "
             "[default: the run's].")] = None,
    lowercase: RunLowercaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
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
    from textvae.evaluation.syneval import read_pairs, syneval as score

    if group_by is not None and grouping is not None:
        raise typer.BadParameter("give --group-by or --grouping, not both")
    pair_list = read_pairs(pairs, group_by, grouping)
    vae = _load(run_dir, device, weights, "fp32", threads, tokenize, lowercase)
    vae.batch_size, vae.progress = batch_size, progress
    rows = score(vae, pair_list, skip_oov)
    if as_json:
        typer.echo(json.dumps({"pairs": str(pairs), "skip_oov": skip_oov, "tokenize": vae.tokenizer.describe(),
                               "groups": [r.to_dict() for r in rows]}))
        return
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}"
    typer.echo("| group | pairs | scored | skipped | ties | OOV % | pos | neg | pos (mean z) | neg (mean z) | LM |")
    typer.echo("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        typer.echo(f"| {r.group} | {r.pairs} | {r.scored} | {r.skipped} | {r.ties} | {100 * r.oov_share:.1f} | "
                   f"{pct(r.pos)} | {pct(r.neg)} | {pct(r.pos_mean)} | {pct(r.neg_mean)} | {pct(r.lm)} |")


@app.command()
def probe(
    run_dir: Annotated[Path, typer.Argument(help="A run directory written by `textvae train`.")],
    data: Annotated[Path, typer.Option(help="Sentences, one a line.")],
    labels: Annotated[Path, typer.Option(
        help="Their labels, one a line (the factor takes the file's name, or --factor), or a JSON object a line of "
             "factor -> value (e.g. the built-in corpus's test.factors.jsonl).")],
    factor: Annotated[Optional[str], typer.Option(help="The factor's name for a file of plain labels.")] = None,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    max_sentences: Annotated[Optional[int], typer.Option(min=10, help="Probe the first this many sentences.")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the folds.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    weights: WeightsOption = "best",
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """What z encodes: a linear probe from the posterior mean to each factor (accuracy against the majority
    baseline, and H(factor) - cross-entropy in nats), and to the sentence's length (R^2)."""
    from textvae.evaluation.probes import aligned, probe as run_probes

    sentences, factors = aligned(data, labels, factor, max_sentences)
    vae = _load(run_dir, device, weights, "fp32", threads)
    vae.warn_unknown(sentences, str(data))
    results = run_probes(vae, sentences, factors, folds, seed)
    if as_json:
        typer.echo(json.dumps({"data": str(data), "labels": str(labels), "folds": folds,
                               "probes": [r.to_dict() for r in results]}))
        return
    typer.echo(f"| factor | classes | accuracy | majority baseline | information (nats) | H(factor) |")
    typer.echo("|---|---|---|---|---|---|")
    for r in results:
        if r.r2 is not None:
            typer.echo(f"| {r.factor} | - | R^2 {_interval(r.r2, 3)} | R^2 0 | - | - |")
        else:
            typer.echo(f"| {r.factor} | {r.classes} | {_interval(r.accuracy, 3)} | {_interval(r.majority, 3)} | "
                       f"{_interval(r.information, 3)} | {r.entropy:.3f} |")
    typer.echo(f"({len(sentences)} sentences, {folds} folds; intervals: 95% over the folds)")


@app.command()
def explore(
    run_dirs: Annotated[list[Path], typer.Argument(help="One or more run directories written by `textvae train`.")],
    data: Annotated[Optional[Path], typer.Option(
        help="Sentences for the map, one a line [default: each run's validation split].")] = None,
    labels: Annotated[Optional[Path], typer.Option(
        help="Their labels (one a line, or JSON lines of factor -> value) to colour the map.")] = None,
    color_by: Annotated[Optional[str], typer.Option(
        help="The factor that colours the map where the labels hold several [default: the first].")] = None,
    max_points: Annotated[int, typer.Option(min=2, help="Sentences on the map, at most.")] = 2000,
    host: Annotated[str, typer.Option(help="Address to serve on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 8000,
    device: DeviceOption = "auto",
    threads: ThreadsOption = None,
) -> None:
    """A latent explorer in the browser (and a JSON model server: /encode, /decode, /interpolate, /sample)."""
    from textvae.explore import build_service, create_app
    from textvae.runtime import set_threads

    set_threads(threads)
    app = create_app(build_service(run_dirs, data, labels, max_points, device, color_by))
    log.info("textvae explorer on http://%s:%d/ (Ctrl-C stops it)", host, port)
    app.run(host=host, port=port, threaded=False)


def _interval(value: Any, digits: int) -> str:
    return f"{value.mean:.{digits}f} [{value.low:.{digits}f}, {value.high:.{digits}f}]"


def _usage_error(err: Exception) -> str:
    """A click usage error as one line, naming the command's --help."""
    message = err.format_message() if hasattr(err, "format_message") else str(err)
    context = getattr(err, "ctx", None)
    where = f" (see: {context.command_path} --help)" if context is not None else ""
    return " ".join(message.split()) + where


def main(argv: list[str] | None = None) -> None:
    """The `textvae` program: every failure the user can cause ends in one line on stderr and exit
    status 2 (130 on Ctrl-C), never a traceback."""
    from textvae.runtime import keep_freed_memory

    keep_freed_memory()
    try:
        code = app(args=argv, standalone_mode=False)  # usage errors come back to us, to say in one line
        distributed.end_process(code if isinstance(code, int) else 0)
    except DivergenceError as err:
        _fail(str(err), status=3)
    except TextVAEError as err:
        _fail(str(err))
    except typer.TyperException as err:  # click's usage errors (bad option values, unknown options)
        _fail(_usage_error(err))
    except OSError as err:  # writing where one cannot, a full disk, a file that vanished
        where = f"{err.filename}: " if err.filename else ""
        _fail(f"{where}{err.strerror or err}")
    except (KeyboardInterrupt, typer.Abort):
        code = 130
    if code == 130:
        typer.echo("textvae: interrupted", err=True)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, status: int = 2) -> None:
    typer.echo(f"textvae: error: {message}", err=True)
    distributed.end_process(status, cleanly=False)
    sys.exit(status)


if __name__ == "__main__":
    main()
