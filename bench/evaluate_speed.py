"""Speed of `evaluate` with importance-weighted NLL (K samples) on the Yelp test split.

A paper-size LSTM-LSTM (256/512/64, random weights: the cost does not depend on them) with the
vocabulary of ../shared/docs/PERF.md's peers (the 4,519 most frequent words of the first 20,000
training sentences), evaluated on the 10,000 test sentences with K = 500, fp32.

    python bench/evaluate_speed.py                      # the full run (tens of minutes on 2 cores)
    python bench/evaluate_speed.py --sentences 500      # a quick look
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from textvae.data import Vocabulary, encode_corpus, read_sentences
from textvae.evaluation import evaluate
from textvae.models import PRESETS, ModelConfig, SentenceVAE
from textvae.runtime import describe_environment, environment

YELP = Path(__file__).resolve().parents[2] / "shared" / "data" / "yelp"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=YELP)
    parser.add_argument("--sentences", type=int, default=10_000)
    parser.add_argument("--iw-samples", type=int, default=500)
    parser.add_argument("--model", default="lstm-lstm")
    parser.add_argument("--size", default="paper", choices=sorted(PRESETS))
    parser.add_argument("--max-vocab", type=int, default=4519)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()

    vocab = Vocabulary.build(read_sentences(args.data / "train.txt")[:20_000], max_size=args.max_vocab)
    corpus = encode_corpus(read_sentences(args.data / "test.txt")[: args.sentences], vocab)
    torch.manual_seed(0)
    model = SentenceVAE(ModelConfig(args.model, vocab_size=len(vocab), **PRESETS[args.size]), eos_id=vocab.eos_id)
    print(f"{describe_environment(environment())}; {args.model} {args.size}, vocabulary "
          f"{len(vocab)}, {len(corpus)} sentences ({corpus.num_tokens} tokens), K = {args.iw_samples}", flush=True)
    start = time.perf_counter()
    result = evaluate(model, corpus, iw_samples=args.iw_samples, batch_size=args.batch_size, progress=True)
    elapsed = time.perf_counter() - start
    print(f"evaluate: {elapsed:.0f} s, {len(corpus) / elapsed:.2f} sentences/s "
          f"(nll_iw {result.nll_iw:.3f}, D + R {result.distortion + result.rate:.3f})")


if __name__ == "__main__":
    main()
