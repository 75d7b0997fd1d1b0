"""The ``istft`` neural vocoder: a Vocos-like ConvNeXt backbone at frame rate, then ``torch.istft``.

Why this design: GAN vocoders that upsample to the sample rate (HiFi-GAN, MelGAN) spend nearly all
their compute on transposed convolutions at 16 000 steps per second; Vocos (Siuzdiak, 2023) instead
predicts the STFT (log-magnitude and phase) at frame rate and lets the inverse FFT do the
upsampling. That keeps the network at ~60 steps per second of audio, so a small model runs hundreds
of times faster than real time on a CPU.

Two cheap, fixed stages sit between the network and the inverse FFT (both trained through):

* ``mel_consistency``: multiplicative updates that make the predicted magnitude's mel equal the
  input mel (the network shapes the spectrum within each band; the updates bring the bands' totals
  back to the input's, as Griffin-Lim's own mel inverse does);
* ``refine_iters``: fast Griffin-Lim projections starting from the predicted phase, which repair
  the frame-to-frame phase coherence a translation-equivariant network gets wrong on steady sounds.

Why they are there (FSDD, 75 held-out clips, float output, 3000 steps of training each, MR-STFT /
log-mel L1): the bare network 1.167 / 0.220, with both stages and a direct log-magnitude loss
1.052 / 0.192; Griffin-Lim at 32 iterations 1.068 / 0.148. Trained longer (9000 steps with 8
projections, 1500 adversarial, 4500 with 16): 0.994 / 0.150 at 16 projections, 0.983 / 0.145 at
24. The figures of record, through ``audiogan resynth`` on 300 clips, are at
:data:`DEFAULT_REFINE_ITERS`.

Shapes: B = batch, M = n_mels, T = frames, C = model width, F = n_fft // 2 + 1, S = samples.
``forward(mel (B, M, T)) -> (B, T * hop_length)``.

The adversarial training lives in :mod:`audiogan.vocoder.training` (``fit`` delegates there); the
waveform discriminators it uses are in :mod:`audiogan.vocoder.discriminators`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

import audiogan
from audiogan.config import FeatureConfig
from audiogan.errors import CheckpointError, ConfigError

#: Projections of a new vocoder. On held-out FSDD (benchmarks/vocoders.py, 300 clips) a model
#: trained with 16 scored MR-STFT 1.261 / log-mel L1 0.295 at 129x real time, against Griffin-Lim's
#: 1.288 / 0.303 at 32 iterations (87x) in the same run; run at 24 it scored 1.251 / 0.289 at 86x.
DEFAULT_REFINE_ITERS = 16

#: Settings newer than the first saved vocoders, with the values that reproduce those files' behaviour.
SETTINGS_ADDED_LATER = {"refine_iters": 0, "mel_consistency": 0}

#: FeatureConfig fields that shape the log-mel a vocoder reads; a saved vocoder must match them all.
LAYOUT_FIELDS = ("sample_rate", "n_fft", "hop_length", "win_length", "n_mels", "f_min", "f_max", "log_floor")


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (time mixing) -> LayerNorm -> pointwise MLP (channel mixing), residual.

    :param dim: channels C; ``(B, C, T) -> (B, C, T)``.
    """

    def __init__(self, dim: int, intermediate_dim: int, kernel_size: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        # Layer scale (ConvNeXt): residual branches start small so a deep stack trains stably.
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T) -> (B, C, T)``."""
        residual = x
        x = self.dwconv(x).transpose(1, 2)  # (B, T, C): LayerNorm and Linear act on the last axis
        x = self.pwconv2(self.act(self.pwconv1(self.norm(x))))
        return residual + (self.gamma * x).transpose(1, 2)


class ISTFTVocoder(audiogan.Vocoder):
    """Neural vocoder (Vocos-like ConvNeXt predicting STFT magnitude and phase, then iSTFT); train with
    train-vocoder."""

    name = "istft"
    trainable = True
    #: ``forward(mel, return_magnitude=True)`` also returns the predicted STFT magnitude (before the
    #: projections), which vocoder training supervises directly (``train.magnitude_weight``).
    predicts_magnitude = True

    @dataclasses.dataclass
    class Config:
        """Architecture of the istft vocoder (training settings live in ``VocoderTrainConfig``)."""

        dim: int = (
            128  # backbone width C; 128 keeps 10 s of 16 kHz audio well above 100x real time on 2 cores
        )
        intermediate_dim: int = 384  # ConvNeXt MLP width (3 x dim, as Vocos)
        num_layers: int = (
            6  # ConvNeXt blocks; receptive field = 1 + (num_layers + 1) * (kernel_size - 1) frames
        )
        kernel_size: int = 7  # depthwise conv width in frames
        phase: Literal["angle", "cossin"] = (
            "angle"  # angle: phase = head output (Vocos); cossin: direction of a predicted (cos, sin) pair
        )
        max_log_mag: float = (
            4.6  # predicted log-magnitude is clamped here (exp(4.6) ~ 100) so early training cannot explode
        )
        # fast Griffin-Lim projections after the network (trained through; see _refine): more is closer
        # to consistent and slower; None = 16 for a new vocoder, the trained value for a loaded one
        refine_iters: int | None = None
        # multiplicative updates pulling the predicted magnitude's mel onto the input mel (non-negative
        # least squares, as Griffin-Lim's inverse)
        mel_consistency: int = 10
        refine_momentum: float = 0.99  # fast Griffin-Lim momentum of those projections
        magnitude_prior: bool = (
            True  # predict log-magnitude as a residual over the mel's least-squares inverse (faster training)
        )
        checkpoint: str | None = (
            None  # load trained weights from this vocoder.pt (or a run folder holding one)
        )

        def __post_init__(self) -> None:
            for key in ("dim", "intermediate_dim", "num_layers", "kernel_size"):
                if getattr(self, key) < 1:
                    raise ConfigError(f"vocoder.{key}={getattr(self, key)!r} must be >= 1")
            if self.refine_iters is not None and self.refine_iters < 0:
                raise ConfigError(f"vocoder.refine_iters={self.refine_iters!r} must be >= 0")
            if not 0 <= self.refine_momentum < 2:
                raise ConfigError(f"vocoder.refine_momentum={self.refine_momentum!r} must be in [0, 2)")
            if self.kernel_size % 2 == 0:
                raise ConfigError(
                    f"vocoder.kernel_size={self.kernel_size} must be odd (same-length convolution)"
                )
            if self.phase not in ("angle", "cossin"):
                raise ConfigError(f"vocoder.phase={self.phase!r}: expected 'angle' or 'cossin'")
            if self.mel_consistency < 0:
                raise ConfigError(f"vocoder.mel_consistency={self.mel_consistency!r} must be >= 0")

    def __init__(self, config: Any | None, feature_config: FeatureConfig, num_classes: int = 0) -> None:
        config = config if config is not None else self.Config()
        saved = None
        if config.checkpoint:
            # The saved file, not the defaults, decides the architecture; only `checkpoint` is kept,
            # and `refine_iters` when given (a speed/quality knob, like Griffin-Lim's n_iter).
            saved = read_vocoder_file(config.checkpoint, feature_config, expect_name=self.name)
            fields = {f.name for f in dataclasses.fields(self.Config)}
            arch = {k: v for k, v in saved["vocoder"]["config"].items() if k in fields and k != "checkpoint"}
            # Files saved before a setting existed were trained without it: keep them that way.
            arch = {**SETTINGS_ADDED_LATER, **arch}
            if config.refine_iters is not None:
                arch["refine_iters"] = config.refine_iters
            config = dataclasses.replace(self.Config(**arch), checkpoint=config.checkpoint)
        if config.refine_iters is None:
            config = dataclasses.replace(config, refine_iters=DEFAULT_REFINE_ITERS)
        super().__init__(config, feature_config, num_classes)
        fc = feature_config
        if fc.hop_length >= fc.win:
            raise ConfigError(
                f"vocoder istft needs overlapping frames: "
                f"feature.hop_length={fc.hop_length} must be < window {fc.win}"
            )
        cfg = self.config
        self.n_fft, self.hop_length, self.win_length = fc.n_fft, fc.hop_length, fc.win
        n_bins = fc.n_fft // 2 + 1
        # Input scaling: per-bin statistics when the data gave them (saved with the weights, so a
        # loaded vocoder keeps the scaling it was trained with), else a fixed affine for log-mel.
        mean = torch.tensor(fc.mel_mean) if fc.mel_mean is not None else torch.full((fc.n_mels,), -5.0)
        std = torch.tensor(fc.mel_std) if fc.mel_std is not None else torch.full((fc.n_mels,), 3.0)
        self.register_buffer("in_mean", mean.float().view(1, -1, 1))
        self.register_buffer("in_std", std.float().clamp_min(1e-3).view(1, -1, 1))
        self.embed = nn.Conv1d(fc.n_mels, cfg.dim, cfg.kernel_size, padding=cfg.kernel_size // 2)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(cfg.dim, cfg.intermediate_dim, cfg.kernel_size, 1.0 / cfg.num_layers)
            for _ in range(cfg.num_layers)
        )
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, (3 if cfg.phase == "cossin" else 2) * n_bins)
        self.register_buffer("window", torch.hann_window(fc.win), persistent=False)
        if cfg.magnitude_prior or cfg.mel_consistency:
            # Least-squares inverse of the front end's own mel filterbank (F, M): the network then
            # starts where Griffin-Lim's magnitude starts and learns corrections plus the phase.
            from audiogan.features import MelFrontEnd

            basis = MelFrontEnd(fc).mel.mel_scale.fb.detach().double()  # (F, M)
            self.register_buffer("mel_basis", basis.float(), persistent=False)
            self.register_buffer("inverse_basis", torch.linalg.pinv(basis.T).float(), persistent=False)
        self.apply(self._init_weights)
        if saved is not None:
            try:
                self.load_state_dict(saved["vocoder"]["state_dict"])
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0]
                raise CheckpointError(
                    f"{cfg.checkpoint}: weights do not fit vocoder istft: {first[:200]}"
                ) from None

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # Vocos' init: small truncated-normal weights keep the initial log-magnitude near zero.
        if isinstance(module, (nn.Conv1d, nn.Linear)):
            nn.init.trunc_normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)

    def spectrum(self, mel: torch.Tensor) -> torch.Tensor:
        """Predict the complex STFT: ``mel (B, M, T) -> (B, F, T)`` complex64 (computed in float32)."""
        spec, magnitude = self._predict(mel)
        return self._refine(spec, magnitude)

    def _predict(self, mel: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's own spectrum and its magnitude, both ``(B, F, T)``, before any projection."""
        x = (mel - self.in_mean) / self.in_std
        x = self.norm(self.embed(x).transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        out = self.head(self.final_norm(x.transpose(1, 2))).float()  # (B, T, k*F); float32 for the FFT
        out = out.transpose(1, 2)
        n_bins = self.n_fft // 2 + 1
        log_mag = out[:, :n_bins]
        if self.config.magnitude_prior:
            with torch.autocast(device_type=mel.device.type, enabled=False):
                linear = torch.matmul(self.inverse_basis, mel.float().exp())  # (B, F, T)
            log_mag = log_mag + linear.clamp_min(self.feature_config.log_floor).log()
        magnitude = torch.exp(log_mag.clamp(max=self.config.max_log_mag))
        if self.config.mel_consistency:
            magnitude = self._mel_consistent(magnitude, mel)
        if self.config.phase == "angle":
            # Vocos: one unconstrained angle per bin; cos/sin make it periodic, so no wrapping issue.
            spec = torch.polar(magnitude, out[:, n_bins:])
        else:
            # cossin: a 2-D vector per bin whose direction is the phase (scale-free, no 2*pi ambiguity).
            re, im = out[:, n_bins : 2 * n_bins], out[:, 2 * n_bins :]
            norm = torch.sqrt(re * re + im * im + 1e-9)
            spec = torch.complex(magnitude * re / norm, magnitude * im / norm)
        return spec, magnitude

    def _mel_consistent(self, magnitude: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """``mel_consistency`` multiplicative non-negative least-squares updates of ``magnitude``
        ``(B, F, T)`` towards ``basis.T @ magnitude = exp(mel)`` (the updates Griffin-Lim's mel inverse
        makes).

        Why: the network's magnitude, fitted bin by bin, need not add up to the mel it was given;
        these updates keep its shape within each band and restore the bands' totals, which is what
        the log-mel of the output is judged on.
        """
        with torch.autocast(device_type=mel.device.type, enabled=False):
            batch, n_bins, n_frames = magnitude.shape
            # Dense products: the basis is ~2 % non-zero, but CSR products measured no faster here
            # (10 updates of 10 s of audio: 17.7 ms dense, 18.6 ms CSR, one thread).
            basis = self.mel_basis  # (F, M)
            basis_t = basis.T.contiguous()
            # Frames as columns: (F, B*T) and (M, B*T), so every product is one 2-D matmul.
            target = mel.float().exp().transpose(0, 1).reshape(-1, batch * n_frames)
            columns = magnitude.float().transpose(0, 1).reshape(n_bins, batch * n_frames)
            numerator = basis @ target
            for _ in range(self.config.mel_consistency):
                columns = columns * numerator / (basis @ (basis_t @ columns) + 1e-9)
            return columns.reshape(n_bins, batch, n_frames).transpose(0, 1)

    def _refine(self, spec: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
        """``refine_iters`` fast Griffin-Lim projections of ``spec`` onto consistent spectra, keeping
        ``magnitude``.

        Why: a frame-rate convolutional network is translation-equivariant, so over a steady sound
        it predicts the same phase frame after frame, while a partial between two bin centres needs
        its phase to advance by 2*pi*f*hop/sr every frame; away from the edges of its input it can
        only approximate that. A few overlap-add/re-analysis rounds repair the frame-to-frame
        coherence, and because training runs through them the network learns the magnitude and
        the starting phase they converge from (Deep Griffin-Lim, Masuyama et al. 2019, puts a
        network around the same projection). Measured on FSDD (see benchmarks/RESULTS.md and the
        module docstring), this is what took the vocoder past Griffin-Lim's MR-STFT distance.
        """
        n_frames = spec.shape[-1]
        length = (n_frames - 1) * self.hop_length  # the signal whose centred STFT has n_frames frames
        iters = (
            self.config.refine_iters if length > self.n_fft // 2 else 0
        )  # a few frames: too short to re-analyse
        if iters == 0:
            return spec
        with torch.autocast(device_type=spec.device.type, enabled=False):
            angles, previous = _unit(spec), None
            for _ in range(iters):
                wave = torch.istft(
                    magnitude * angles,
                    self.n_fft,
                    self.hop_length,
                    self.win_length,
                    self.window,
                    center=True,
                    length=length,
                )
                rebuilt = torch.stft(
                    wave,
                    self.n_fft,
                    self.hop_length,
                    self.win_length,
                    self.window,
                    center=True,
                    return_complex=True,
                )
                target = (
                    rebuilt
                    if previous is None
                    else rebuilt + self.config.refine_momentum * (rebuilt - previous)
                )
                previous = rebuilt
                angles = _unit(target)
            return magnitude * angles

    def forward(
        self, mel: torch.Tensor, return_magnitude: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Synthesise audio: ``mel (B, M, T)`` natural-log magnitude mel -> ``(B, T * hop_length)`` waveform.

        With ``return_magnitude``, ``(waveform, magnitude)``: also the predicted linear STFT
        magnitude ``(B, n_fft // 2 + 1, T)`` (Hann window of ``win_length``, ``hop_length``, centred
        frames), the target of training's direct magnitude loss.
        """
        spec, magnitude = self._predict(mel)
        length = mel.shape[-1] * self.hop_length
        if self._fast_refine_applies(spec):
            # Inference: the same projections through Griffin-Lim's buffer-reusing loop (~2x faster).
            from audiogan_plugins.griffinlim import griffin_lim

            with torch.autocast(device_type=spec.device.type, enabled=False):
                wave = griffin_lim(
                    magnitude.float(),
                    self.window,
                    self.n_fft,
                    self.hop_length,
                    self.config.refine_iters,
                    self.config.refine_momentum,
                    length=(mel.shape[-1] - 1) * self.hop_length,
                    init=_unit(spec),
                    out_length=length,
                )
            return (wave, magnitude) if return_magnitude else wave
        spec = self._refine(spec, magnitude)
        with torch.autocast(device_type=spec.device.type, enabled=False):
            # length = T * hop: the contract's S; the last half-frame is kept rather than cut.
            wave = torch.istft(
                spec,
                self.n_fft,
                self.hop_length,
                self.win_length,
                self.window,
                center=True,
                length=length,
            )
        return (wave, magnitude) if return_magnitude else wave

    def _fast_refine_applies(self, spec: torch.Tensor) -> bool:
        """Projections without gradients, on a window that fits the FFT (Griffin-Lim's fast loop does those).

        Not while tracing (``audiogan export``): its preallocated buffers would freeze one length.
        """
        length = (spec.shape[-1] - 1) * self.hop_length
        return (
            self.config.refine_iters > 0
            and not torch.is_grad_enabled()
            and not torch.jit.is_tracing()
            and self.win_length == self.n_fft
            and length > self.n_fft // 2
        )

    @property
    def context_frames(self) -> int:
        """Frames of context one side of an output frame depends on (convolutions + iSTFT overlap).

        A caller vocoding a long sequence in overlapping windows needs at least this much context
        on each side for the windows to agree exactly with one-shot vocoding.
        """
        cfg = self.config
        # Each projection (iSTFT then STFT) reaches one window further each side.
        overlap = -(-self.win_length // self.hop_length)
        return (cfg.num_layers + 1) * (cfg.kernel_size // 2) + (2 * cfg.refine_iters + 1) * overlap

    def fit(self, *args: Any, **kwargs: Any) -> Any:
        """Train adversarially with the engine's vocoder loop (:func:`audiogan.fit_vocoder`)."""
        return audiogan.fit_vocoder(self, *args, **kwargs)


def _unit(z: torch.Tensor) -> torch.Tensor:
    """``z / |z|``: exactly ``torch.sgn`` (as Griffin-Lim's fast loop) without gradients; with them
    ``z / (|z| + eps)``, so silent bins keep a finite gradient."""
    return z / (z.abs() + 1e-7) if torch.is_grad_enabled() else torch.sgn(z)


# --------------------------------------------------------------------------- saved vocoders


def layout_mismatch(saved: dict[str, Any], current: FeatureConfig) -> list[str]:
    """``["n_mels: saved 80, run 64", ...]`` for every layout field that differs."""
    now = current.to_dict()
    return [
        f"{k}: saved {saved.get(k)!r}, run {now.get(k)!r}"
        for k in LAYOUT_FIELDS
        if saved.get(k) != now.get(k)
    ]


def read_vocoder_file(
    path: str | Path, feature_config: FeatureConfig | None = None, expect_name: str | None = None
) -> dict:
    """Load a ``vocoder.pt`` (or the one inside a run folder) safely and check it against ``feature_config``.

    :raises CheckpointError: missing, unsafe or wrong-format file; another vocoder's weights; or a
        FeatureConfig whose layout differs from the run's (naming both values).
    """
    from audiogan.checkpoint import load_checkpoint

    path = Path(path)
    if path.is_dir():
        path = path / "vocoder.pt"
    data = load_checkpoint(path, kind="vocoder")
    if not isinstance(data.get("vocoder"), dict) or not isinstance(data["vocoder"].get("state_dict"), dict):
        raise CheckpointError(f"{path}: malformed vocoder file (no 'vocoder' record with weights)")
    name = data["vocoder"].get("name")
    if expect_name is not None and name != expect_name:
        raise CheckpointError(f"{path}: holds vocoder {name!r}, not {expect_name!r}")
    if feature_config is not None:
        diffs = layout_mismatch(data.get("feature_config", {}), feature_config)
        if diffs:
            raise CheckpointError(
                f"{path}: vocoder FeatureConfig does not match the run's: {'; '.join(diffs)}"
            )
    return data


@audiogan.hookimpl
def register_vocoders() -> list[type[audiogan.Vocoder]]:
    """The built-in neural vocoder."""
    return [ISTFTVocoder]


__all__ = ["ISTFTVocoder", "ConvNeXtBlock", "read_vocoder_file", "layout_mismatch", "LAYOUT_FIELDS"]
