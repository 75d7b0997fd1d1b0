"""Media for the report page: clips as embedded WAVs and spectrograms as embedded PNGs."""

from __future__ import annotations

import base64
import dataclasses
import io
import math
from typing import TYPE_CHECKING

import numpy as np
import soundfile as sf
import torch

from audiogan.config import FeatureConfig
from audiogan.features import MelFrontEnd

if TYPE_CHECKING:
    pass

from audiogan.evaluation.report.charts import _e

HEADROOM_DB, MAX_GAIN_DB = -1.0, 40.0  # the level every clip is scaled to (generate's defaults)


DYNAMIC_RANGE_DB = 80.0  # spectrogram thumbnails show this far below the page's loudest bin


@dataclasses.dataclass
class _Cell:
    """One clip on the page: audio, its log-mel (for the thumbnail) and what it is."""

    audio: np.ndarray
    mel: np.ndarray  # (T, M) raw log-mel
    caption: str
    role: str  # generated | real | vocoder | training
    title: str = ""
    attrs: dict[str, str] = dataclasses.field(default_factory=dict)


def _normalise(audio: np.ndarray) -> np.ndarray:
    """Peak to ``HEADROOM_DB`` with at most ``MAX_GAIN_DB`` of gain (silence stays silence)."""
    audio = np.nan_to_num(np.asarray(audio, dtype=np.float32))
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak < 1e-9:
        return audio
    gain = min(10 ** (HEADROOM_DB / 20) / peak, 10 ** (MAX_GAIN_DB / 20))
    return (audio * np.float32(gain)).astype(np.float32)


def _wav_uri(audio: np.ndarray, sample_rate: int) -> str:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), int(sample_rate), format="WAV", subtype="PCM_16")
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _png_uri(mel: np.ndarray, vmin: float, vmax: float) -> tuple[str, int, int]:
    """A spectrogram thumbnail (one pixel per frame and mel bin, low bins at the bottom)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import colormaps

    scaled = np.clip((np.asarray(mel, dtype=np.float32).T[::-1] - vmin) / max(vmax - vmin, 1e-6), 0.0, 1.0)
    rgb = (colormaps["magma"](scaled)[..., :3] * 255).astype(np.uint8)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb, "RGB").save(buffer, format="PNG", optimize=True)
    height, width = scaled.shape
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"), width, height


class _Media:
    """Turns audio into cells (log-mel through the run's own front end) and cells into HTML."""

    def __init__(self, feature_config: FeatureConfig) -> None:
        self.fc = feature_config
        self.front = MelFrontEnd(feature_config)
        self.cells: list[_Cell] = []

    def cell(self, audio: np.ndarray, caption: str, role: str, title: str = "", **attrs: str) -> _Cell:
        audio = _normalise(audio)
        with torch.no_grad():
            mel = self.front.log_mel(torch.from_numpy(np.ascontiguousarray(audio)))[0].numpy()
        names = {k: "class" if k == "cls" else k.replace("_", "-") for k in attrs}  # data-class, data-seed
        made = _Cell(audio, mel, caption, role, title, {names[k]: v for k, v in attrs.items()})
        self.cells.append(made)
        return made

    def scale(self) -> tuple[float, float]:
        """One colour scale for every thumbnail: the loudest bin on the page down by DYNAMIC_RANGE_DB."""
        floor = math.log(self.fc.log_floor)
        top = max((float(c.mel.max()) for c in self.cells if c.mel.size), default=0.0)
        top = max(top, floor + 1e-3)
        return max(floor, top - DYNAMIC_RANGE_DB / 20 * math.log(10)), top

    def render(self, cell: _Cell, scale: tuple[float, float]) -> str:
        png, width, height = _png_uri(cell.mel, *scale)
        attrs = "".join(f' data-{k}="{_e(v)}"' for k, v in cell.attrs.items())
        seconds = len(cell.audio) / self.fc.sample_rate
        title = f' title="{_e(cell.title)}"' if cell.title else ""
        return (
            f'<figure class="clip {cell.role}"{title}>'
            f'<img class="spec" alt="spectrogram: {_e(cell.caption)}" src="{png}" '
            f'data-frames="{width}" data-bins="{height}">'
            f'<audio controls preload="metadata" data-role="{cell.role}" data-seconds="{seconds:.3f}"{attrs} '
            f'src="{_wav_uri(cell.audio, self.fc.sample_rate)}"></audio>'
            f"<figcaption>{_e(cell.caption)} · {seconds:.2f} s</figcaption></figure>"
        )
