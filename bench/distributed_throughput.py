"""Training throughput across processes: one model trained by 1 and by 2 processes (torchrun, gloo,
one thread each), in real target tokens per second of the whole job.

    python bench/distributed_throughput.py                   # launches itself with 1 and 2 processes
    python bench/distributed_throughput.py --processes 1,2,4 --size small

Each measurement runs the library's training step (`Trainer.train_step`: the share of every batch
this rank computes, the all-reduce of the batch means, DDP's gradient averaging, Adam) on the same
Yelp setup as bench/train_throughput.py: the first 20,000 training sentences, their 4,519 most
frequent words, global batch 128. The scaling overhead is the gap between the 2-process rate and
twice the 1-process rate on a machine with a core for each process.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

YELP = Path(__file__).resolve().parents[2] / "shared" / "data" / "yelp" / "train.txt"


def measure(args: argparse.Namespace) -> None:
    """The body each rank runs under torchrun; rank 0 prints the rate."""
    import torch

    from textvae import distributed
    from textvae.data import Vocabulary, encode_corpus, read_sentences
    from textvae.models import PRESETS, ModelConfig, SentenceVAE
    from textvae.runtime import describe_environment, environment, set_threads
    from textvae.training import DataConfig, RunConfig, Trainer, TrainConfig

    set_threads(1)
    group = distributed.init_from_environment("cpu")
    sentences = read_sentences(args.data)[: args.sentences]
    vocab = Vocabulary.build(sentences, max_size=args.max_vocab)
    corpus = encode_corpus(sentences, vocab)
    config = RunConfig(ModelConfig(model=args.model, vocab_size=len(vocab), **PRESETS[args.size]),
                       TrainConfig(batch_size=128, device="cpu"), DataConfig("-", "-"))
    torch.manual_seed(0)
    trainer = Trainer(Path(tempfile.mkdtemp()), config, SentenceVAE(config.model, eos_id=vocab.eos_id), vocab, corpus,
                      corpus, progress=False)
    for _ in range(args.warmup):
        trainer.train_step(trainer.next_batch())
    rates = []
    for _ in range(args.repeats):
        distributed.barrier(group)
        tokens, start = 0, time.perf_counter()
        for _ in range(args.steps):
            batch = trainer.next_batch()
            tokens += batch.num_tokens  # the whole batch: every rank's share
            trainer.train_step(batch)
        distributed.barrier(group)
        rates.append(tokens / (time.perf_counter() - start))
    if group.main:
        print(f"environment: {describe_environment(environment('cpu'))}")
        print(f"RESULT processes={group.world} tokens_per_s={statistics.median(rates):.0f}", flush=True)
    distributed.end_process(0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=YELP)
    parser.add_argument("--sentences", type=int, default=20_000)
    parser.add_argument("--max-vocab", type=int, default=4519)
    parser.add_argument("--model", default="lstm-lstm")
    parser.add_argument("--size", default="small")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        measure(args)
        return
    results, environment_line = [], ""
    for n in [int(p) for p in args.processes.split(",")]:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={n}",
                   __file__, "--worker", *sys.argv[1:]]
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        found = re.search(r"RESULT processes=(\d+) tokens_per_s=(\d+)", done.stdout)
        if done.returncode != 0 or not found:
            sys.exit(f"{n} processes failed:\n{done.stderr[-2000:]}")
        environment_line = environment_line or next(l for l in done.stdout.splitlines() if l.startswith("environment"))
        results.append((n, int(found.group(2))))
    print(environment_line)
    print(f"| processes (gloo, 1 thread each) | tokens/s, median of {args.repeats} x {args.steps} steps | "
          "against 1 process |\n|---|---|---|")
    for n, rate in results:
        print(f"| {n} | {rate:,} | {rate / results[0][1]:.2f}x |")

if __name__ == "__main__":
    main()
