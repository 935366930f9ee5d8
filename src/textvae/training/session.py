"""Starting and resuming a run: `train()` reads the corpora, builds the model and its `Trainer`,
records where this session runs in config.json and trains. One process at a time writes a run
directory (`textvae.locking`); nothing is written before both corpora are read; a corpus that
changed since the run started is refused on resume."""

from __future__ import annotations

import logging
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import torch

from textvae import distributed
from textvae.data.corpus import encode_corpus, load_corpus, read_sentences, report_corpus
from textvae.data.vocab import TokenVocabulary
from textvae.errors import ConfigError, RunDirError
from textvae.locking import run_lock
from textvae.models.config import ModelConfig
from textvae.models.vae import SentenceVAE
from textvae.runtime import describe_environment, environment, resolve_device, set_threads
from textvae.serialization import load_checkpoint, remove_partial_writes
from textvae.training.config import (
    CHECKPOINT_FILE, CONFIG_FILE, METRICS_FILE, PREPARED_DATA_DIR, DataConfig, RunConfig, TrainConfig,
)
from textvae.training.loop import Trainer, TrainResult, metrics_from_record
from textvae.training.rundir import (
    check_new_directory, holds_run, load_config, load_vocabulary, model_for_saved_weights, prepare_vocabulary,
    read_metrics, save_config, save_pretrained_configurations, save_vocabulary, vocabulary_saved,
)

log = logging.getLogger(__name__)


def train(
    out_dir: Path | str,
    data: DataConfig | None = None,
    model: ModelConfig | None = None,
    training: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    threads: int | None = None,
    tensorboard: bool | None = None,
) -> TrainResult:
    """Train a VAE into `out_dir`; with `resume=True` continue the run already there.
    `threads`: CPU threads for PyTorch (None keeps the current setting). `tensorboard`, with
    `resume`: switch the event files on or off from this session on (None keeps the run's setting)."""
    set_threads(threads)
    run_dir = Path(out_dir)
    main = distributed.current().main  # under torchrun, rank 0 alone writes the run directory
    if resume:
        if not holds_run(run_dir):
            raise RunDirError(f"{run_dir}: not a textvae run directory (no {CONFIG_FILE})")
        with run_lock(run_dir) if main else nullcontext():
            return _resume(run_dir, progress, tensorboard)
    if data is None:
        raise ValueError("train() needs a DataConfig unless resume=True")
    if data.valid is None:
        raise ConfigError("a VAE needs a validation corpus (--valid): it picks the best weights and watches the rate")
    if holds_run(run_dir):
        raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --out")
    check_new_directory(run_dir, "a textvae run", own=(PREPARED_DATA_DIR,))
    data = data.with_absolute_paths()
    train_sentences = read_sentences(data.train, data.tokenizer)
    model = model or ModelConfig()
    vocab = prepare_vocabulary(data, train_sentences, model)
    config = RunConfig(replace(model, vocab_size=len(vocab)), training or TrainConfig(), data)
    trainer = _trainer(run_dir, config, vocab, train_sentences, progress)
    config.data.checksums = config.data.current_checksums()  # both corpora were read without error
    if not main:
        return _fit(trainer)
    created = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with run_lock(run_dir):
            if holds_run(run_dir):  # another process started a run here since the check above
                raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it, or choose "
                                  "another --out")
            _record_session(trainer)  # config.json first: from here on the directory is a run, and resumes
            save_vocabulary(run_dir, vocab)
            save_pretrained_configurations(run_dir, trainer.model)
            return trainer.fit()
    except RunDirError:
        if created and not any(run_dir.iterdir()):
            run_dir.rmdir()  # refused before writing anything: leave no empty directory behind
        raise


def _resume(run_dir: Path, progress: bool, tensorboard: bool | None = None) -> TrainResult:
    config = load_config(run_dir)  # a resumed run keeps the configs it started with (what it shows aside)
    if tensorboard is not None:
        config.training.tensorboard = tensorboard
    main = distributed.current().main
    litter = remove_partial_writes(run_dir) if main else []
    if litter:
        log.info("removed %d partly written file%s left by the interrupted run: %s", len(litter),
                 "" if len(litter) == 1 else "s", ", ".join(p.name for p in litter))
    checkpoint = run_dir / CHECKPOINT_FILE
    config.data.check_unchanged()
    if not vocabulary_saved(run_dir) and not checkpoint.exists() and main:
        # killed between writing config.json and the vocabulary: it is made again, as it was
        log.info("%s has no vocabulary yet: making it again", run_dir)
        save_vocabulary(run_dir, prepare_vocabulary(config.data, model=config.model))
    vocab = load_vocabulary(run_dir, config)
    train_sentences = read_sentences(config.data.train, config.data.tokenizer)
    # From a checkpoint, a pretrained part is rebuilt from its saved configuration (the checkpoint
    # holds its weights); from step 0, it starts from the pretrained model again.
    model = model_for_saved_weights(run_dir, config.model) if checkpoint.exists() else None
    trainer = _trainer(run_dir, config, vocab, train_sentences, progress, model)
    if not checkpoint.exists() and main:
        save_pretrained_configurations(run_dir, trainer.model)
    _say_where_it_differs(run_dir, config, trainer)
    if checkpoint.exists():
        trainer.load_state_dict(load_checkpoint(checkpoint))
        log.info("resumed %s at step %d of %d", run_dir, trainer.step, trainer.total_steps)
        if trainer.finished:
            log.info("%s had already finished", run_dir)
            last = read_metrics(run_dir)[-1]
            return TrainResult(run_dir, trainer.step, metrics_from_record(last), trainer.best_valid_loss,
                               trainer.total_steps)
    else:
        log.info("%s has no checkpoint yet: starting it from step 0", run_dir)
        if main:
            (run_dir / METRICS_FILE).unlink(missing_ok=True)
    return _fit(trainer)


def _trainer(run_dir: Path, config: RunConfig, vocab: TokenVocabulary, train_sentences: list[list[str]],
             progress: bool, model: ModelConfig | None = None) -> Trainer:
    """The model (built from `model`, config.model unless given) and its trainer, from corpora read in
    full; nothing is written yet."""
    tc = config.training
    device = resolve_device(tc.device)
    train_corpus = encode_corpus(train_sentences, vocab, config.data.max_length)
    report_corpus(train_corpus, "train", config.data.max_length)
    valid_corpus = load_corpus(config.data.valid, vocab, config.data.max_length, name="valid",
                               tokenizer=config.data.tokenizer)
    model = model or config.model
    SentenceVAE.check_fits(model, device, training=True)
    torch.manual_seed(tc.seed)
    net = SentenceVAE(model, eos_id=vocab.eos_id, pad_id=vocab.pad_id).to(device)
    return Trainer(run_dir, config, net, vocab, train_corpus, valid_corpus, progress)


def _say_where_it_differs(run_dir: Path, config: RunConfig, trainer: Trainer) -> None:
    """One warning line where this session computes differently from the run's last one: sums of
    floating-point numbers depend on the thread count and the instruction set, so the resumed run
    matches an unbroken one to the last bit only where they agree."""
    if not config.environments:
        return
    last = config.environments[-1]
    here = environment(str(trainer.device))
    differ = [f"{key} {last.get(key)} -> {here[key]}" for key in ("threads", "cpu_capability", "device")
              if key in last and last.get(key) != here[key]]
    if differ:
        log.warning("%s: resumed with %s: the numbers can differ from an unbroken run's in the last bits; resume "
                    "with the same --threads on the same machine for an exact one", run_dir, ", ".join(differ))


def _fit(trainer: Trainer) -> TrainResult:
    _record_session(trainer)
    return trainer.fit()


def _record_session(trainer: Trainer) -> None:
    """Record where this session runs in config.json (written by rank 0)."""
    here = environment(str(trainer.device)) | {"precision": trainer.precision, "from_step": trainer.step,
                                               "processes": trainer.group.world}
    trainer.config.environments.append(here)
    if trainer.group.main:
        save_config(trainer.run_dir, trainer.config)
    log.info("running on %s", describe_environment(here))
