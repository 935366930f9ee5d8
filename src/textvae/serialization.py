"""Files a run writes: safetensors weights, JSON configs, and an atomic resumable checkpoint.

Nothing is pickled. A training checkpoint is a single safetensors file whose tensors hold the
model, optimizer and RNG states and the data order, and whose metadata holds the rest as JSON.
Every safetensors file textvae writes records the SHA-256 of its tensor data and metadata in its
metadata (safetensors itself checks the header only), and loading verifies it: a file damaged on
disk or in a copy is named, never loaded. Files written before the checksum load unverified.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save
from torch import Tensor, nn

from textvae.errors import RunDirError, WriteError

_TENSOR = "__tensor__"
CHECKSUM = "textvae_sha256"  # the metadata entry holding the checksum
TMP_SUFFIX = ".tmp"
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process's umask (setting it is the only way), then put it back


def write_atomic(path: Path | str, data: bytes) -> None:
    """Write `data` so that `path` holds either the old or the new content, never a mix."""
    path = Path(path)
    existed = path.exists()
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX)
    except OSError as err:
        raise WriteError(_cannot_write(path, err, existed)) from None
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes files only their owner can read
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise WriteError(_cannot_write(path, err, existed)) from None
        raise


def _cannot_write(path: Path, err: OSError, existed: bool) -> str:
    kept = f"; the previous {path.name} is intact" if existed else ""
    return f"cannot write {path}: {err.strerror or err}{kept}"


def write_text(path: Path | str, text: str) -> None:
    """Write UTF-8 text atomically (see `write_atomic`)."""
    write_atomic(path, text.encode("utf-8"))


def write_json(path: Path | str, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_directory(path: Path | str, write: Callable[[Path], None]) -> None:
    """Make the directory `path` with `write(folder)`, which fills a hidden temporary folder beside it
    that is then renamed: `path` is either absent, the old one or the whole new one, never half
    written (a directory already there is replaced)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=TMP_SUFFIX))
    except OSError as err:
        raise WriteError(_cannot_write(path, err, path.exists())) from None
    try:
        write(tmp)
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old.", suffix=TMP_SUFFIX))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, OSError):
            raise WriteError(_cannot_write(path, err, path.exists())) from None
        raise


def remove_partial_writes(directory: Path | str) -> list[Path]:
    """Delete what `write_atomic` and `write_directory` leave behind when their process is killed
    mid-write (hidden `.NAME.XXXX.tmp` files and folders); returns them."""
    litter = list(Path(directory).glob(f".*{TMP_SUFFIX}"))
    for path in litter:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return litter


def read_json(path: Path | str) -> Any:
    """A JSON file; a damaged one (cut short, not JSON, not UTF-8) is a RunDirError naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunDirError(f"{path}: damaged, not a JSON file ({err})") from None


def _digest(tensors: dict[str, Tensor], metadata: dict[str, str]) -> str:
    """SHA-256 of the metadata and of every tensor's bytes, by name."""
    digest = hashlib.sha256(json.dumps(metadata, sort_keys=True).encode("utf-8"))
    for name in sorted(tensors):
        tensor = tensors[name]
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode("utf-8"))
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def sealed_safetensors(tensors: dict[str, Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """The bytes of a safetensors file whose metadata records the checksum of its data and metadata."""
    metadata = dict(metadata or {})
    return save(tensors, metadata={**metadata, CHECKSUM: _digest(tensors, metadata)})


def read_safetensors(path: Path | str, advice: str = "", unreadable: str = "damaged or not a safetensors file"
                     ) -> tuple[dict[str, Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file, its checksum verified where it has one; a
    damaged file is a RunDirError naming it (`unreadable`: what a file that cannot be read is called;
    `advice`: what to do)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as err:
        raise RunDirError(f"{path}: {unreadable} ({err}){advice}") from None
    expected = metadata.pop(CHECKSUM, None)
    if expected is not None and _digest(tensors, metadata) != expected:
        raise RunDirError(f"{path}: damaged: its contents differ from the checksum recorded when it was written (a "
                          f"disk or copy error){advice}")
    return tensors, metadata


def save_weights(model: nn.Module, path: Path | str) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_atomic(path, sealed_safetensors(tensors))


def load_weights(model: nn.Module, path: Path | str, advice: str = "") -> None:
    """Weights from a safetensors file; a damaged file, or weights of another model, is a
    RunDirError naming the file (with `advice`: what to do)."""
    tensors, _ = read_safetensors(path, advice)
    try:
        model.load_state_dict(tensors)
    except RuntimeError as err:
        first = str(err).strip().splitlines()
        detail = next((line.strip() for line in first[1:] if line.strip()), first[0] if first else "")
        raise RunDirError(f"{path}: weights do not fit the model its config.json describes ({detail})") from None


def split_tensors(obj: Any, tensors: dict[str, Tensor], prefix: str = "") -> Any:
    """Replace every tensor in a nested dict/list by a reference, collecting it in `tensors`."""
    if isinstance(obj, Tensor):
        tensors[prefix] = obj.detach().cpu().contiguous().clone()
        return {_TENSOR: prefix}
    if isinstance(obj, dict):
        return {str(k): split_tensors(v, tensors, f"{prefix}.{k}" if prefix else str(k)) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [split_tensors(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    return obj


def join_tensors(obj: Any, tensors: dict[str, Tensor]) -> Any:
    """Inverse of `split_tensors`."""
    if isinstance(obj, dict):
        if set(obj) == {_TENSOR}:
            return tensors[obj[_TENSOR]]
        return {k: join_tensors(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [join_tensors(v, tensors) for v in obj]
    return obj


def save_checkpoint(path: Path | str, state: dict[str, Any]) -> None:
    """Atomically write a nested dict of tensors and JSON-able values."""
    tensors: dict[str, Tensor] = {}
    skeleton = split_tensors(state, tensors)
    write_atomic(path, sealed_safetensors(tensors, {"state": json.dumps(skeleton)}))


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    advice = "; resume cannot continue from it: restore it from a copy, or start the run again in a new directory"
    try:
        tensors, metadata = read_safetensors(path, advice, "damaged checkpoint")
        skeleton = json.loads(metadata["state"])
        return join_tensors(skeleton, tensors)
    except (ValueError, KeyError, TypeError) as err:
        raise RunDirError(f"{path}: damaged checkpoint ({err}){advice}") from None


def checkpoint_state(path: Path | str) -> dict[str, Any]:
    """The JSON part of a checkpoint (step, finished, ...), read from its header alone: the tensors
    are neither read nor verified, so this is cheap and says nothing about their integrity."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return json.loads((f.metadata() or {})["state"])
    except (SafetensorError, OSError, ValueError, KeyError) as err:
        raise RunDirError(f"{path}: damaged checkpoint ({err})") from None


def optimizer_state_from_checkpoint(state: dict[str, Any]) -> dict[str, Any]:
    """JSON turns the optimizer's integer keys into strings; turn them back."""
    return {"state": {int(k): v for k, v in state["state"].items()}, "param_groups": state["param_groups"]}
