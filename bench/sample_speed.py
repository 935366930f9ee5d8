"""Batched prior sampling against a one-sentence-at-a-time loop, in one run.

A paper-size LSTM-LSTM (256/512/64) with the vocabulary of ../shared/docs/PERF.md's peers (the
4,519 most frequent words of the first 20,000 Yelp training sentences), trained for a few hundred
steps on those sentences so that its sentences end where a language model's would, or loaded
from a run directory with --run. Then 10,000 codes z ~ N(0, I) are decoded with top-p 0.9:
- original-style loop: one sentence at a time, as the original code decoded, with the standard
  2019 recipe per step (nucleus by torch.sort and a cumulative softmax, torch.multinomial,
  .item()), fp32, on 1,000 of the codes per round;
- textvae one at a time: the library's `decode` called on one code after another (its faster
  per-step pieces, none of the batching), fp32, the same 1,000 codes;
- textvae batched: `decode` over batches of --batch-size codes, fp32 and bf16 autocast.
All use the same model, codes and top-p; speed-ups are ratios of sentences per second. The
process keeps freed memory as the `textvae` program does (`textvae.runtime.keep_freed_memory`;
--default-allocator turns that off).

    python bench/sample_speed.py                  # 3 rounds: 1,000 codes one at a time, 10,000 batched
    python bench/sample_speed.py --run runs/yelp  # decode with a trained run instead
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import Tensor

from textvae.api import load
from textvae.data import Vocabulary, encode_corpus, read_sentences
from textvae.generation import Decoding, decode
from textvae.models import PRESETS, ModelConfig, SentenceVAE
from textvae.objectives import BetaCOptions
from textvae.precision import bf16_support
from textvae.runtime import describe_environment, environment, keep_freed_memory
from textvae.training import DataConfig, RunConfig, Trainer, TrainConfig

YELP = Path(__file__).resolve().parents[2] / "shared" / "data" / "yelp" / "train.txt"


def quickly_trained(sentences: list[list[str]], max_vocab: int, steps: int) -> SentenceVAE:
    vocab = Vocabulary.build(sentences, max_size=max_vocab)
    corpus = encode_corpus(sentences, vocab)
    config = RunConfig(ModelConfig("lstm-lstm", vocab_size=len(vocab), **PRESETS["paper"]),
                       TrainConfig(objective=BetaCOptions(kl_target=5.0, anneal_steps=steps), batch_size=128),
                       DataConfig("-", "-"))
    torch.manual_seed(0)
    model = SentenceVAE(config.model, eos_id=vocab.eos_id)
    trainer = Trainer(Path(tempfile.mkdtemp()), config, model, vocab, corpus, corpus, progress=False)
    model.train()
    for _ in range(steps):
        trainer.train_step(trainer.next_batch())
    return model.eval()


@torch.inference_mode()
def original_style_sample(model: SentenceVAE, z: Tensor, p: float, max_length: int,
                          generator: torch.Generator) -> list[int]:
    """One sentence, the way 2019 code sampled: a step at a time, the nucleus found with
    torch.sort and a cumulative softmax, the token drawn with torch.multinomial and read with
    .item(). A deliberately separate baseline, not the library's loop."""
    state, previous, out = None, model.eos_id, []
    for _ in range(max_length):
        features, state = model.decoder(model.decoder_inputs(torch.tensor([[previous]]), z.view(1, -1)), state)
        logits = model.to_vocab(features[0, -1])
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
        remove = cumulative > p
        remove[1:] = remove[:-1].clone()  # keep the token that crosses p
        remove[0] = False
        logits[order[remove]] = float("-inf")
        previous = int(torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).item())
        if previous == model.eos_id:
            break
        out.append(previous)
    return out


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=YELP)
    parser.add_argument("--run", type=Path, help="decode with this trained run instead of training one")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--max-vocab", type=int, default=4519)
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--loop-sentences", type=int, default=1000, help="codes decoded one at a time per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--max-length", type=int, default=30)
    parser.add_argument("--default-allocator", action="store_true",
                        help="skip the allocator setting that the textvae program applies")
    args = parser.parse_args()

    allocator = "glibc defaults" if args.default_allocator or not keep_freed_memory() else "as the textvae program"
    if args.run:
        model = load(args.run, weights="last").model
    else:
        model, seconds = timed(lambda: quickly_trained(read_sentences(args.data)[:20_000], args.max_vocab,
                                                       args.train_steps))
        print(f"trained {args.train_steps} steps in {seconds:.0f} s", flush=True)
    decoding = Decoding("top-p", top_p=args.p, max_length=args.max_length)
    z = torch.randn(args.sentences, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    print(f"{describe_environment(environment())}; "
          f"vocabulary {model.config.vocab_size}; {decoding.describe()}, at most {args.max_length} tokens; "
          f"allocator: {allocator}", flush=True)

    def batched(precision: str) -> list[list[int]]:
        generator = torch.Generator().manual_seed(1)
        return [s for i in range(0, len(z), args.batch_size)
                for s in decode(model, z[i : i + args.batch_size], decoding, generator, precision)]

    def one_at_a_time(first: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(1)
        return [decode(model, z[i : i + 1], decoding, generator)[0] for i in range(first, first + args.loop_sentences)]

    def original_style(first: int) -> list[list[int]]:
        generator = torch.Generator().manual_seed(1)
        return [original_style_sample(model, z[i], args.p, args.max_length, generator)
                for i in range(first, first + args.loop_sentences)]

    # This machine's speed drifts (shared memory bandwidth), so the ways are interleaved in rounds
    # and the medians compared.
    rates: dict[str, list[float]] = {"original-style loop, fp32": [], "textvae one at a time, fp32": [],
                                     "textvae batched, fp32": [], "textvae batched, bf16": []}
    words: dict[str, float] = {}
    with torch.inference_mode():
        for round_ in range(args.rounds):
            first = round_ * args.loop_sentences % max(1, args.sentences - args.loop_sentences)
            for name, run in (("original-style loop, fp32", lambda: original_style(first)),
                              ("textvae one at a time, fp32", lambda: one_at_a_time(first)),
                              ("textvae batched, fp32", lambda: batched("fp32")),
                              ("textvae batched, bf16", lambda: batched("bf16"))):
                if name.endswith("bf16") and not bf16_support("cpu").supported:
                    continue  # this CPU cannot run bf16: the rounds measure fp32 only
                out, seconds = timed(run)
                rates[name].append(len(out) / seconds)
                words[name] = sum(map(len, out)) / len(out)
                print(f"round {round_ + 1}, {name}: {len(out)} sentences in {seconds:.1f} s, "
                      f"{len(out) / seconds:.1f} sentences/s", flush=True)
    original = statistics.median(rates["original-style loop, fp32"])
    ours = statistics.median(rates["textvae one at a time, fp32"])
    print(f"\n| way | sentences/s (median of {args.rounds}) | words a sentence | vs original-style loop | "
          f"vs textvae one at a time |\n|---|---|---|---|---|")
    for name, values in rates.items():
        if not values:
            print(f"| {name} | skipped: {bf16_support('cpu').about} | | | |")
            continue
        rate = statistics.median(values)
        print(f"| {name} | {rate:,.1f} | {words[name]:.1f} | {rate / original:.1f}x | {rate / ours:.1f}x |")


if __name__ == "__main__":
    main()
