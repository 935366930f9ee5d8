"""Kill and resume, many times: the long version of the reliability suite's resume cases.

Trains one uninterrupted reference run, then for each trial starts the same run, kills it with
SIGKILL at a random moment (one or more times, resuming in between, sometimes after moving the
run directory elsewhere), resumes it to the end, and checks that its weights and metrics.jsonl
equal the reference's exactly. Prints one line per trial and a summary.

    python bench/kill_resume.py                  # 10 trials of a small run on the built-in corpus
    python bench/kill_resume.py --trials 50 --model lstm-cnn --kills 3
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from safetensors.torch import load_file

from textvae.data.synthetic import write_corpus
from textvae.runtime import describe_environment, environment
from textvae.training import reproducible_metrics


def train_command(train: Path, valid: Path, out: Path, args: argparse.Namespace) -> list[str]:
    return [sys.executable, "-m", "textvae", "--quiet", "train", "--train", str(train), "--valid", str(valid),
            "--out", str(out), "--model", args.model, "--preset", "cpu-small", "--max-steps", str(args.steps),
            "--eval-every", str(args.steps // 4), "--checkpoint-every", "5", "--batch-size", "32", "--seed", "3",
            "--device", "cpu", "--threads", "1", "--no-progress"]


def resume_command(run: Path) -> list[str]:
    # the same thread count as the run started with: results depend on it (the CNN's in the last bits)
    return [sys.executable, "-m", "textvae", "--quiet", "train", "--out", str(run), "--resume", "--threads", "1",
            "--no-progress"]


def same_run(a: Path, b: Path) -> tuple[bool, str]:
    if reproducible_metrics(a) != reproducible_metrics(b):
        return False, "metrics.jsonl differs"
    for name in ("last.safetensors", "model.safetensors"):
        x, y = load_file(a / name), load_file(b / name)
        if set(x) != set(y) or any(not x[k].equal(y[k]) for k in x):
            return False, f"{name} differs"
    return True, "exact"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--kills", type=int, default=2, help="SIGKILLs per trial, at most")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--model", default="lstm-lstm")
    parser.add_argument("--seed", type=int, default=0, help="of the kill times")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(describe_environment(environment("cpu")), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        corpus = write_corpus(root / "corpus", n_sentences=2000, seed=1)
        reference = root / "reference"
        started = time.perf_counter()
        subprocess.run(train_command(corpus.train, corpus.valid, reference, args), check=True)
        whole = time.perf_counter() - started
        print(f"reference: {args.steps} steps of {args.model} in {whole:.1f} s", flush=True)
        exact = 0
        for trial in range(1, args.trials + 1):
            run = root / f"trial{trial}"
            kills, moved = [], False
            for _ in range(rng.randint(1, args.kills)):
                command = train_command(corpus.train, corpus.valid, run, args)
                if (run / "config.json").exists():
                    command = resume_command(run)
                process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                delay = rng.uniform(0.3, whole)
                time.sleep(delay)
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    process.wait()
                    kills.append(f"{delay:.1f}s")
                if rng.random() < 0.5 and run.exists():  # resume from somewhere else
                    moved = True
                    shutil.move(str(run), str(root / f"trial{trial}-moved"))
                    shutil.move(str(root / f"trial{trial}-moved"), str(run))
            resumed = subprocess.run(resume_command(run) if (run / "config.json").exists() else
                                     train_command(corpus.train, corpus.valid, run, args),
                                     capture_output=True, text=True)
            if resumed.returncode != 0:
                print(f"trial {trial}: resume failed: {resumed.stderr.strip().splitlines()[-1:]}", flush=True)
                continue
            ok, why = same_run(reference, run)
            exact += ok
            litter = [p.name for p in run.glob(".*.tmp")]
            print(f"trial {trial}: killed at {', '.join(kills) or 'no point (it had finished)'}"
                  f"{', moved' if moved else ''}: {why}{'; litter ' + str(litter) if litter else ''}", flush=True)
        print(f"{exact} of {args.trials} trials resumed to exactly the reference run "
              f"({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
