"""One Yelp epoch of the paper preset on a GPU: seconds per epoch and training tokens per second.

Runs the library's own `textvae.train` (the path `textvae train --epochs 1` takes: length-grouped
batches of 128, Adam, beta-C at C=15, one validation pass at the end of the epoch with D, R, MI
and AU, weights and checkpoint written) for each model and precision, single process, and times:

- the whole epoch: `train()` from its call to its return, reading the corpora included,
- reading the corpora alone (the same calls `train()` makes: read, vocabulary, encode; timed once),
- the validation pass alone (the same `evaluate_corpus` call the trainer makes, timed again after),

so training tokens/s = training tokens (with `<eos>`, no padding) / (epoch - reading - validation):
what every further epoch of a longer run runs at, checkpoints included.

    python bench/gpu_epoch.py                                   # all three models, fp32 and bf16
    python bench/gpu_epoch.py --models lstm-lstm --precisions bf16 --out /tmp/epochs
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch

from textvae import DataConfig, ModelConfig, TrainConfig, load, train
from textvae.data import encode_corpus, load_corpus, read_sentences
from textvae.evaluation import evaluate_corpus
from textvae.models import PRESETS
from textvae.runtime import describe_environment, environment
from textvae.training import prepare_vocabulary

YELP = Path(__file__).resolve().parents[2] / "shared" / "data" / "yelp"


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def one_epoch(data: Path, out: Path, model: str, precision: str, device: str) -> dict[str, float]:
    started = time.perf_counter()
    result = train(out, DataConfig(str(data / "train.txt"), str(data / "valid.txt")),
                   ModelConfig(model=model, **PRESETS["paper"]),
                   TrainConfig(epochs=1, precision=precision, device=device), progress=False)
    synchronize(device)
    epoch = time.perf_counter() - started
    vae = load(out, device=device, weights="last", precision="fp32")
    valid = vae.corpus(read_sentences(data / "valid.txt"))
    synchronize(device)
    started = time.perf_counter()
    evaluate_corpus(vae.model, valid, TrainConfig().eval_batch_size, seed=0, latent=True)
    synchronize(device)
    validation = time.perf_counter() - started
    return {"steps": result.steps, "epoch_s": epoch, "validation_s": validation,
            "rate": result.valid.rate, "distortion": result.valid.distortion}


def reading_seconds(data: Path) -> float:
    started = time.perf_counter()
    config = DataConfig(str(data / "train.txt"), str(data / "valid.txt"))
    sentences = read_sentences(config.train)
    vocab = prepare_vocabulary(config, sentences)
    encode_corpus(sentences, vocab, config.max_length)
    load_corpus(config.valid, vocab, config.max_length)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=YELP, help="folder with train.txt and valid.txt")
    parser.add_argument("--models", default="lstm-lstm,gru-gru,lstm-cnn")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=None, help="keep the run directories here [default: a temporary one]")
    args = parser.parse_args()

    cap = DataConfig("-", "-").max_length  # training cuts longer sentences to this many words
    tokens = sum(min(len(s), cap) + 1 for s in read_sentences(args.data / "train.txt"))  # + <eos>
    print(f"{describe_environment(environment(args.device))}; {args.data / 'train.txt'}: {tokens:,} tokens")
    reading = reading_seconds(args.data)
    print(f"reading the corpora: {reading:.1f} s of each epoch below")
    print("| model | precision | steps | epoch (s) | validation (s) | training tokens/s | valid R | valid D |\n"
          "|---|---|---|---|---|---|---|---|", flush=True)
    root = args.out or Path(tempfile.mkdtemp(prefix="gpu_epoch_"))
    for model in args.models.split(","):
        for precision in args.precisions.split(","):
            out = root / f"{model}-{precision}"
            shutil.rmtree(out, ignore_errors=True)
            r = one_epoch(args.data, out, model, precision, args.device)
            print(f"| {model} | {precision} | {r['steps']} | {r['epoch_s']:.1f} | {r['validation_s']:.1f} | "
                  f"{tokens / (r['epoch_s'] - reading - r['validation_s']):,.0f} | {r['rate']:.2f} | {r['distortion']:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
