"""Every bad input a user can give ends in one line on stderr and exit status 2, never a traceback.

One table: each row builds its bad input in a fresh directory, runs one command, and names a
fragment the error line must hold.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import TINY_SENTENCES, untrained_run
from test_cli import run_cli
from textvae import DataConfig, TrainConfig, train
from textvae.models import ModelConfig, SentenceVAE
from textvae.serialization import save_weights

TINY = ["--embedding-dim", "8", "--hidden-dim", "8", "--latent-dim", "2", "--batch-size", "8", "--no-progress"]


def make_run(root: Path) -> Path:
    return untrained_run(root, TINY_SENTENCES)


def read_only_dir(root: Path) -> Path:
    """A directory nobody may write in (root ignores file modes, so it gets sysfs, which refuses)."""
    if os.geteuid() == 0:
        if not Path("/sys").is_dir():
            pytest.skip("running as root without /sys: no directory refuses a write")
        return Path("/sys")
    locked = root / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return locked


def corpus(root: Path) -> Path:
    path = root / "data.txt"
    path.write_text("\n".join(TINY_SENTENCES) + "\n", encoding="utf-8")
    return path


def truncated_weights(root: Path) -> Path:
    run = make_run(root)
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    return run


def weights_of_another_size(root: Path) -> Path:
    run = make_run(root)
    other = ModelConfig(vocab_size=40, embedding_dim=8, hidden_dim=8, latent_dim=2)
    save_weights(SentenceVAE(other, eos_id=2), run / "model.safetensors")
    return run


def config_not_json(root: Path) -> Path:
    run = make_run(root)
    (run / "config.json").write_text('{"model": {', encoding="utf-8")
    return run


def config_a_list(root: Path) -> Path:
    run = make_run(root)
    (run / "config.json").write_text("[1, 2]", encoding="utf-8")
    return run


def vocab_with_blank_line(root: Path) -> Path:
    path = root / "vocab.txt"
    path.write_text("<pad>\n<unk>\n<eos>\n\nthe\n", encoding="utf-8")
    return path


def empty_weights(root: Path) -> Path:
    run = make_run(root)
    (run / "model.safetensors").write_bytes(b"")
    return run


def short_vocabulary(root: Path) -> Path:
    run = make_run(root)
    words = (run / "vocab.txt").read_text(encoding="utf-8").splitlines()
    (run / "vocab.txt").write_text("\n".join(words[:-3]) + "\n", encoding="utf-8")
    return run


def config_without(field: str) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        run = make_run(root)
        config = json.loads((run / "config.json").read_text(encoding="utf-8"))
        del config[field]
        (run / "config.json").write_text(json.dumps(config), encoding="utf-8")
        return run
    return build


def trained_run(root: Path) -> Path:
    """A real run stopped after its first checkpoint (time budget), with its corpus beside it."""
    data = corpus(root)
    run = root / "trained"
    train(run, DataConfig(str(data), str(data)), ModelConfig(embedding_dim=8, hidden_dim=8, latent_dim=2),
          TrainConfig(max_steps=6, batch_size=4, eval_every=2, time_budget=1e-9), progress=False)
    return run


def truncated_checkpoint(root: Path) -> Path:
    run = trained_run(root)
    data = (run / "checkpoint.safetensors").read_bytes()
    (run / "checkpoint.safetensors").write_bytes(data[: len(data) // 3])
    return run


def changed_corpus(root: Path) -> Path:
    run = trained_run(root)
    with open(root / "data.txt", "a", encoding="utf-8") as f:
        f.write("one more sentence .\n")
    return run


def locked_by_a_live_process(root: Path) -> Path:
    run = trained_run(root)
    holder = {"pid": os.getppid(), "host": socket.gethostname(), "since": "now", "command": "textvae train"}
    (run / ".textvae.lock").write_text(json.dumps(holder), encoding="utf-8")
    return run


def existing_output(root: Path) -> list[str]:
    (root / "rec.tsv").write_text("keep me\n", encoding="utf-8")
    return ["reconstruct", str(make_run(root)), "--data", str(corpus(root)), "--out", str(root / "rec.tsv")]


def train_args(root: Path, *extra: str) -> list[str]:
    data = corpus(root)
    return ["train", "--train", str(data), "--valid", str(data), "--out", str(root / "new-run"), "--max-steps", "2",
            *TINY, *extra]


Case = tuple[str, Callable[[Path], list[str]], str]
CASES: list[Case] = [
    # damaged run directories
    ("truncated weights", lambda r: ["sample", str(truncated_weights(r))], "model.safetensors: damaged"),
    ("weights of another model", lambda r: ["sample", str(weights_of_another_size(r))], "do not fit the model"),
    ("config.json not JSON", lambda r: ["sample", str(config_not_json(r))], "config.json: damaged, not a JSON"),
    ("config.json a list", lambda r: ["evaluate", str(config_a_list(r)), "--data", str(corpus(r))],
     "config.json: damaged"),
    ("no run there", lambda r: ["interpolate", str(r / "nowhere")], "not a textvae run directory"),
    ("empty weights", lambda r: ["sample", str(empty_weights(r))], "model.safetensors: damaged"),
    ("vocab.txt shorter than the model's", lambda r: ["sample", str(short_vocabulary(r))],
     "vocab.txt: holds"),
    ("config.json without its training part", lambda r: ["sample", str(config_without("training")(r))],
     "config.json: damaged, not a run config"),
    ("resume from a truncated checkpoint", lambda r: ["train", "--out", str(truncated_checkpoint(r)), "--resume"],
     "checkpoint.safetensors: damaged checkpoint"),
    ("resume on a changed corpus", lambda r: ["train", "--out", str(changed_corpus(r)), "--resume"],
     "the train file changed since this run started"),
    ("resume a run another process holds", lambda r: ["train", "--out", str(locked_by_a_live_process(r)),
                                                      "--resume"], "is in use by process"),
    ("resume where there is no run", lambda r: ["train", "--out", str(r / "nothing"), "--resume"],
     "not a textvae run directory"),
    ("reconstruct --out an existing file", existing_output, "exists; pass --force"),
    # where output goes
    ("sample --out a directory", lambda r: ["sample", str(make_run(r)), "--out", str(r)], "is a directory"),
    ("reconstruct --out a directory", lambda r: ["reconstruct", str(make_run(r)), "--data", str(corpus(r)),
                                                 "--out", str(r)], "is a directory"),
    ("sample --out read-only", lambda r: ["sample", str(make_run(r)), "--out", str(read_only_dir(r) / "s.txt")],
     "s.txt"),
    ("reconstruct --out read-only", lambda r: ["reconstruct", str(make_run(r)), "--data", str(corpus(r)), "--out",
                                               str(read_only_dir(r) / "sub" / "rec.tsv")], str(Path("sub"))),
    ("corpus into read-only", lambda r: ["corpus", str(read_only_dir(r) / "grammar"), "-n", "30"], "grammar"),
    ("corpus onto a file", lambda r: ["corpus", str(corpus(r)), "-n", "30"], "is a file"),
    ("train --out a file", lambda r: train_args(r)[:-len(TINY) - 4] + ["--out", str(corpus(r)), "--max-steps", "2",
                                                                        *TINY], "data.txt is a file"),
    # option values that mean nothing
    ("evaluate --repeats 0", lambda r: ["evaluate", str(make_run(r)), "--data", str(corpus(r)), "--repeats", "0"],
     "--repeats"),
    ("evaluate --batch-size 0", lambda r: ["evaluate", str(make_run(r)), "--data", str(corpus(r)),
                                           "--batch-size", "0"], "--batch-size"),
    ("evaluate --iw-samples -1", lambda r: ["evaluate", str(make_run(r)), "--data", str(corpus(r)),
                                            "--iw-samples", "-1"], "--iw-samples"),
    ("syneval --batch-size 0", lambda r: ["syneval", str(make_run(r)), "--pairs", str(corpus(r)), "--batch-size",
                                          "0"], "--batch-size"),
    ("reconstruct --buckets with a negative edge", lambda r: ["reconstruct", str(make_run(r)), "--data",
                                                              str(corpus(r)), "--out", str(r / "o.tsv"),
                                                              "--buckets", "10,-5"], "--buckets"),
    ("sample --threads 0", lambda r: ["sample", str(make_run(r)), "--threads", "0"], "--threads"),
    ("sample --seed -1", lambda r: ["sample", str(make_run(r)), "--seed", "-1"], "--seed"),
    ("interpolate --from ''", lambda r: ["interpolate", str(make_run(r)), "--from", " "], "--from is empty"),
    ("train --C -5", lambda r: train_args(r, "--C", "-5"), "kl_target"),
    ("train --C nan", lambda r: train_args(r, "--C", "nan"), "kl_target"),
    ("train --beta -1", lambda r: train_args(r, "--beta", "-1"), "beta"),
    ("train --beta 0", lambda r: train_args(r, "--beta", "0"), "beta"),
    ("train --anneal-epochs -1", lambda r: train_args(r, "--anneal-epochs", "-1"), "anneal_epochs"),
    ("train --max-length 0", lambda r: train_args(r, "--max-length", "0"), "max_length"),
    ("train --max-length -1", lambda r: train_args(r, "--max-length", "-1"), "max_length"),
    ("train --tokenize unknown", lambda r: train_args(r, "--tokenize", "spacy"), "--tokenize"),
    ("train --vocab with a blank line", lambda r: train_args(r, "--vocab", str(vocab_with_blank_line(r))),
     "vocab.txt:4: blank line"),
    ("train --precision fp16", lambda r: train_args(r, "--precision", "fp16"), "--precision"),
    ("an unknown option", lambda r: ["sample", str(make_run(r)), "--temprature", "2"], "--temprature"),
]


@pytest.mark.parametrize("name, build, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, name, build, fragment):
    args = build(tmp_path)
    code, _, err = run_cli(args, capsys)
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("textvae: error:")]
    assert code == 2 and len(errors) == 1, err
    assert fragment in errors[0], errors[0]
    assert not (tmp_path / "new-run").exists()  # nothing half-made is left behind


def test_bf16_where_the_machine_cannot_is_one_line_naming_what_is_missing(tmp_path, capsys, monkeypatch):
    from textvae import precision

    unsupported = precision.BF16Support("cpu", False, None, "this CPU lacks avx512_bf16 and AMX (PyTorch runs at AVX2)")
    monkeypatch.setattr(precision, "bf16_support", lambda device_type="cpu": unsupported)
    run = make_run(tmp_path)
    code, _, err = run_cli(["sample", str(run), "--precision", "bf16"], capsys)
    assert code == 2 and "Traceback" not in err
    (line,) = [l for l in err.splitlines() if l.startswith("textvae: error:")]
    assert "--precision bf16 is not available: this CPU lacks avx512_bf16" in line
    code, out, err = run_cli(["sample", str(run), "--precision", "auto", "-n", "2"], capsys)
    assert code == 0 and len(out.splitlines()) == 2


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.uname().machine not in ("x86_64", "AMD64"),
                    reason="ONEDNN_MAX_CPU_ISA=AVX2 limits x86 CPUs only")
def test_an_avx2_limited_pytorch_refuses_bf16_in_one_line_and_auto_falls_back(tmp_path):
    """The real probe, in a process whose PyTorch is limited to AVX2 (as on a CPU without
    AVX-512): explicit bf16 is one line and exit 2, auto decodes in fp32."""
    import subprocess

    run = make_run(tmp_path)
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
    command = [sys.executable, "-m", "textvae.cli", "sample", str(run), "-n", "2"]
    refused = subprocess.run([*command, "--precision", "bf16"], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("textvae: error: --precision bf16 is not available")
    fallback = subprocess.run([*command, "--precision", "auto"], env=env, capture_output=True, text=True, timeout=120)
    assert fallback.returncode == 0 and len(fallback.stdout.splitlines()) == 2
    assert "precision auto: fp32" in fallback.stderr


def test_resume_removes_what_a_killed_atomic_write_left(tmp_path, capsys, caplog, tiny_corpus):
    train_file, valid_file = tiny_corpus
    run = tmp_path / "run"
    code, _, _ = run_cli(["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(run),
                          "--max-steps", "4", "--eval-every", "2", *TINY], capsys)
    assert code == 0
    litter = [run / ".checkpoint.safetensors.abc123.tmp", run / ".last.safetensors.x9.tmp"]
    for path in litter:
        path.write_bytes(b"half a file")
    with caplog.at_level("INFO"):
        code, _, _ = run_cli(["train", "--out", str(run), "--resume", "--no-progress"], capsys)
    assert code == 0 and not any(p.exists() for p in litter)
    assert "removed 2 partly written files" in caplog.text
