"""Training throughput of textvae: real target tokens per second (padding excluded).

Runs the library's own training step (`Trainer.train_step`) on length-grouped batches of Yelp
sentences, as ../shared/docs/PERF.md measured its peers: the first 20,000 training sentences,
a vocabulary of their 4,519 most frequent words (the peers' size), batch 128, Adam.
Prints one markdown row per configuration.

    python bench/train_throughput.py                       # paper size and small preset, fp32 and bf16
    python bench/train_throughput.py --sizes paper --precisions fp32 --models lstm-lstm,gru-gru,lstm-cnn
    python bench/train_throughput.py --sizes small,cpu-small --precisions fp32 --threads 1,2

Every run prints the machine first: CPU model, the instruction set PyTorch runs at (limit it to
AVX2 with ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2), threads.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from textvae.data import Vocabulary, encode_corpus, read_sentences
from textvae.models import PRESETS, ModelConfig, SentenceVAE
from textvae.precision import bf16_support
from textvae.runtime import describe_environment, environment, set_threads
from textvae.training import DataConfig, RunConfig, Trainer, TrainConfig

YELP = Path(__file__).resolve().parents[2] / "shared" / "data" / "yelp" / "train.txt"


def measure(sentences: list[list[str]], max_vocab: int, model: str, size: str, precision: str, steps: int,
            warmup: int, repeats: int, device: str) -> dict[str, float]:
    vocab = Vocabulary.build(sentences, max_size=max_vocab)
    corpus = encode_corpus(sentences, vocab)
    config = RunConfig(ModelConfig(model=model, vocab_size=len(vocab), **PRESETS[size]),
                       TrainConfig(batch_size=128, precision=precision, device=device), DataConfig("-", "-"))
    torch.manual_seed(0)
    net = SentenceVAE(config.model, eos_id=vocab.eos_id).to(device)
    trainer = Trainer(Path(tempfile.mkdtemp()), config, net, vocab, corpus, corpus, progress=False)
    net.train()
    for _ in range(warmup):
        trainer.train_step(trainer.next_batch())
    rates = []
    for _ in range(repeats):
        tokens, start = 0, time.perf_counter()
        for _ in range(steps):
            batch = trainer.next_batch()
            tokens += batch.num_tokens
            trainer.train_step(batch)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        rates.append(tokens / (time.perf_counter() - start))
    return {"tokens_per_s": statistics.median(rates), "vocab": len(vocab),
            "tokens_per_sentence": corpus.num_tokens / len(corpus)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=YELP)
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--max-vocab", type=int, default=4519, help="vocabulary size, special entries included")
    parser.add_argument("--models", default="lstm-lstm,gru-gru,lstm-cnn")
    parser.add_argument("--sizes", default="paper,small")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=40, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="the median of the repeats is reported")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", default=None, help="comma-separated thread counts [default: PyTorch's]")
    args = parser.parse_args()

    sentences = read_sentences(args.data)[: args.sentences]
    print(f"{describe_environment(environment(args.device))}; {len(sentences)} sentences of {args.data}")
    if args.device == "cpu" and "bf16" in args.precisions.split(","):
        support = bf16_support("cpu")
        if not support.supported:
            print(f"bf16 skipped: {support.about}")
            args.precisions = ",".join(p for p in args.precisions.split(",") if p != "bf16")
    print("| model | size | precision | threads | vocab | tokens/sentence | tokens/s (median of "
          f"{args.repeats} x {args.steps} steps) |\n|---|---|---|---|---|---|---|")
    for threads in [int(t) for t in args.threads.split(",")] if args.threads else [None]:
        threads = set_threads(threads)
        for model in args.models.split(","):
            for size in args.sizes.split(","):
                for precision in args.precisions.split(","):
                    r = measure(sentences, args.max_vocab, model, size, precision, args.steps, args.warmup,
                                args.repeats, args.device)
                    print(f"| {model} | {size} | {precision} | {threads} | {r['vocab']} | "
                          f"{r['tokens_per_sentence']:.1f} | {r['tokens_per_s']:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
