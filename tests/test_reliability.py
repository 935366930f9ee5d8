"""Every command, every bad value, every fault: one line on stderr and exit 2 (3 for divergence), or
the right result; never a traceback, never a user's file changed by a command not asked to write it.

Two tables. GENERATED is built from the command definitions themselves: every option of every
command gets the bad values its type and declared range call for (a new option gets its cases with
no edit here), appended to a valid invocation; each must be refused with a line naming the option
(or the missing file). HANDWRITTEN holds the rest: damaged files, a full disk, locks, sizes that
cannot fit, values that parse but mean nothing. The explorer's requests are at the end.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import typer

from textvae.cli import command, main

TINY_TRAIN = ["--embedding-dim", "8", "--hidden-dim", "8", "--latent-dim", "2", "--batch-size", "8", "--no-progress"]
FILE_OPTIONS = {"--train", "--valid", "--test", "--data", "--vocab", "--pairs", "--labels", "--labels-test"}
SENTENCES = ["the food was great .", "the service was slow .", "we loved the place and the staff .",
             "the pizza was cold and the waiter was rude .", "great prices .", "i will never come back here again ."]


@dataclass
class Workspace:
    root: Path
    run: Path  # a trained run (4 steps), with a checkpoint
    lm: Path  # a trained language model
    train: Path
    valid: Path
    labels: Path
    pairs: Path
    counter: list[int] = field(default_factory=lambda: [0])

    def out(self) -> Path:
        """A new path under out/, for a case to write to (nothing may be left there on failure)."""
        self.counter[0] += 1
        return self.root / "out" / f"case{self.counter[0]}"

    def snapshot(self) -> dict[str, str]:
        """Every file outside out/ with its checksum (the files no failing case may touch)."""
        return {str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(self.root.rglob("*")) if p.is_file() and "out" not in p.relative_to(self.root).parts}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("reliability")
    train, valid = root / "train.txt", root / "valid.txt"
    train.write_text("\n".join(SENTENCES * 5) + "\n", encoding="utf-8")
    valid.write_text("\n".join(SENTENCES * 2) + "\n", encoding="utf-8")
    labels = root / "valid.labels"
    labels.write_text("\n".join(["positive", "negative"] * len(SENTENCES)) + "\n", encoding="utf-8")
    pairs = root / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"sentence_good": "the food was great .", "sentence_bad": "the food were great .",
                                         "case": "simple_agrmt", "condition": "x"}) + "\n" for _ in range(2)))
    run, lm = root / "run", root / "lm"
    for args in (["train", "--train", str(train), "--valid", str(valid), "--out", str(run), "--max-steps", "4",
                  "--eval-every", "2", *TINY_TRAIN],
                 ["lm", "train", "--train", str(train), "--out", str(lm), "--epochs", "1", "--embedding-dim", "8",
                  "--hidden-dim", "8", "--no-progress"]):
        code, _, err = run_cli(args)
        assert code == 0, err
    return Workspace(root, run, lm, train, valid, labels, pairs)


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """Run the program in this process; (exit status, stdout, stderr)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
        except SystemExit as exit_info:
            code = exit_info.code if isinstance(exit_info.code, int) else 0
    return code, out.getvalue(), err.getvalue()


# -- valid invocations, to which a bad option is added (the last occurrence of an option counts) ---------
def valid_invocation(path: tuple[str, ...], w: Workspace) -> list[str]:
    run, out = str(w.run), str(w.out())
    bases: dict[tuple[str, ...], list[str]] = {
        ("train",): ["--train", str(w.train), "--valid", str(w.valid), "--out", out, "--max-steps", "1", *TINY_TRAIN],
        ("evaluate",): [run, "--data", str(w.valid), "--iw-samples", "2", "--no-progress"],
        ("reconstruct",): [run, "--data", str(w.valid), "--out", str(Path(out) / "rec.tsv"), "--no-progress"],
        ("syneval",): [run, "--pairs", str(w.pairs), "--no-progress"],
        ("probe",): [run, "--data", str(w.valid), "--labels", str(w.labels), "--folds", "2"],
        ("sample",): [run, "-n", "2", "--no-progress"],
        ("interpolate",): [run, "--steps", "2"],
        ("corpus",): [out, "-n", "30"],
        ("demo",): ["--out", out, "--max-steps", "1", "--no-progress"],
        ("explore",): [run, "--data", str(w.valid)],
        ("plot",): [run, "--out", str(Path(out) / "curves.png")],
        ("runs",): [str(w.root)],
        ("data", "prepare"): [str(w.train), "--out", out, "--no-progress"],
        ("lm", "train"): ["--train", str(w.train), "--out", out, "--epochs", "1", "--embedding-dim", "8",
                          "--hidden-dim", "8", "--no-progress"],
        ("lm", "evaluate"): [str(w.lm), "--data", str(w.valid)],
    }
    if path[0] == "experiment":
        extra = ["--pairs", str(w.pairs)] if path[1] == "table4" else []
        return ["--train", str(w.train), "--valid", str(w.valid), "--test", str(w.valid), "--out", out,
                "--max-steps", "1", "--no-progress", *extra]
    return bases[path]


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            yield from commands(sub, (*path, name))
    else:
        yield path, group


def bad_values(param: Any, spec: Any) -> list[str]:
    """The values an option must refuse: by its type, its declared range and its choices."""
    annotation = param.type_descriptor.annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    annotation = args[0] if args else annotation
    info = spec.info if spec is not None else None
    low = info.min if info is not None else param.min
    high = info.max if info is not None else param.max
    low_open = info.min_open if info is not None else False
    if param.opts[0] in FILE_OPTIONS:
        return ["/nonexistent/textvae-file.txt"]
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return ["bogus"]
    if annotation is str and info is not None and info.names():
        return ["bogus"]
    if annotation is int:
        values = ["abc", "1.5"]
        values += [] if low is None else [str(int(low) if low_open else int(low) - 1)]
        values += [] if high is None else [str(int(high) + 1)]
        return values
    if annotation is float:
        values = ["abc", "nan", "inf"]
        values += [] if low is None else [str(low if low_open else low - 0.5)]
        values += [] if high is None else [str(high + 0.5)]
        return values
    if annotation is str and spec is not None and typing.get_origin(spec.annotation) is list:
        element = typing.get_args(spec.annotation)[0]
        return ["1,x"] if element in (int, float) else ["bogus"] if info.names() else []
    return []


@dataclass(frozen=True)
class Generated:
    path: tuple[str, ...]
    flag: str
    value: str

    def __str__(self) -> str:
        return f"{' '.join(self.path)} {self.flag} {self.value}"


def generated_cases() -> list[Generated]:
    cases = []
    for path, cmd in commands(command()):
        specs = getattr(getattr(cmd.callback, "__wrapped__", None), "option_specs", {})
        for param in cmd.params:
            if not isinstance(param, typer.core.TyperOption) or param.is_flag:
                continue
            cases += [Generated(path, param.opts[0], value) for value in bad_values(param, specs.get(param.name))]
    return cases


GENERATED = generated_cases()


def assert_one_error_line(code: int, err: str, fragment: str, status: int = 2) -> None:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("textvae: error:")]
    assert code == status and len(errors) == 1, err
    assert fragment in errors[0], errors[0]


@pytest.fixture
def no_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """The explorer must refuse its bad options before it serves: serving is a failure here."""
    flask = pytest.importorskip("flask")
    monkeypatch.setattr(flask.Flask, "run", lambda *a, **k: pytest.fail("the explorer started serving"))


def test_the_generated_table_covers_every_command():
    covered = {case.path for case in GENERATED}
    assert covered == {path for path, _ in commands(command())}
    assert len(GENERATED) >= 200


@pytest.mark.parametrize("case", GENERATED, ids=str)
def test_a_bad_option_value_is_one_line_and_exit_2(case: Generated, workspace: Workspace, no_serving: None):
    before = workspace.snapshot()
    args = [*case.path, *valid_invocation(case.path, workspace), case.flag, case.value]
    code, _, err = run_cli(args)
    fragment = case.value if case.flag in FILE_OPTIONS else case.flag
    assert_one_error_line(code, err, fragment)
    assert workspace.snapshot() == before, "a refused command changed a file"
    assert not any((workspace.root / "out").glob(f"case{workspace.counter[0]}*")), "a refused command left output"


# -- the handwritten table ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Workspace, Path], list[str]]  # (workspace, a scratch directory of its own) -> args
    fragment: str  # in the one error line; "" for a case that must succeed
    status: int = 2
    check: Callable[[Path, str, str], None] | None = None  # (scratch, stdout, stderr): what must hold after


def copy_run(w: Workspace, scratch: Path, damage: Callable[[Path], None] | None = None) -> Path:
    import shutil

    run = scratch / "run"
    shutil.copytree(w.run, run)
    if damage is not None:
        damage(run)
    return run


def flip(name: str, offset_from_end: int = 64) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        data = bytearray((run / name).read_bytes())
        data[-offset_from_end] ^= 0x5A
        (run / name).write_bytes(bytes(data))
    return damage


def edit_config(section: str, key: str, value: Any) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        config = json.loads((run / "config.json").read_text())
        config[section][key] = value
        (run / "config.json").write_text(json.dumps(config))
    return damage


def killed_before_its_vocabulary(run: Path) -> None:
    """As a run killed after writing config.json, before vocab.txt (keeping the vocabulary to compare)."""
    (run / "vocab.txt").rename(run.parent / "vocab.before")
    for name in ("checkpoint.safetensors", "metrics.jsonl", "model.safetensors", "last.safetensors"):
        (run / name).unlink()


def old_lock(content: str) -> Callable[[Path], None]:
    """A lock file with `content`, written long ago."""
    def damage(run: Path) -> None:
        (run / ".textvae.lock").write_text(content)
        os.utime(run / ".textvae.lock", (1, 1))
    return damage


def edit_last_environment(key: str, value: Any) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        config = json.loads((run / "config.json").read_text())
        config["environments"][-1][key] = value
        (run / "config.json").write_text(json.dumps(config))
    return damage


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def users_directory(scratch: Path) -> Path:
    for name, text in (("notes.txt", "mine\n"), ("vocab.txt", "my words\n"), ("metrics.jsonl", "{}\n")):
        write(scratch / "mine" / name, text)
    return scratch / "mine"


def unchanged_users_directory(scratch: Path, out: str, err: str) -> None:
    assert (scratch / "mine" / "vocab.txt").read_text() == "my words\n"
    assert (scratch / "mine" / "metrics.jsonl").read_text() == "{}\n"
    assert sorted(p.name for p in (scratch / "mine").iterdir()) == ["metrics.jsonl", "notes.txt", "vocab.txt"]


def previous_output_kept(scratch: Path, out: str, err: str) -> None:
    assert (scratch / "previous.txt").read_text() == "what was there\n"
    assert not [p for p in scratch.iterdir() if p.name.endswith(".tmp")]


HUGE = str(10**6)
HANDWRITTEN = [
    # files a command reads
    Case("data is a directory", lambda w, s: ["evaluate", str(w.run), "--data", str(w.root)], "is a directory"),
    Case("data is empty", lambda w, s: ["evaluate", str(w.run), "--data", str(write(s / "e.txt", ""))],
         "file is empty"),
    Case("data is binary", lambda w, s: ["evaluate", str(w.run), "--data", str(write(s / "b.txt", b"\xff\xfe\x00x"))],
         "not valid UTF-8"),
    Case("data holds only blank lines", lambda w, s: ["sample", str(w.run)] if False else
         ["evaluate", str(w.run), "--data", str(write(s / "blank.txt", "\n \n"))], "holds no sentence"),
    Case("vocabulary is binary", lambda w, s: ["train", "--train", str(w.train), "--valid", str(w.valid), "--out",
                                               str(s / "r"), "--vocab", str(write(s / "v.txt", b"\x80\x81")),
                                               *TINY_TRAIN], "not valid UTF-8"),
    Case("pairs are not JSON", lambda w, s: ["syneval", str(w.run), "--pairs", str(write(s / "p.jsonl", "nope\n"))],
         "not a JSON object"),
    Case("labels do not match the sentences", lambda w, s: ["probe", str(w.run), "--data", str(w.valid), "--labels",
                                                             str(write(s / "l.txt", "a\nb\n"))], "labels for the"),
    Case("an experiment's pairs are not JSON, before any training",
         lambda w, s: ["experiment", "table4", "--train", str(w.train), "--valid", str(w.valid), "--test",
                       str(w.valid), "--out", str(s / "x"), "--pairs", str(write(s / "p.jsonl", "nope\n"))],
         "not a JSON object", check=lambda s, o, e: None if not (s / "x" / "runs").exists() else pytest.fail("trained")),
    # run directories damaged
    Case("model weights with flipped bytes", lambda w, s: ["sample", str(copy_run(w, s, flip("model.safetensors")))],
         "model.safetensors: damaged: its contents differ from the checksum"),
    Case("last weights with flipped bytes", lambda w, s: ["evaluate", str(copy_run(w, s, flip("last.safetensors"))),
                                                          "--data", str(w.valid), "--weights", "last"],
         "--weights best"),
    Case("checkpoint with flipped bytes", lambda w, s: ["train", "--out", str(copy_run(w, s, flip(
        "checkpoint.safetensors", 300))), "--resume", "--no-progress"], "checkpoint.safetensors: damaged"),
    Case("weights cut short", lambda w, s: ["sample", str(copy_run(w, s, lambda r: (r / "model.safetensors").write_bytes(
        (r / "model.safetensors").read_bytes()[:100])))], "model.safetensors: damaged"),
    Case("config.json: a size that is not a whole number", lambda w, s: ["sample", str(copy_run(
        w, s, edit_config("model", "hidden_dim", 1.5)))], "hidden_dim must be an integer"),
    Case("config.json: a vocabulary size that is text", lambda w, s: ["sample", str(copy_run(
        w, s, edit_config("model", "vocab_size", "many")))], "vocab_size must be a whole number"),
    Case("config.json: a step count that is text", lambda w, s: ["train", "--out", str(copy_run(
        w, s, edit_config("training", "max_steps", "10"))), "--resume"], "max_steps must be an integer"),
    Case("config.json: checksums that are not", lambda w, s: ["train", "--out", str(copy_run(
        w, s, edit_config("data", "checksums", 5))), "--resume"], "checksums must map"),
    # locks
    Case("an empty lock file left by a full disk", lambda w, s: ["train", "--out", str(copy_run(w, s, old_lock(""))),
                                                                "--resume", "--no-progress"], "", status=0,
         check=lambda s, o, e: None if "empty or not a lock" in e else pytest.fail(e)),
    Case("a lock file that is not one", lambda w, s: ["train", "--out", str(copy_run(w, s, old_lock("\x00{garbage"))),
                                                      "--resume", "--no-progress"], "", status=0,
         check=lambda s, o, e: None if "empty or not a lock" in e else pytest.fail(e)),
    Case("a run killed before it wrote its vocabulary", lambda w, s: ["train", "--out", str(copy_run(
        w, s, killed_before_its_vocabulary)), "--resume", "--no-progress"], "", status=0,
         check=lambda s, o, e: None if (s / "run" / "vocab.txt").read_text() == (s / "vocab.before").read_text()
         and "finished 4 steps" in o else pytest.fail(e)),
    Case("a resume on other threads says so", lambda w, s: ["train", "--out", str(copy_run(
        w, s, edit_last_environment("threads", 99))), "--resume", "--no-progress"], "", status=0,
         check=lambda s, o, e: None if "resumed with threads 99 ->" in e else pytest.fail(e)),
    # a user's files
    Case("train --out a directory of the user's", lambda w, s: ["train", "--train", str(w.train), "--valid",
                                                               str(w.valid), "--out", str(users_directory(s)),
                                                               *TINY_TRAIN], "holds files that are not a textvae run",
         check=unchanged_users_directory),
    Case("lm train --out a directory of the user's", lambda w, s: ["lm", "train", "--train", str(w.train), "--out",
                                                                  str(users_directory(s))],
         "holds files that are not a language model", check=unchanged_users_directory),
    # sizes that cannot fit
    Case("--hidden-dim that cannot fit", lambda w, s: ["train", "--train", str(w.train), "--valid", str(w.valid),
                                                       "--out", str(s / "r"), *TINY_TRAIN, "--hidden-dim", HUGE],
         "--hidden-dim 1000000"),
    Case("--latent-dim that cannot fit", lambda w, s: ["train", "--train", str(w.train), "--valid", str(w.valid),
                                                       "--out", str(s / "r"), *TINY_TRAIN, "--hidden-dim", "10000",
                                                       "--latent-dim", HUGE], "--latent-dim 1000000"),
    Case("--beam-size that cannot fit", lambda w, s: ["sample", str(w.run), "--decode", "beam", "--beam-size",
                                                      str(10**12)], "--beam-size"),
    Case("--max-length beyond any sentence", lambda w, s: ["sample", str(w.run), "--max-length", str(10**12)],
         "--max-length"),
    Case("-n beyond memory", lambda w, s: ["sample", str(w.run), "-n", str(10**13)], "sentences of up to"),
    Case("--steps beyond memory", lambda w, s: ["interpolate", str(w.run), "--steps", str(10**13)], "--steps"),
    Case("a seed beyond 32 bits", lambda w, s: ["sample", str(w.run), "--seed", str(2**40)], "--seed"),
    Case("a million-word line is cut, not allocated", lambda w, s: [
        "reconstruct", str(w.run), "--data", str(write(s / "long.txt", "the " * 10**6 + "\n")), "--out",
        str(s / "rec.tsv")], "", status=0, check=lambda s, o, e: None if "were cut to 50" in e else pytest.fail(e)),
    # values that parse but mean nothing
    Case("an empty --device", lambda w, s: ["sample", str(w.run), "--device", ""], "--device is empty"),
    Case("a device that is not one", lambda w, s: ["sample", str(w.run), "--device", "tpu"], "names no device"),
    Case("an unknown model", lambda w, s: ["train", "--train", str(w.train), "--valid", str(w.valid), "--out",
                                           str(s / "r"), "--model", "bert-lstm"], "unknown model"),
    Case("unknown weights", lambda w, s: ["sample", str(w.run), "--weights", "middle"], "weights must be"),
    Case("an unknown grouping", lambda w, s: ["syneval", str(w.run), "--pairs", str(w.pairs), "--grouping", "x"],
         "unknown grouping"),
    Case("--resume where there is no run", lambda w, s: ["train", "--out", str(s), "--resume"],
         "not a textvae run directory"),
    Case("lm evaluate on a VAE run", lambda w, s: ["lm", "evaluate", str(w.run), "--data", str(w.valid)],
         "holds no language model"),
    Case("probe with one class", lambda w, s: ["probe", str(w.run), "--data", str(w.valid), "--labels", str(write(
        s / "one.labels", "same\n" * 12)), "--folds", "2"], "", status=0,
         check=lambda s, o, e: None if "nothing to tell apart" in e else pytest.fail(e)),
]


def injected_full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every write fails as on a full disk (where a test cannot mount a small tmpfs)."""
    import errno

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


@pytest.mark.parametrize("case", HANDWRITTEN, ids=lambda c: c.name)
def test_a_bad_file_value_or_fault_is_one_line_or_the_right_result(case: Case, workspace: Workspace, tmp_path: Path,
                                                                    no_serving: None, caplog: pytest.LogCaptureFixture):
    before = workspace.snapshot()
    with caplog.at_level("WARNING"):
        code, out, err = run_cli(case.build(workspace, tmp_path))
    err += caplog.text  # warnings go through logging
    if case.status == 0:
        assert code == 0 and "Traceback" not in err, err
    else:
        assert_one_error_line(code, err, case.fragment, case.status)
    if case.check is not None:
        case.check(tmp_path, out, err)
    assert workspace.snapshot() == before, "a command changed a file it was not asked to write"


@pytest.mark.parametrize("args", [
    lambda w, s: ["sample", str(w.run), "-n", "2", "--out", str(s / "previous.txt"), "--force"],
    lambda w, s: ["reconstruct", str(w.run), "--data", str(w.valid), "--out", str(s / "previous.txt"), "--force"],
], ids=["sample", "reconstruct"])
def test_a_full_disk_keeps_the_previous_output(args, workspace, tmp_path, monkeypatch):
    write(tmp_path / "previous.txt", "what was there\n")
    injected_full_disk(monkeypatch)
    code, _, err = run_cli(args(workspace, tmp_path))
    assert_one_error_line(code, err, "previous.txt")
    previous_output_kept(tmp_path, "", err)


def test_a_resume_that_fails_on_a_full_disk_leaves_no_lock_behind(workspace, tmp_path, monkeypatch):
    run = copy_run(workspace, tmp_path)
    with monkeypatch.context() as patched:
        injected_full_disk(patched)
        code, _, err = run_cli(["train", "--out", str(run), "--resume", "--no-progress"])
        assert_one_error_line(code, err, str(run))
    assert not (run / ".textvae.lock").exists() and not list(run.glob(".*.tmp"))
    code, _, err = run_cli(["train", "--out", str(run), "--resume", "--no-progress"])  # space again: it resumes
    assert code == 0, err


# -- the explorer: every field checked, a 400 naming it, never a 500 --------------------------------------
@pytest.fixture(scope="module")
def explorer(workspace: Workspace) -> Any:
    pytest.importorskip("flask")
    from textvae.explore import build_service, create_app

    return create_app(build_service([workspace.run], workspace.valid, device="cpu")).test_client()


BAD_REQUESTS = [
    ("/encode", {"sentences": ["the food ."], "run": ["run"]}, "'run'"),
    ("/encode", {"sentences": ["the food ."], "run": 3}, "'run'"),
    ("/encode", {"sentences": "the food ."}, "'sentences'"),
    ("/encode", {"sentences": [5]}, "'sentences'"),
    ("/encode", {"sentences": ["the food ."], "neighbours": 2.5}, "'neighbours'"),
    ("/encode", {"sentences": ["the food ."], "neighbours": True}, "'neighbours'"),
    ("/decode", {"z": [[0.0, "x"]]}, "'z'"),
    ("/decode", {"z": [[0.0, 0.0]], "seed": 1.5}, "'seed'"),
    ("/decode", {"z": [[0.0, 0.0]], "decoding": [1]}, "'decoding'"),
    ("/decode", {"z": [[0.0, 0.0]], "decoding": {"strategy": "top-k", "top_k": 1.5}}, "top_k"),
    ("/decode", {"z": [[0.0, 0.0]], "decoding": {"strategy": "beam", "beam_size": "5"}}, "beam_size"),
    ("/decode", {"z": [[0.0, 0.0]], "decoding": {"strategy": "beam", "beam_size": 10**9}}, "beam_size"),
    ("/decode", {"z": [[0.0, 0.0]], "decoding": {"strategy": "beam", "length_penalty": float("nan")}},
     "length_penalty"),
    ("/decode", {"z": [[0.0, 0.0]], "decoding": {"max_length": 10**9}}, "max_length"),
    ("/decode", {"z": [[0.0, 0.0]], "decoding": {"temperature": "hot", "strategy": "sample"}}, "temperature"),
    ("/interpolate", {"steps": 2.5}, "'steps'"),
    ("/interpolate", {"from": ["a"]}, "'from'"),
    ("/sample", {"n": "5"}, "'n'"),
    ("/sample", {"n": 2, "seed": -1}, "'seed'"),
    ("/sample", {"n": 2, "decoding": {"strategy": "sample", "top_p": 2}}, "p"),
]


@pytest.mark.parametrize("path, body, field_name", BAD_REQUESTS, ids=[f"{p} {json.dumps(b)[:60]}" for p, b, _ in
                                                                      BAD_REQUESTS])
def test_a_bad_request_is_a_400_naming_its_field(explorer, path, body, field_name):
    answer = explorer.post(path, data=json.dumps(body), content_type="application/json")
    assert answer.status_code == 400, answer.get_json()
    assert field_name in answer.get_json()["error"]
