"""The run folder: config, checkpoints (keep the last N), metrics, TensorBoard and sample files.

Layout (see ``docs/architecture.md``)::

    runs/NAME/config.toml  checkpoints/step-XXXXXX.pt  checkpoints/last.pt  generator.pt
              checkpoints/best.pt  metrics.jsonl  data.json  tensorboard/
              samples/step-XXXXXX/<class>-<i>.wav|.png

Only rank 0 writes (under torchrun the other processes build this with ``enabled=False``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiogan.checkpoint import save_checkpoint
from audiogan.config import to_toml
from audiogan.errors import ConfigError
from audiogan.fileio import atomic_path, write_text_atomic

_STEP_FILE = re.compile(r"^step-(\d{6,})\.pt$")


def save_mel_png(path: str | Path, mel: np.ndarray, title: str = "") -> Path:
    """Write a spectrogram image of ``mel (T, M)`` (any scale) to ``path`` atomically (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(3.0, min(12.0, mel.shape[0] / 16)), 3.0), dpi=100)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(mel.T, origin="lower", aspect="auto", interpolation="nearest", cmap="magma")
    axes.set_xlabel("frame")
    axes.set_ylabel("mel bin")
    if title:
        axes.set_title(title, fontsize=9)
    figure.colorbar(image, ax=axes)
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(path)


class RunFolder:
    """Paths and writers of one run folder; every method is a no-op when ``enabled`` is False."""

    def __init__(self, root: str | Path, keep: int = 3, enabled: bool = True) -> None:
        self.root = Path(root)
        self.keep = keep
        self.enabled = enabled
        self.checkpoints = self.root / "checkpoints"
        self.last = self.checkpoints / "last.pt"
        self.best = self.checkpoints / "best.pt"  # best window FD so far (periodic evaluation)
        self.generator = self.root / "generator.pt"
        self.metrics = self.root / "metrics.jsonl"
        self.data_summary = self.root / "data.json"  # what training found in the data folder
        self.samples = self.root / "samples"
        self._writer: Any = None

    def prepare(self, resume: bool) -> None:
        """Create the folder; refuse to overwrite a previous run unless resuming, and vice versa."""
        if resume:
            if self.resume_path() is None:
                raise ConfigError(f"--resume: no checkpoint to resume in {self.checkpoints}")
            return
        if self.last.is_file() or any(self.step_files()):
            raise ConfigError(
                f"run folder {self.root} already holds checkpoints; pass --resume or choose another --run"
            )
        if self.enabled:
            self.checkpoints.mkdir(parents=True, exist_ok=True)

    def write_config(self, tree: dict[str, Any]) -> None:
        """Write the resolved configuration as ``config.toml``."""
        if self.enabled:
            write_text_atomic(self.root / "config.toml", to_toml(tree))

    def write_data_summary(self, record: dict[str, Any]) -> None:
        """Write ``data.json``: data folder, files, classes, skipped files, device (rewritten on resume)."""
        if self.enabled:
            payload = {"format": "audiogan-data-summary", "format_version": 1, **record}
            write_text_atomic(self.data_summary, json.dumps(payload, indent=2, sort_keys=True) + "\n")

    def resume_path(self) -> Path | None:
        """``last.pt``, or the newest ``step-XXXXXX.pt`` if a kill came before the first ``last.pt``."""
        if self.last.is_file():
            return self.last
        steps = self.step_files()
        return steps[-1] if steps else None

    def step_files(self) -> list[Path]:
        """Existing ``step-XXXXXX.pt`` checkpoints, oldest first."""
        if not self.checkpoints.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.checkpoints.iterdir() if (m := _STEP_FILE.match(p.name))]
        return [p for _, p in sorted(found)]

    def save(self, state: dict[str, Any], step: int) -> None:
        """Write ``step-XXXXXX.pt`` and ``last.pt`` (both atomic), then prune to the last ``keep``."""
        if not self.enabled:
            return
        # last.pt first: whenever a step file exists, a last.pt at least as new exists too.
        save_checkpoint(state, self.last)
        save_checkpoint(state, self.checkpoints / f"step-{step:06d}.pt")
        for old in self.step_files()[: -self.keep]:
            old.unlink(missing_ok=True)

    def save_generator(self, payload: dict[str, Any]) -> None:
        """Write the small inference file ``generator.pt``."""
        if self.enabled:
            save_checkpoint(payload, self.generator)

    def log_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON line (flushed and fsynced: a kill loses at most the line being written)."""
        if not self.enabled:
            return
        with open(self.metrics, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def truncate_metrics(self, step: int) -> None:
        """On resume, drop lines logged after ``step`` (and a torn last line), atomically."""
        if not self.enabled or not self.metrics.is_file():
            return
        kept = []
        for line in self.metrics.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("step", 0) <= step:
                    kept.append(line)
            except json.JSONDecodeError:
                continue
        write_text_atomic(self.metrics, "".join(line + "\n" for line in kept))

    @property
    def writer(self) -> Any:
        """A lazily created TensorBoard ``SummaryWriter`` (None when disabled)."""
        if self.enabled and self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.root / "tensorboard"))
        return self._writer

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Losses and rates to TensorBoard."""
        if self.enabled:
            for key, value in values.items():
                self.writer.add_scalar(key, value, step)

    def write_samples(
        self, step: int, names: list[str], mels: torch.Tensor, waves: torch.Tensor, sample_rate: int
    ) -> Path | None:
        """Write each sample as WAV + PNG under ``samples/step-XXXXXX/`` and to TensorBoard.

        :param mels: ``(N, T, M)`` normalised frames; :param waves: ``(N, S)`` audio.
        """
        if not self.enabled:
            return None
        from audiogan.data.audio import write_audio

        folder = self.samples / f"step-{step:06d}"
        for name, mel, wave in zip(names, mels.float().cpu().numpy(), waves.float().cpu().numpy()):
            write_audio(folder / f"{name}.wav", wave, sample_rate)
            save_mel_png(folder / f"{name}.png", mel, f"{name} @ step {step}")
            image = (mel.T[::-1] - mel.min()) / max(
                float(np.ptp(mel)), 1e-6
            )  # (M, T), low bins at the bottom
            self.writer.add_image(f"mel/{name}", image[None].copy(), step)
            peak = max(float(np.abs(wave).max()), 1e-6)
            self.writer.add_audio(
                f"audio/{name}", torch.from_numpy(wave / peak * 0.9)[None], step, sample_rate
            )
        self.writer.flush()
        return folder

    def close(self) -> None:
        """Flush and close TensorBoard."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
