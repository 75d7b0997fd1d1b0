"""Process-level helpers shared by the engine and the plugin test kit."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["one_thread"]


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run small torch work on one intra-op thread, restoring the previous count afterwards.

    Tensors this small gain nothing from threads, and on a busy machine the spinning thread pool
    makes each op far slower (measured here: a (150, 480) matmul fit took 8 s instead of 0.4 s on
    2 loaded cores; one generator contract check 3.3 s instead of 0.02 s).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
