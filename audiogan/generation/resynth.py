"""Copy-synthesis: audio -> log-mel with a run's (or a default) FeatureConfig -> vocoder -> audio.

``audiogan resynth`` is a thin shell over :func:`resynthesize`; it lets one hear (and measure)
what a vocoder alone does to real recordings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audiogan import __version__
from audiogan.config import FeatureConfig, plain_config
from audiogan.errors import ConfigError
from audiogan.fileio import write_text_atomic
from audiogan.generation.generate import _device, _resolve_vocoder, load, safe_name

__all__ = ["resynthesize"]


def resynthesize(
    files: Sequence[str | Path],
    out_dir: str | Path,
    run: str | Path | None = None,
    vocoder: str | Path | None = None,
    vocoder_config: dict[str, Any] | None = None,
    feature: dict[str, Any] | None = None,
    plugins: Sequence[str] = (),
    device: str | torch.device | None = None,
    force: bool = False,
    max_frames: int = 4096,
) -> list[dict[str, Any]]:
    """Copy-synthesis: audio -> log-mel (run's FeatureConfig) -> vocoder -> audio, to hear a vocoder alone.

    Without ``run`` the FeatureConfig is the default one with ``feature`` fields changed (no
    statistics are needed: the vocoder reads log-mel, never normalised features). Levels are
    kept (scaled down only if the output would clip). Writes ``<stem>.<vocoder>.wav`` per file and
    ``manifest.json`` with each file's log-mel L1 distance to its input (natural-log units).

    :param max_frames: longer files are vocoded in overlapping windows, with the same context and
        window rule as generation (:func:`~audiogan.generation.sampling.vocode_long`).
    """
    from audiogan.contracts import check_vocoder_output
    from audiogan.data.audio import load_audio, write_audio
    from audiogan.features import MelFrontEnd
    from audiogan.generation.sampling import crossfade_samples, vocode_long, window_context_frames
    from audiogan.plugins import get_registry

    if not files:
        raise ConfigError("resynth needs at least one audio file")
    dev = _device(device)
    if run is not None:
        synth = load(run, device=dev, vocoder=vocoder, vocoder_config=vocoder_config, plugins=plugins)
        fc, voc, voc_name = synth.feature_config, synth.vocoder, synth.vocoder_name
    else:
        fc = FeatureConfig.from_dict(feature or {})
        registry = get_registry(tuple(plugins))
        voc, voc_name, _ = _resolve_vocoder(vocoder, vocoder_config, None, fc, registry)
    voc = voc.to(dev).eval()
    front = MelFrontEnd(fc).to(dev)
    context, crossfade = window_context_frames(fc, voc), crossfade_samples(fc)
    out = Path(out_dir).resolve()
    stems: dict[str, int] = {}
    targets = []
    for f in files:
        stem = safe_name(Path(f).stem)
        stems[stem] = stems.get(stem, 0) + 1
        suffix = f"_{stems[stem] - 1}" if stems[stem] > 1 else ""
        targets.append(out / f"{stem}{suffix}.{safe_name(voc_name)}.wav")
    existing = [t for t in targets + [out / "manifest.json"] if t.exists()]
    if existing and not force:
        raise ConfigError(f"{existing[0]} exists; pass --force to overwrite")

    def vocode(mel: torch.Tensor) -> torch.Tensor:
        wave = voc(mel)
        check_vocoder_output(voc, wave, mel.shape[0], mel.shape[-1])
        return wave.float()

    results = []
    for f, target in zip(files, targets):
        audio = load_audio(f, fc.sample_rate)
        with torch.no_grad():
            x = torch.from_numpy(audio).to(dev)
            mel = front.log_mel(x).transpose(1, 2)  # (1, M, T)
            wave = vocode_long(vocode, mel, fc.hop_length, context, crossfade, max_frames)
            wave = wave[0, : audio.shape[0]]
            if wave.shape[0] < audio.shape[0]:
                wave = torch.nn.functional.pad(wave, (0, audio.shape[0] - wave.shape[0]))
            distance = float((front.log_mel(wave) - front.log_mel(x)).abs().mean())
        result = wave.cpu().numpy().astype(np.float32)
        peak = float(np.abs(result).max())
        if peak > 1.0:
            result = (result * (10 ** (-1 / 20)) / peak).astype(np.float32)
        write_audio(target, result, fc.sample_rate)
        results.append(
            {
                "input": str(Path(f).resolve()),
                "file": target.name,
                "seconds": round(audio.shape[0] / fc.sample_rate, 6),
                "mel_l1": round(distance, 4),
            }
        )
    manifest = {
        "format": "audiogan-resynth",
        "format_version": 1,
        "audiogan_version": __version__,
        "run": str(Path(run).resolve()) if run is not None else None,
        "vocoder": voc_name,
        "vocoder_config": plain_config(getattr(voc, "config", None)),
        "feature_config": fc.to_dict(),
        "files": results,
    }
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return results
