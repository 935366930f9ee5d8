"""Files a run writes: safetensors weights, JSON configs, and an atomic resumable checkpoint.

Nothing is pickled. A training checkpoint is a single safetensors file whose tensors hold the
model, optimizer and RNG states and the data order, and whose metadata holds the rest as JSON.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save
from torch import Tensor, nn

_TENSOR = "__tensor__"


def write_atomic(path: Path | str, data: bytes) -> None:
    """Write `data` so that `path` holds either the old or the new content, never a mix."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path | str, obj: Any) -> None:
    write_atomic(path, (json.dumps(obj, indent=2, sort_keys=False) + "\n").encode("utf-8"))


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def save_weights(model: nn.Module, path: Path | str) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_atomic(path, save(tensors))


def load_weights(model: nn.Module, path: Path | str, device: torch.device | str = "cpu") -> None:
    model.load_state_dict(load_file(str(path), device=str(device)))


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
    write_atomic(path, save(tensors, metadata={"state": json.dumps(skeleton)}))


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    with safe_open(str(path), framework="pt") as f:
        skeleton = json.loads(f.metadata()["state"])
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    return join_tensors(skeleton, tensors)


def optimizer_state_from_checkpoint(state: dict[str, Any]) -> dict[str, Any]:
    """JSON turns the optimizer's integer keys into strings; turn them back."""
    return {"state": {int(k): v for k, v in state["state"].items()}, "param_groups": state["param_groups"]}
