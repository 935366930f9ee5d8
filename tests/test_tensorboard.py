"""--tensorboard: event files read back with TensorBoard's own reader hold every number of
metrics.jsonl at its step, once, also after a run stopped at the worst moment and resumed; prior
samples and the configuration are text. (tests/test_training.py checks the same after a SIGKILL.)"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from textvae import DataConfig, ModelConfig, TrainConfig, train
from textvae.training import Trainer, load_config, read_metrics
from textvae.training.tracking import TENSORBOARD_DIR, scalars_of

pytestmark = pytest.mark.usefixtures("one_thread")
MODEL = ModelConfig(embedding_dim=8, hidden_dim=8, latent_dim=3)


def read_events(run_dir: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, list[int]]]:
    """Scalars by tag as (step, value) and the steps of each text tag, as TensorBoard reads them."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(Path(run_dir) / TENSORBOARD_DIR), size_guidance={"scalars": 0, "tensors": 0})
    accumulator.Reload()
    tags = accumulator.Tags()
    scalars = {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in tags["scalars"]}
    texts = {tag: [e.step for e in accumulator.Tensors(tag)] for tag in tags["tensors"]}
    return scalars, texts


def assert_events_match_metrics(run_dir: Path) -> None:
    """Every number of every metrics.jsonl record is a point of its tag, and there is no other point."""
    scalars, texts = read_events(run_dir)
    expected: dict[str, list[tuple[int, float]]] = {}
    for record in read_metrics(run_dir):
        for tag, value in scalars_of(record).items():
            expected.setdefault(tag, []).append((record["step"], value))
    assert sorted(scalars) == sorted(expected)
    for tag, points in expected.items():
        got = scalars[tag]
        assert [step for step, _ in got] == [step for step, _ in points], tag  # no point twice, none missing
        for (_, value), (_, want) in zip(got, points):
            assert math.isclose(value, want, rel_tol=1e-6, abs_tol=1e-6), (tag, value, want)  # stored as float32
    valid_steps = [r["step"] for r in read_metrics(run_dir) if r["split"] == "valid"]
    assert texts["valid/prior samples/text_summary"] == valid_steps
    assert texts["config/text_summary"] == [0]


@pytest.fixture
def data(tmp_path, tiny_corpus):
    train_file, valid_file = tiny_corpus
    return DataConfig(str(train_file), str(valid_file))


def test_events_hold_what_metrics_holds(tmp_path, data):
    run = tmp_path / "run"
    training = TrainConfig.from_flat(dict(kl_target=2.0, batch_size=4, max_steps=8, eval_every=2, tensorboard=True))
    train(run, data, MODEL, training, progress=False)
    assert_events_match_metrics(run)
    scalars, _ = read_events(run)
    assert {"train/rate", "train/kl_target", "train/lr", "valid/distortion", "valid/mi", "valid/au"} <= set(scalars)
    valid = [r for r in read_metrics(run) if r["split"] == "valid"]
    assert all(len(r["samples"]) == 3 and all(isinstance(s, str) for s in r["samples"]) for r in valid)


def test_stopped_between_its_records_and_its_checkpoint_then_resumed(tmp_path, data, monkeypatch):
    """The worst moment: the step-4 evaluation is in metrics.jsonl and in the events, but the
    checkpoint still holds step 2. The resume redoes step 4; each step must be there once."""
    run = tmp_path / "run"
    real_save = Trainer.save_checkpoint

    def stop_at_4(self):
        if self.step == 4:
            raise KeyboardInterrupt
        real_save(self)

    monkeypatch.setattr(Trainer, "save_checkpoint", stop_at_4)
    with pytest.raises(KeyboardInterrupt):
        train(run, data, MODEL, TrainConfig.from_flat(dict(kl_target=2.0, batch_size=4, max_steps=8, eval_every=2,
                                            checkpoint_every=100, tensorboard=True)), progress=False)
    assert [r["step"] for r in read_metrics(run)][-1] == 4
    assert [s for s, _ in read_events(run)[0]["valid/rate"]] == [2, 4]
    monkeypatch.setattr(Trainer, "save_checkpoint", real_save)
    train(run, resume=True, progress=False)
    assert [r["step"] for r in read_metrics(run) if r["split"] == "valid"] == [2, 4, 6, 8]
    assert_events_match_metrics(run)


def test_resume_can_switch_the_events_on(tmp_path, data):
    run = tmp_path / "run"
    training = TrainConfig.from_flat(dict(kl_target=2.0, batch_size=4, max_steps=4, eval_every=2, time_budget=1e-9))
    train(run, data, MODEL, training, progress=False)
    assert not (run / TENSORBOARD_DIR).exists()
    train(run, resume=True, progress=False, tensorboard=True)
    assert load_config(run).training.tensorboard
    assert_events_match_metrics(run)  # the records from before the switch are there too


def test_an_experiment_turns_the_events_on_for_its_runs_without_making_them_other_runs(tmp_path, tiny_corpus):
    from textvae.experiments.settings import Experiment
    from textvae.experiments.sweep import _comparable

    train_file, valid_file = tiny_corpus
    def experiment(tensorboard):
        return Experiment("figure1", str(train_file), str(valid_file), str(valid_file), str(tmp_path / "out"),
                          models=["lstm-lstm"], kl_targets=[3.0], tensorboard=tensorboard)
    with_events, without = experiment(True).run_config("lstm-lstm", 3.0), experiment(False).run_config("lstm-lstm", 3.0)
    assert with_events.training.tensorboard and not without.training.tensorboard
    assert _comparable(with_events) == _comparable(without)  # a finished run is reused either way
