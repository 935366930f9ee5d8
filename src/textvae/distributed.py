"""Everything about ranks and process groups: training and evaluation across processes.

`torchrun --nproc-per-node N -m textvae train ...` starts N processes with RANK, WORLD_SIZE and
MASTER_ADDR in their environment; `init_from_environment` joins them into one process group
(gloo on CPU, nccl on CUDA). The design keeps a run on N processes the same computation as on one:

- Every rank walks the same length-grouped batches in the same order and computes its own
  contiguous share of each batch's rows (`share`): the global batch is `--batch-size`, split
  about evenly, and batches stay unpadded.
- Every rank keeps the same random stream (the same seed, used in lockstep) and draws the noise
  of the whole batch, then uses its rows' part: sentence i gets the same z noise and word-dropout
  mask whichever rank computes it, and as in a one-process run. No per-rank seeds are needed.
- The objective sees global batch means (`global_means`: a differentiable all-reduce of each
  rank's sums), so every rank computes the same loss; DistributedDataParallel averages the
  gradients, which then equal the one-process gradient.
- Rank 0 alone writes the run directory and reports progress; a checkpoint records the world size,
  and resuming with another is refused.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from textvae.errors import ConfigError


@dataclass(frozen=True)
class Group:
    """This process's place among the processes training one model."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        """The rank that writes files and logs progress."""
        return self.rank == 0


SINGLE = Group()


def launched_by_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_environment(device: str = "auto") -> Group:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA);
    one process without it. Returns this process's place; `device` "auto" and "cuda" become the
    rank's own GPU (LOCAL_RANK)."""
    if not launched_by_torchrun():
        return SINGLE
    group = Group(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if on_gpu:
            gpus = torch.cuda.device_count()
            if group.local_rank >= gpus:
                raise ConfigError(f"torchrun started process {group.local_rank} of this machine on the GPU of the "
                                  f"same number, but PyTorch sees {gpus} GPU{'' if gpus == 1 else 's'} here: "
                                  f"use --nproc-per-node {gpus} (one process a GPU), or --device cpu")
            torch.cuda.set_device(group.local_rank)
        dist.init_process_group("nccl" if on_gpu else "gloo")
    return group


def current() -> Group:
    """The group this process belongs to (one process when none was joined)."""
    if not (dist.is_available() and dist.is_initialized()):
        return SINGLE
    return Group(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def rank_device(device: str, group: Group) -> str:
    """The device a rank computes on: its own GPU where several processes share a machine."""
    if group.distributed and (device == "cuda" or (device == "auto" and torch.cuda.is_available())):
        return f"cuda:{group.local_rank}"
    return device


def share(rows: int, group: Group) -> slice:
    """This rank's contiguous part of `rows` rows (the first ranks take one more where they do not
    divide evenly)."""
    base, extra = divmod(rows, group.world)
    start = group.rank * base + min(group.rank, extra)
    return slice(start, start + base + (1 if group.rank < extra else 0))


def usable_batches(batches: list[np.ndarray], group: Group) -> list[np.ndarray]:
    """Batches with at least one sentence for every rank (a last batch of an epoch can be smaller)."""
    return batches if not group.distributed else [b for b in batches if len(b) >= group.world]


def global_means(distortion: Tensor, kl: Tensor, group: Group) -> tuple[Tensor, Tensor]:
    """A rank's per-sentence distortion (rows,) and KL (rows, latent) as the whole batch's means,
    shaped as a batch of one sentence: (1,) and (1, latent). Every objective is a function of these
    means, so every rank computes the global loss. Differentiable: backward sums the gradient over
    ranks, and DDP's averaging then leaves the one-process gradient."""
    if not group.distributed:
        return distortion, kl
    sums = torch.cat([distortion.sum().view(1), kl.sum(dim=0), distortion.new_tensor([distortion.numel()])])
    total = _SumOverRanks.apply(sums)
    count = total[-1].detach()
    return (total[:1] / count), (total[1:-1] / count).unsqueeze(0)


class _SumOverRanks(torch.autograd.Function):
    """The sum of a tensor over ranks, differentiable: every rank computes the same loss from the
    sum, so the gradient reaching one rank's summand is the sum of every rank's incoming gradient."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:  # noqa: ARG004 - autograd's signature
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, gradient: Tensor) -> Tensor:  # noqa: ARG004
        total = gradient.clone()
        dist.all_reduce(total)
        return total


def sum_over_ranks(tensor: Tensor, group: Group) -> Tensor:
    """The element-wise sum of `tensor` over ranks (in place where distributed); no gradient."""
    if group.distributed:
        dist.all_reduce(tensor)
    return tensor


def same_everywhere(value: float, group: Group) -> float:
    """Rank 0's value of a number (what every rank must agree on, e.g. a stop decision)."""
    if not group.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(tensor, src=0)
    return float(tensor)


def check_world(saved: int | None, group: Group, where: str) -> None:
    """Resuming must use the world size the run started with (the batches' shares depend on it)."""
    if saved is not None and saved != group.world:
        raise ConfigError(f"{where} was trained on {saved} process{'es' if saved != 1 else ''}; resume it with "
                          f"the same number (torchrun --nproc-per-node {saved}), not {group.world}")


def barrier(group: Group) -> None:
    if group.distributed:
        dist.barrier()


def leave(cleanly: bool = True) -> bool:
    """Leave the process group before the process ends (a process that simply exits can abort
    another's last collective); `cleanly` first waits for every rank to get here. Returns whether
    there was a group to leave (see `end_process`)."""
    if not (dist.is_available() and dist.is_initialized()):
        return False
    if cleanly:
        dist.barrier()
    dist.destroy_process_group()
    return True


def end_process(status: int, cleanly: bool = True) -> None:
    """A process that is in a group leaves it and ends here with `status`; one that is not returns."""
    if leave(cleanly):
        exit_process(status)


def exit_process(status: int) -> None:
    """End a process that was in a process group, skipping the interpreter's teardown. Objects that
    still reference the group (autograd's saved state, DDP's reducer) can keep gloo's worker threads
    alive into that teardown, where freeing them aborts the process ("terminate called without an
    active exception", 1 run in about 120 of a 2-process stress loop here) after all its work is done.
    Every file is written and closed by now; only the standard streams need flushing."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more to say
            pass
    os._exit(status)
