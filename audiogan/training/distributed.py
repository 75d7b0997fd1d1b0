"""Several processes, one training run: torchrun's environment -> a process group, and the few
collectives the engine needs (PyTorch DistributedDataParallel does the gradient averaging).

``torchrun --nproc-per-node N -m audiogan train ...`` starts N copies of ``audiogan train`` with
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` (and ``TORCHELASTIC_RESTART_COUNT``) in their
environment. :func:`from_env` reads them; :func:`init` joins the group (``nccl`` for CUDA, each
process on ``cuda:LOCAL_RANK``; ``gloo`` on the CPU). Everything below is a no-op in a plain
single-process run, so the engine calls these helpers unconditionally.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from audiogan.errors import ConfigError

__all__ = [
    "World",
    "from_env",
    "init",
    "shutdown",
    "active",
    "is_restart",
    "barrier",
    "all_reduce_max",
    "all_reduce_sum",
    "all_gather",
    "agree",
    "device_for",
    "rank_seed",
]

# Longer than the default 10 min (NCCL): rank 0 alone writes checkpoints and runs evaluations
# while the others wait at their next collective.
TIMEOUT = datetime.timedelta(minutes=30)


@dataclasses.dataclass(frozen=True)
class World:
    """Where this process stands: global ``rank`` of ``size`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        """True when more than one process trains together."""
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes the run folder, logs and shows progress."""
        return self.rank == 0


def _int_env(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(
            f"environment variable {name}={text!r} must be an integer (set by torchrun)"
        ) from None


def from_env() -> World:
    """The world torchrun describes in the environment (rank 0 of 1 when not launched by torchrun)."""
    size = _int_env("WORLD_SIZE", 1)
    rank = _int_env("RANK", 0)
    local = _int_env("LOCAL_RANK", rank)
    if size < 1 or not 0 <= rank < size:
        raise ConfigError(f"RANK={rank} / WORLD_SIZE={size} from the environment are inconsistent")
    return World(rank, size, local)


def is_restart() -> bool:
    """True in a group that torchrun restarted after a worker failed (``--max-restarts``)."""
    return _int_env("TORCHELASTIC_RESTART_COUNT", 0) > 0


def device_for(world: World, device: torch.device) -> torch.device:
    """Each process on a machine drives its own GPU (``cuda:LOCAL_RANK``); CPU and MPS stay as they are."""
    if device.type != "cuda" or not world.distributed:
        return device
    if device.index is not None and device.index != world.local_rank:
        raise ConfigError(
            f"train.device={device} conflicts with torchrun's LOCAL_RANK={world.local_rank}; "
            "use --device cuda and let each process take its own GPU"
        )
    if world.local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"LOCAL_RANK={world.local_rank} but only {torch.cuda.device_count()} CUDA device(s) "
            "exist: lower --nproc-per-node"
        )
    return torch.device("cuda", world.local_rank)


def init(world: World, device: torch.device) -> bool:
    """Join the process group for ``world`` (``nccl`` on CUDA, else ``gloo``).

    :return: True when this call created the group (the caller then calls :func:`shutdown`).
    """
    if not world.distributed or dist.is_initialized():
        return False
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed; run a single process")
    backend = "nccl" if device.type == "cuda" else "gloo"
    extra: dict = {"device_id": device} if device.type == "cuda" else {}
    if device.type == "cuda":
        torch.cuda.set_device(device)
    store = _attempt_store(world)
    if store is None:
        dist.init_process_group(backend, timeout=TIMEOUT, **extra)
    else:
        dist.init_process_group(
            backend, store=store, rank=world.rank, world_size=world.size, timeout=TIMEOUT, **extra
        )
    return True


def _attempt_store(world: World) -> dist.Store | None:
    """torchrun's key-value store, with keys prefixed by the restart attempt.

    torchrun shares one store between its rendezvous and the workers, and the store outlives an
    elastic restart: without a prefix, a restarted process can read the address a dead peer
    published in the previous attempt and fail to connect (pytorch/pytorch#135712).
    """
    addr, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    if not addr or not port:
        return None  # not torchrun's environment: let init_process_group read what there is
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"  # the agent hosts the store
    base = dist.TCPStore(
        addr,
        int(port),
        world.size,
        is_master=not agent and world.rank == 0,
        timeout=TIMEOUT,
        multi_tenant=not agent,
    )
    attempt = _int_env("TORCHELASTIC_RESTART_COUNT", 0)
    return dist.PrefixStore(f"audiogan/attempt-{attempt}", base)


def shutdown() -> None:
    """Leave the process group (local: needs no other process, safe after a peer died)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def barrier() -> None:
    """Wait for every process (no-op alone)."""
    if active():
        dist.barrier()


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """Element-wise maximum over processes, in place (no host sync on CUDA); returned for chaining."""
    if active():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Element-wise sum over processes, in place; returned for chaining."""
    if active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_gather(tensor: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
    """Every process's copy of ``tensor`` (same shape and dtype everywhere), on the CPU, in rank order."""
    if not active():
        return [tensor.detach().cpu()]
    local = tensor.detach().to(device)
    out = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(out, local)
    return [t.cpu() for t in out]


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A torch seed for ``rank`` > 0 at ``step``: different latents per process, reproducible."""
    return (int(seed) * 1_000_003 + int(rank) * 7_919 + int(step) * 104_729) % (2**63 - 1)


def agree(flags: Sequence[bool], device: torch.device) -> list[bool]:
    """Logical OR of ``flags`` over processes (one small collective), so every process decides alike."""
    if not active():
        return list(flags)
    tensor = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [bool(v) for v in tensor.tolist()]


# --------------------------------------------------------------------------- test hooks
# Real processes, real signals: the distributed tests use these to look inside a torchrun run.


def debug_kill(rank: int, step: int) -> None:
    """``AUDIOGAN_DEBUG_KILL=RANK:STEP``: that process SIGKILLs itself after STEP steps, in the first
    attempt of a torchrun group only (so a test can kill a worker at a known point)."""
    spec = os.environ.get("AUDIOGAN_DEBUG_KILL")
    if spec and not is_restart():
        want_rank, want_step = (int(part) for part in spec.split(":"))
        if rank == want_rank and step == want_step:
            os.kill(os.getpid(), signal.SIGKILL)


def debug_dump(rank: int, state: dict[str, Any]) -> None:
    """``AUDIOGAN_DEBUG_DUMP=DIR``: every process writes its final training state to
    ``DIR/rank-R.pt``, so a test can compare the processes' models directly."""
    folder = os.environ.get("AUDIOGAN_DEBUG_DUMP")
    if folder:
        from audiogan.checkpoint import save_checkpoint

        save_checkpoint(
            {"format": "audiogan-debug", "format_version": 1, "rank": rank, **state},
            Path(folder) / f"rank-{rank}.pt",
        )
