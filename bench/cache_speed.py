"""Greedy decoding of the Transformer decoder with its key/value cache against without it.

The same weights decode the same prior codes twice: with the cache (each step runs one position
through every layer) and with it off (each step reruns the whole prefix). Sentences are forced to
their full length (the `<eos>` score is pushed down), so both do exactly `--length` steps; the
outputs must be identical. Prints the machine and one markdown row per size.

    python bench/cache_speed.py                          # 512 sentences of 40 tokens, cpu-small and transformer-paper
    python bench/cache_speed.py --sizes cpu-small --sentences 128
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from textvae.generation.decoding import sample_tokens
from textvae.models import PRESETS, ModelConfig, SentenceVAE
from textvae.runtime import describe_environment, environment, set_threads


def decoder_pair(size: str, vocab_size: int) -> tuple[SentenceVAE, SentenceVAE]:
    """Two VAEs with the same weights, the first decoding with the cache and the second without."""
    models = []
    for cache in (True, False):
        torch.manual_seed(0)
        config = ModelConfig("transformer", vocab_size=vocab_size, kv_cache=cache, **PRESETS[size])
        vae = SentenceVAE(config, eos_id=2).eval()
        with torch.no_grad():
            vae.to_vocab.bias[vae.eos_id] = -1e4  # never end early: both decode every step
        models.append(vae)
    models[1].load_state_dict(models[0].state_dict())
    return models[0], models[1]


def timed(vae: SentenceVAE, z: torch.Tensor, length: int) -> tuple[float, list[list[int]]]:
    started = time.perf_counter()
    outputs = sample_tokens(vae, z, length)
    return time.perf_counter() - started, outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="cpu-small,transformer-paper")
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--length", type=int, default=40)
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        set_threads(args.threads)
    print(describe_environment(environment("cpu")))
    print("| size | parameters | with the cache (sentences/s) | without (sentences/s) | speed-up | same output |")
    print("|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        cached, uncached = decoder_pair(size, args.vocab)
        z = torch.randn(args.sentences, cached.config.latent_dim, generator=torch.Generator().manual_seed(1))
        times: dict[bool, list[float]] = {True: [], False: []}
        outputs: dict[bool, list[list[int]]] = {}
        for _ in range(args.repeats):
            for cache, vae in ((True, cached), (False, uncached)):
                seconds, outputs[cache] = timed(vae, z, args.length)
                times[cache].append(seconds)
        with_cache, without = statistics.median(times[True]), statistics.median(times[False])
        parameters = sum(p.numel() for p in cached.parameters())
        print(f"| {size} | {parameters / 1e6:.2f}M | {args.sentences / with_cache:,.0f} | {args.sentences / without:,.0f} "
              f"| {without / with_cache:.1f}x | {outputs[True] == outputs[False]} |")


if __name__ == "__main__":
    main()
