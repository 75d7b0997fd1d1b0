"""What a training run shows while it runs: the progress bar (or status lines) and the start summary.

With a time budget (``train.max_minutes``) the bar is elapsed time against the budget, with the
step count and steps/s beside it; otherwise steps against ``train.steps``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import torch
from tqdm.auto import tqdm

from audiogan.training.config import UNLIMITED_STEPS, LoopConfig

__all__ = ["Progress", "describe_budget", "describe_device"]


def describe_device(device: torch.device) -> str:
    """The device for people: ``cuda:0 (NVIDIA H200)``, ``cpu``."""
    if device.type == "cuda":
        try:
            return f"{device} ({torch.cuda.get_device_name(device)})"
        except (RuntimeError, AssertionError):  # no driver to ask: the name alone
            return str(device)
    return str(device)


def describe_budget(tc: LoopConfig) -> str:
    """How long the loop runs: ``4 minutes``, ``5000 steps``, or ``5000 steps or 30 minutes``."""
    if tc.max_minutes > 0 and tc.steps >= UNLIMITED_STEPS:
        return f"{tc.max_minutes:g} minutes"
    if tc.max_minutes > 0:
        return f"{tc.steps} steps or {tc.max_minutes:g} minutes, whichever comes first"
    return f"{tc.steps} steps"


def _clock(seconds: float) -> str:
    return tqdm.format_interval(max(0, int(seconds)))


class Progress:
    """The loop's progress bar (tqdm) or, without one, its status lines (rank 0 only).

    With a time budget (``max_minutes``) the bar is elapsed time against the budget, with the
    step count and steps/s beside it; otherwise steps against ``steps``. A run with both ends at
    whichever comes first, so the time bar also shows ``step N/steps``.
    """

    def __init__(self, tc: LoopConfig, step: int, enabled: bool) -> None:
        self.budget = 60.0 * tc.max_minutes
        self.timed = self.budget > 0
        self.steps = tc.steps
        self.first_step = step
        self.started = time.monotonic()
        if self.timed:
            budget = _clock(self.budget)
            self.bar = tqdm(
                total=self.budget,
                disable=not enabled,
                dynamic_ncols=True,
                desc=self._where(step),
                bar_format="{percentage:3.0f}%|{bar}| {elapsed} of " + budget + " [{desc}{postfix}]",
            )
        else:
            self.bar = tqdm(
                total=tc.steps, initial=step, disable=not enabled, unit="step", dynamic_ncols=True
            )

    def elapsed(self) -> float:
        """Seconds since the loop started (this session)."""
        return time.monotonic() - self.started

    def _where(self, step: int) -> str:
        total = f"/{self.steps}" if self.steps < UNLIMITED_STEPS else ""
        rate = (step - self.first_step) / max(self.elapsed(), 1e-9)
        return f"step {step}{total}, {rate:.1f} steps/s"

    def advance(self, step: int) -> None:
        """Show that ``step`` is done."""
        if self.bar.disable:
            return
        if self.timed:
            self.bar.set_description_str(self._where(step), refresh=False)
            self.bar.update(min(self.elapsed(), self.budget) - self.bar.n)
        else:
            self.bar.update(step - self.bar.n)

    def restart(self, step: int) -> None:
        """After a divergence restore rewound the step count to ``step``."""
        if not self.timed:
            self.bar.reset(total=self.steps)
            self.bar.update(step)

    def losses_at(self, out: Mapping[str, Any]) -> None:
        """Show a log step's losses beside the bar."""
        self.bar.set_postfix(
            d=f"{out['loss_d']:.3f}",
            g=f"{out['loss_g']:.3f}",
            fm=f"{out['loss_fm']:.3f}",
            skip=out["skipped"],
            refresh=False,
        )

    def status_line(self, out: Mapping[str, Any]) -> str:
        """One line for a log step when there is no bar (``--no-progress``, a log file)."""
        step = int(out["step"])
        where = f"step {step}" + (f"/{self.steps}" if self.steps < UNLIMITED_STEPS else "")
        if self.timed:
            where += f"  {_clock(self.elapsed())} of {_clock(self.budget)}"
        return (
            f"{where}  loss_d {out['loss_d']:.3f}  loss_g {out['loss_g']:.3f}  "
            f"{out['steps_per_s']:.1f} steps/s"
        )

    def close(self) -> None:
        """Leave the bar where it ended."""
        self.bar.close()
