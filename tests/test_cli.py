"""The command line: one clear line and a non-zero exit for bad input; train -> evaluate."""

import json

import pytest

from textvae.cli import main

TINY = ["--embedding-dim", "16", "--hidden-dim", "24", "--latent-dim", "4", "--batch-size", "8", "--no-progress"]


def run_cli(args, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


def run_ok(args, capsys):
    try:
        main(args)
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), capsys.readouterr().err
    return capsys.readouterr()


def bad_file(tmp_path, kind):
    path = tmp_path / f"{kind}.txt"
    if kind == "missing":
        return path, "no such file"
    content = {"empty": b"", "blank": b"\n \n\n", "latin1": b"caf\xe9 au lait\n"}[kind]
    path.write_bytes(content)
    return path, {"empty": "file is empty", "blank": "holds no sentence", "latin1": ":1: not valid UTF-8"}[kind]


@pytest.mark.parametrize("kind", ["missing", "empty", "blank", "latin1"])
@pytest.mark.parametrize("role", ["--train", "--valid"])
def test_bad_corpus_gives_one_line_and_exit_2(tmp_path, tiny_corpus, capsys, kind, role):
    path, message = bad_file(tmp_path, kind)
    train_file, valid_file = tiny_corpus
    files = {"--train": train_file, "--valid": valid_file, role: path}
    code, _, err = run_cli(["train", "--train", str(files["--train"]), "--valid", str(files["--valid"]),
                            "--out", str(tmp_path / "run"), "--max-steps", "2", *TINY], capsys)
    assert code == 2
    error_lines = [l for l in err.splitlines() if l.startswith("textvae: error:")]
    assert len(error_lines) == 1 and str(path) in error_lines[0] and message in error_lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing half-made to trip over on the next try


def test_vocabulary_without_needed_entries(tmp_path, tiny_corpus, capsys):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("<pad>\nthe\nfood\n", encoding="utf-8")
    train_file, valid_file = tiny_corpus
    code, _, err = run_cli(["train", "--train", str(train_file), "--valid", str(valid_file), "--vocab", str(vocab),
                            "--out", str(tmp_path / "run"), "--max-steps", "2", *TINY], capsys)
    assert code == 2 and f"{vocab}: missing required entries: <unk>, <eos>" in err and "Traceback" not in err


def test_bad_options_are_clear_errors(tmp_path, tiny_corpus, capsys):
    train_file, valid_file = tiny_corpus
    common = ["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(tmp_path / "r"), *TINY]
    code, _, err = run_cli([*common, "--model", "bert-lstm"], capsys)
    assert code == 2 and "unknown model 'bert-lstm'" in err and "Traceback" not in err
    code, _, err = run_cli([*common, "--max-steps", "0"], capsys)
    assert code == 2 and "max_steps must be positive" in err
    code, _, err = run_cli(["evaluate", str(tmp_path / "nowhere"), "--data", str(valid_file)], capsys)
    assert code == 2 and "not a textvae run directory" in err


def test_train_then_evaluate(tmp_path, tiny_corpus, capsys):
    train_file, valid_file = tiny_corpus
    run = tmp_path / "run"
    out = run_ok(["train", "--train", str(train_file), "--valid", str(valid_file), "--out", str(run), "--model",
                  "GRU-GRU", "--C", "2", "--max-steps", "8", *TINY], capsys)
    assert "finished 8 steps" in out.out and "valid D" in out.err
    result = json.loads(run_ok(["evaluate", str(run), "--data", str(valid_file), "--json", "--iw-samples", "0",
                                "--no-progress"], capsys).out)
    assert set(result) == {"distortion", "rate", "elbo", "nll_iw", "ppl_iw", "ppl_elbo", "mi", "au", "au_variances",
                           "log_det_cov", "mu_norm_sq", "sentences", "tokens", "words", "ppl_word_iw", "ppl_word_elbo"}
    assert result["nll_iw"] is None and result["ppl_iw"] is None and result["ppl_word_iw"] is None
    assert result["words"] == result["tokens"] and result["ppl_word_elbo"] == pytest.approx(result["ppl_elbo"])
    assert result["sentences"] == 4 and result["tokens"] == sum(len(l.split()) + 1 for l in
                                                                valid_file.read_text().splitlines())
    assert result["elbo"] == pytest.approx(-(result["distortion"] + result["rate"]))
    one = tmp_path / "one.txt"
    one.write_text("the food was great .\n", encoding="utf-8")
    code, _, err = run_cli(["evaluate", str(run), "--data", str(one), "--no-progress"], capsys)
    assert code == 2 and "at least two sentences" in err and "Traceback" not in err
    table = run_ok(["evaluate", str(run), "--data", str(valid_file), "--iw-samples", "5", "--no-progress"], capsys).out
    for key in ("distortion", "rate", "nll_iw", "ppl_elbo", "mi", "au_variances", "log_det_cov", "mu_norm_sq"):
        assert key in table


def test_help_lists_the_commands(capsys):
    out = run_ok(["--help"], capsys).out
    for command in ("train", "evaluate", "demo", "corpus"):
        assert command in out


def test_help_is_plain_and_truthful(capsys):
    import inspect

    from textvae.api import load
    from textvae.experiments.demo import DEMO_C, DEMO_STEPS, DEMO_TIME_BUDGET

    for command in ([], ["train"], ["sample"], ["demo"], ["experiment"], ["lm", "train"], ["syneval"]):
        out = run_ok([*command, "--help"], capsys).out
        assert "<bool>" not in out and "╭" not in out, command
    demo = " ".join(run_ok(["demo", "--help"], capsys).out.split())
    assert f"[default: {DEMO_STEPS};" in demo and f"[default: {DEMO_C}]" in demo
    assert f"[default: {DEMO_TIME_BUDGET};" in demo and "[default: 0]" not in demo
    experiment = " ".join(run_ok(["experiment", "--help"], capsys).out.split())
    for name in ("figure1:", "table1:", "table2:", "table3:", "table4:"):
        assert name in experiment
    assert "cpu-small" in " ".join(run_ok(["train", "--help"], capsys).out.split())
    # the API and the command line agree on defaults
    defaults = inspect.signature(load).parameters
    assert defaults["device"].default == "auto" and defaults["precision"].default == "auto"
    sample = " ".join(run_ok(["sample", "--help"], capsys).out.split())
    assert "--device <str>" in sample and "[default: auto]" in sample


def test_progress_is_reported_in_lines_when_output_is_not_a_terminal(tmp_path, tiny_corpus, monkeypatch):
    import io

    from textvae import progress

    stream = io.StringIO()
    bar = progress.LineProgress(total=10, desc="train", unit="step", interval=0.05, file=stream)
    for _ in range(4):
        bar.update(1)
    bar.set_postfix(loss="1.23")
    import time

    time.sleep(0.2)  # the reporting thread writes lines while nothing else happens
    bar.close()
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("train: 0/10 step (0%)")
    assert len(lines) >= 3 and lines[-1].startswith("train: 4/10 step (40%)") and "loss=1.23" in lines[-1]
    assert all("\r" not in line for line in lines)
    # what a command does: not a terminal, so lines instead of a bar
    monkeypatch.setattr(progress, "LINE_INTERVAL", 0.0)
    chosen = progress.progress(total=3, desc="x", file=io.StringIO())
    assert isinstance(chosen, progress.LineProgress)
    chosen.close()


def test_a_config_field_is_a_flag_with_its_help_default_range_and_choices():
    """textvae.cli.options builds a command's options from a config's fields: a field added to the
    config is a new flag, with no edit in the command."""
    from dataclasses import dataclass

    import typer
    from typer.testing import CliRunner

    from textvae.cli.options import Given, Source, config_fields, with_options
    from textvae.options import check_options, option

    @dataclass
    class Settings:
        name: str = option(help="A name.")
        size: int = option(3, "A size.", min=1)
        mode: str = option("a", "A mode.", choices=("a", "b-c"))
        values: list[float] = option(help="Values.", default_factory=lambda: [1.0, 2.5])
        flag: bool = option(False, "A flag.")
        internal: int = 7  # not a setting: no flag

        def __post_init__(self) -> None:
            check_options(self)

    @dataclass
    class MoreSettings(Settings):
        extra: int = option(1, "Added later.")

    def show(settings: Given) -> None:
        """Echo what was given."""
        typer.echo(json.dumps(settings))

    def run(config: type, args: list[str]) -> tuple[int, str]:
        app = typer.Typer(rich_markup_mode=None)
        app.command()(with_options(show, [Source("settings", config_fields(config))]))
        app.command("other")(lambda: None)  # two commands, so the command is named on the line
        result = CliRunner().invoke(app, ["show", *args])
        return result.exit_code, " ".join(result.output.split())

    code, text = run(Settings, ["--help"])
    assert code == 0 and "--name <str> A name. [required]" in text and "--size <int> A size. [default: 3]" in text
    assert "--mode <a|b-c>" in text and "[default: 1,2.5]" in text and "--flag / --no-flag" in text
    assert "--internal" not in text and "--extra" not in text
    assert "--extra <int> Added later. [default: 1]" in run(MoreSettings, ["--help"])[1]
    code, text = run(Settings, ["--name", "x", "--values", "3,4", "--mode", "b-c", "--flag"])
    assert code == 0 and json.loads(text) == {"name": "x", "mode": "b-c", "values": [3.0, 4.0], "flag": True}
    assert Settings(**json.loads(text)).values == [3.0, 4.0]  # what was not given takes the config's default
    code, text = run(Settings, ["--name", "x", "--values", "3,four"])
    assert code != 0 and "--values takes comma-separated values of type float" in text
    code, text = run(Settings, ["--name", "x", "--mode", "d"])
    assert code != 0 and "'d' is not one of 'a', 'b-c'" in text
