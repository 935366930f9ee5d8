"""Batched prior sampling against a one-sentence-at-a-time loop, in one run.

A paper-size LSTM-LSTM (256/512/64) with the vocabulary of ../shared/docs/PERF.md's peers (the
4,519 most frequent words of the first 20,000 Yelp training sentences), trained for a few hundred
steps on those sentences so that its sentences end where a language model's would, or loaded
from a run directory with --run. Then 10,000 codes z ~ N(0, I) are decoded with top-p 0.9:
- batched: `textvae.generation.decode` over batches of --batch-size codes;
- one at a time: the same decoding called on one code after another, as the original code did.
Both use the same model, codes and decoding; the ratio of their times is the speed-up.

    python bench/sample_speed.py                        # 10,000 sentences each way (a few minutes on 2 cores)
    python bench/sample_speed.py --loop-sentences 1000  # time the slow loop on the first 1,000 codes only
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from textvae.api import load
from textvae.data import Vocabulary, encode_corpus, read_sentences
from textvae.generation import Decoding, decode
from textvae.models import PRESETS, ModelConfig, SentenceVAE
from textvae.training import DataConfig, RunConfig, Trainer, TrainConfig

YELP = Path(__file__).resolve().parents[2] / "shared" / "data" / "yelp" / "train.txt"


def quickly_trained(sentences: list[list[str]], max_vocab: int, steps: int) -> SentenceVAE:
    vocab = Vocabulary.build(sentences, max_size=max_vocab)
    corpus = encode_corpus(sentences, vocab)
    config = RunConfig(ModelConfig("lstm-lstm", vocab_size=len(vocab), **PRESETS["paper"]),
                       TrainConfig(batch_size=128, kl_target=5.0, anneal_steps=steps), DataConfig("-", "-"))
    torch.manual_seed(0)
    model = SentenceVAE(config.model, eos_id=vocab.eos_id)
    trainer = Trainer(Path(tempfile.mkdtemp()), config, model, vocab, corpus, corpus, progress=False)
    model.train()
    for _ in range(steps):
        trainer.train_step(trainer.next_batch())
    return model.eval()


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
    parser.add_argument("--loop-sentences", type=int, help="codes decoded one at a time (default: all)")
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--p", type=float, default=0.9)
    parser.add_argument("--max-length", type=int, default=30)
    args = parser.parse_args()

    if args.run:
        model = load(args.run, weights="last").model
    else:
        model, seconds = timed(lambda: quickly_trained(read_sentences(args.data)[:20_000], args.max_vocab,
                                                       args.train_steps))
        print(f"trained {args.train_steps} steps in {seconds:.0f} s", flush=True)
    decoding = Decoding("top-p", top_p=args.p, max_length=args.max_length)
    z = torch.randn(args.sentences, model.config.latent_dim, generator=torch.Generator().manual_seed(0))
    loop_n = args.loop_sentences or args.sentences
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}; "
          f"vocabulary {model.config.vocab_size}; {decoding.describe()}, at most {args.max_length} tokens", flush=True)

    def batched() -> list[list[int]]:
        generator = torch.Generator().manual_seed(1)
        return [s for i in range(0, len(z), args.batch_size)
                for s in decode(model, z[i : i + args.batch_size], decoding, generator)]

    def one_at_a_time() -> list[list[int]]:
        generator = torch.Generator().manual_seed(1)
        return [decode(model, z[i : i + 1], decoding, generator)[0] for i in range(loop_n)]

    with torch.inference_mode():
        batch_out, batch_s = timed(batched)
        loop_out, loop_s = timed(one_at_a_time)
    batch_rate, loop_rate = len(batch_out) / batch_s, len(loop_out) / loop_s
    mean = lambda outs: sum(map(len, outs)) / len(outs)  # noqa: E731
    print(f"batched ({args.batch_size} a batch): {len(batch_out)} sentences in {batch_s:.1f} s, "
          f"{batch_rate:.0f} sentences/s, {mean(batch_out):.1f} words each")
    print(f"one at a time: {len(loop_out)} sentences in {loop_s:.1f} s, {loop_rate:.1f} sentences/s, "
          f"{mean(loop_out):.1f} words each")
    print(f"speed-up: {batch_rate / loop_rate:.1f}x")


if __name__ == "__main__":
    main()
