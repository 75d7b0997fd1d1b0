"""The :class:`Synthesizer`: a trained generator plus a vocoder, turning seeds into waveforms.

Shapes: B = batch, T = frames, M = n_mels, S = samples. The generator makes normalised frames
``(B, T, M)``; :class:`~audiogan.features.MelFrontEnd` de-normalises them into the vocoder's
log-mel ``(B, M, T)``; the vocoder returns ``(B, S)``.

Seed rule (bit-identical output on one device, independent of batch size): every clip owns a
seed. Its latent ``z`` is drawn first from a CPU ``torch.Generator`` seeded with it (so ``z`` is
the same on every device), then, for a conditional model asked for no label, its label; the
generator's own per-frame noise is drawn from a private copy of torch's global RNG seeded with
the clip seed, saved and restored around each generator call, so neither the caller's RNG nor
the other clips of the batch touch it. The generator always runs in blocks of
:data:`BLOCK_FRAMES` frames carrying its recurrent state, so one long clip and a stream of chunks
make exactly the same calls and hence the same frames.

Lengths: a crop-mode run makes clips of the length asked for (1 s by default). A whole-sound run
(its generator file holds a ``sound`` record, :func:`audiogan.checkpoint.sound_record`) makes a
canvas of frames and each clip ends where its own sound ends (the training trim rule, plus the
run's ``pad_frames``), faded out; asked for ``seconds``, the clip is padded with silence after
the sound, or cut (with the same fade) when the sound is longer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from audiogan.config import FeatureConfig
from audiogan.data.whole import FRAME_LIMIT, bound_frames, silence_floor, sound_frames
from audiogan.errors import ConfigError
from audiogan.features import MelFrontEnd
from audiogan.generation.sampling import (
    FADE_OUT_MS,
    OverlapVocoder,
    RngStream,
    crossfade_samples,
    dbfs,
    fade_out,
    fit_length,
    latent,
    slerp,
    trim_silence,
    vocode_long,
    window_context_frames,
)

__all__ = [
    "BLOCK_FRAMES",
    "Clip",
    "ClipRequest",
    "OverlapVocoder",
    "Synthesizer",
    "latent",
    "slerp",
    "trim_silence",
]

#: Frames per generator call. Fixed so that a clip's frames do not depend on how it is requested.
BLOCK_FRAMES = 32
SILENCE_PEAK = 1e-4  # -80 dBFS: below this a clip is reported silent and left unscaled
#: Clip length when a crop-mode run is asked for none (a whole-sound run uses its learned lengths).
DEFAULT_SECONDS = 1.0
#: Silence between consecutive sounds when a whole-sound run is streamed.
STREAM_GAP_SECONDS = 0.25
#: Default ceiling on the normalisation gain: a barely audible clip is mostly noise, and raising
#: it all the way to the headroom would play that noise at full scale.
MAX_GAIN_DB = 40.0


@dataclasses.dataclass
class ClipRequest:
    """One clip to make: its seed, label (class index or None), and optional overrides."""

    seed: int
    label: int | None = None
    z: torch.Tensor | None = None  # overrides the seed's latent (latent interpolation)
    label_weights: torch.Tensor | None = None  # (num_classes,) mixture (label interpolation)
    info: dict[str, Any] = dataclasses.field(default_factory=dict)  # carried into Clip.info


@dataclasses.dataclass
class Clip:
    """A rendered clip: ``audio (S,)`` float32 plus what produced it and how it was scaled."""

    audio: np.ndarray
    seed: int
    label: int | None
    peak_dbfs: float  # before scaling
    gain_db: float  # applied by peak normalisation (0 when off or silent; at most max_gain_db)
    silent: bool
    info: dict[str, Any]
    gain_capped: bool = False  # normalisation wanted more than max_gain_db and got max_gain_db


class _GeneratorStream:
    """One sequence being generated: z, label, RNG and recurrent state, read in any frame counts."""

    def __init__(self, synth: Synthesizer, request: ClipRequest, truncation: float | None) -> None:
        self.synth = synth
        g = synth.generator
        if request.z is not None:
            z = request.z.float()
        else:
            z = latent(request.seed, g.latent_dim, truncation)
        self.z = z.unsqueeze(0).to(synth.device)
        self.labels = None if request.label is None else torch.tensor([request.label], device=synth.device)
        self.weights = (
            None
            if request.label_weights is None
            else request.label_weights.float().unsqueeze(0).to(synth.device)
        )
        self.rng = RngStream(request.seed, synth.device)
        self.state: Any = None
        self.buffer = torch.zeros(1, 0, synth.feature_config.n_mels, device=synth.device)
        self.checked = False

    def _block(self) -> torch.Tensor:
        def call() -> tuple[torch.Tensor, Any]:
            if self.weights is not None and getattr(self.synth.generator, "accepts_label_weights", False):
                return self.synth.generator(self.z, self.weights, BLOCK_FRAMES, self.state)
            with self.synth._label_mixing(self.weights):
                return self.synth.generator(self.z, self.labels, BLOCK_FRAMES, self.state)

        from audiogan.contracts import call as plugin_call

        frames, self.state = plugin_call(self.synth.generator, self.rng.run, call)  # errors name the plugin
        if not self.synth._generator_checked:
            from audiogan.contracts import check_generator_output

            check_generator_output(self.synth.generator, frames, 1, BLOCK_FRAMES)
            self.synth._generator_checked = True
        return frames

    def read(self, n: int) -> torch.Tensor:
        """The next ``n`` frames ``(1, n, M)``, normalised."""
        while self.buffer.shape[1] < n:
            self.buffer = torch.cat([self.buffer, self._block()], dim=1)
        out, self.buffer = self.buffer[:, :n], self.buffer[:, n:]
        return out


class Synthesizer:
    """A generator, its FeatureConfig and a vocoder: ``generate`` clips or ``stream`` endlessly.

    Build one with :func:`audiogan.load`. ``class_names`` are the labels a conditional model knows.
    """

    def __init__(
        self,
        generator: nn.Module,
        feature_config: FeatureConfig,
        vocoder: nn.Module,
        class_names: Sequence[str] = (),
        device: str | torch.device = "cpu",
        vocoder_name: str = "",
        meta: dict[str, Any] | None = None,
        headroom_db: float = -1.0,
        max_vocode_frames: int = 4096,
        max_gain_db: float = MAX_GAIN_DB,
    ) -> None:
        self.device = torch.device(device)
        self.generator = generator.to(self.device).eval()
        self.feature_config = feature_config
        self.vocoder = vocoder.to(self.device).eval()
        self.vocoder_name = vocoder_name or getattr(vocoder, "name", type(vocoder).__name__)
        self.class_names = list(class_names)
        self.meta = dict(meta or {})
        self.headroom_db = float(headroom_db)
        self.max_gain_db = _check_max_gain(max_gain_db)
        self.max_vocode_frames = int(max_vocode_frames)  # longer clips are vocoded in overlapping windows
        self.front = MelFrontEnd(feature_config).to(self.device)
        self._generator_checked = False
        self._vocoder_checked = False
        self._batch_invariant: bool | None = None

    # ------------------------------------------------------------------ properties and labels

    @property
    def sample_rate(self) -> int:
        """Output sample rate in Hz."""
        return self.feature_config.sample_rate

    @property
    def sound(self) -> dict[str, Any] | None:
        """A whole-sound run's ``sound`` record (canvas frames, trim threshold, frames kept after a
        sound; see :func:`audiogan.checkpoint.sound_record`); None for a crop-mode run."""
        record = self.meta.get("sound")
        return record if isinstance(record, dict) and record.get("mode") == "whole" else None

    @property
    def num_classes(self) -> int:
        """Number of labels the generator was trained with (0: unconditional)."""
        return len(self.class_names)

    def label_index(self, label: str | int | None) -> int | None:
        """Class index of ``label`` (a class name, or an index); unknown labels list the known ones."""
        if label is None:
            return None
        if not self.class_names:
            raise ConfigError(f"label {label!r} given but this model is unconditional (it has no labels)")
        if isinstance(label, str) and label in self.class_names:
            return self.class_names.index(label)
        if (
            isinstance(label, (int, np.integer))
            and not isinstance(label, bool)
            and 0 <= int(label) < self.num_classes
        ):
            return int(label)
        # Names printed through repr() only when odd: a folder name may hold a newline or NUL.
        names = ", ".join(n if n.isprintable() else repr(n) for n in self.class_names)
        raise ConfigError(f"unknown label {label!r}; this model's labels: {names}")

    def frames_for(self, seconds: float) -> tuple[int, int]:
        """``(n_frames, n_samples)`` to make ``seconds`` of audio (frames cover every sample)."""
        if not seconds > 0 or not math.isfinite(seconds):
            raise ConfigError(f"seconds={seconds!r} must be a positive number")
        n_samples = max(1, int(round(seconds * self.sample_rate)))
        return math.ceil(n_samples / self.feature_config.hop_length) + 1, n_samples

    # ------------------------------------------------------------------ building blocks

    @contextlib.contextmanager
    def _label_mixing(self, weights: torch.Tensor | None) -> Iterator[None]:
        """Make the generator see a mixture of label embeddings instead of one class.

        Generators that set ``accepts_label_weights = True`` get ``(B, num_classes)`` float labels
        directly (see ``_GeneratorStream``); for the others the generator's own label
        ``nn.Embedding`` (the only one with ``num_classes`` rows) has its output replaced by
        ``weights @ embedding.weight`` through a forward hook, for the duration of one call.
        """
        if weights is None:
            yield
            return
        embedding = _label_embedding(self.generator, self.num_classes)
        if embedding is None:
            raise ConfigError(
                f"generator {getattr(self.generator, 'name', '?')!r} has no label embedding with "
                f"{self.num_classes} rows, so labels cannot be interpolated"
            )

        def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
            mix = weights.to(module.weight.dtype) @ module.weight  # (B, D)
            while mix.dim() < output.dim():
                mix = mix.unsqueeze(1)
            return mix.expand_as(output)

        handle = embedding.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def _raw_vocode(self, mel: torch.Tensor) -> torch.Tensor:
        from audiogan.contracts import call as plugin_call

        wave = plugin_call(self.vocoder, self.vocoder, mel)  # errors name the plugin
        if not self._vocoder_checked:
            from audiogan.contracts import check_vocoder_output

            check_vocoder_output(self.vocoder, wave, mel.shape[0], mel.shape[-1])
            self._vocoder_checked = True
        return wave.float()

    def batch_invariant(self) -> bool:
        """Whether the vocoder gives each row the same audio whatever else is in the batch.

        A vocoder whose output for a row depends on its neighbours (a batch-position-dependent
        random start, batch-dependent FFT rounding) would break the seed-per-clip rule, so such
        vocoders run one clip at a time; probed once on a few random frames. The built-in
        Griffin-Lim passes (one shared start phase; rows run one by one on the CPU).
        """
        if self._batch_invariant is None:
            g = torch.Generator().manual_seed(1234)
            mel = (torch.randn(2, self.feature_config.n_mels, 6, generator=g) - 4.0).to(self.device)
            with torch.no_grad():
                both = self._raw_vocode(mel)
                alone = self._raw_vocode(mel[1:])
            self._batch_invariant = bool(torch.allclose(both[1:], alone, atol=1e-5, rtol=1e-4))
        return self._batch_invariant

    def vocode(self, frames: torch.Tensor) -> torch.Tensor:
        """Normalised frames ``(B, T, M)`` -> waveform ``(B, S)``, long inputs in overlapping windows."""
        mel = self.front.to_vocoder(frames.to(self.device))
        with torch.no_grad():
            return vocode_long(
                self._raw_vocode,
                mel,
                self.feature_config.hop_length,
                self.context_frames(),
                self.crossfade_samples(),
                self.max_vocode_frames,
            )

    def context_frames(self) -> int:
        """Frames of context either side of a vocoding window (see :func:`window_context_frames`)."""
        return window_context_frames(self.feature_config, self.vocoder)

    def crossfade_samples(self) -> int:
        """Crossfade length between windows: two hops."""
        return crossfade_samples(self.feature_config)

    def target_peak(self) -> float:
        """Linear peak that normalisation scales to (``headroom_db`` dBFS)."""
        return float(10 ** (self.headroom_db / 20))

    def normalising_gain(self, peak: float, max_gain_db: float | None = None) -> tuple[float, bool]:
        """``(gain, capped)``: the linear gain taking ``peak`` to the headroom, at most ``max_gain_db``.

        :param max_gain_db: the ceiling in dB (None: this synthesizer's ``max_gain_db``).
        """
        ceiling = self.max_gain_db if max_gain_db is None else _check_max_gain(max_gain_db)
        gain = self.target_peak() / peak
        if 20 * math.log10(gain) > ceiling:
            return float(10 ** (ceiling / 20)), True
        return gain, False

    # ------------------------------------------------------------------ generation

    def requests(
        self, n: int, labels: str | int | Sequence[str | int | None] | None = None, seed: int = 0
    ) -> list[ClipRequest]:
        """Clip ``k`` gets seed ``seed + k``; ``labels`` is one label for all, or one per clip."""
        if n < 1:
            raise ConfigError(f"n={n} must be >= 1")
        if seed < 0:
            raise ConfigError(f"seed={seed} must be >= 0")
        if labels is None or isinstance(labels, (str, int, np.integer)):
            per_clip = [labels] * n
        else:
            per_clip = list(labels)
            if len(per_clip) != n:
                raise ConfigError(f"{len(per_clip)} labels given for n={n} clips")
        out = []
        for k, lab in enumerate(per_clip):
            index = self.label_index(lab)
            if index is None and self.num_classes:
                # No label asked of a conditional model: the clip's own seed picks one.
                g = torch.Generator().manual_seed(seed + k)
                torch.randn(self.generator.latent_dim, generator=g)  # z comes first (see seed rule)
                index = int(torch.randint(self.num_classes, (1,), generator=g))
            out.append(ClipRequest(seed=seed + k, label=index))
        return out

    def frames(self, request: ClipRequest, n_frames: int, truncation: float | None = None) -> torch.Tensor:
        """The normalised frames ``(n_frames, M)`` of one clip (a whole-sound run's within the
        bounds its real frames had: :func:`audiogan.data.whole.bound_frames`)."""
        with torch.no_grad():
            frames = _GeneratorStream(self, request, truncation).read(n_frames)[0]
        sound = self.sound
        if sound is None:
            return frames
        limit = float(sound.get("frame_limit", FRAME_LIMIT))
        floor = torch.from_numpy(silence_floor(self.feature_config, limit))
        return bound_frames(frames, floor, limit)

    def sound_frames(self, frames: torch.Tensor) -> int:
        """How many of a whole-sound run's generated ``frames (T, M)`` hold the sound (its learned
        length); all of them for a crop-mode run."""
        if self.sound is None:
            return int(frames.shape[0])
        return sound_frames(frames.float().cpu().numpy(), self.feature_config, self.sound, at_least=2)

    def whole_frames(self, request: ClipRequest, truncation: float | None = None) -> torch.Tensor:
        """A whole-sound run's clip at its learned length ``(L, M)``: the canvas, cut where the sound ends."""
        if self.sound is None:
            raise ConfigError("learned lengths need a whole-sound run (data.mode=whole); give seconds")
        frames = self.frames(request, int(self.sound["canvas_frames"]), truncation)
        return frames[: self.sound_frames(frames)]

    def render(
        self,
        requests: Sequence[ClipRequest],
        seconds: float | None = None,
        batch_size: int = 16,
        truncation: float | None = None,
        normalise: bool = True,
        trim_db: float | None = None,
        max_gain_db: float | None = None,
        fade_out_ms: float = FADE_OUT_MS,
    ) -> list[Clip]:
        """Make one :class:`Clip` per request, ``seconds`` long (exactly, unless trimmed).

        :param seconds: the length of every clip; None: each clip's learned length in a whole-sound
            run (``Clip.info["sound_seconds"]`` records it), :data:`DEFAULT_SECONDS` in a crop-mode run.
            A whole-sound clip asked for more than its sound is padded with silence after it.
        :param max_gain_db: ceiling on the normalisation gain (None: this synthesizer's ``max_gain_db``).
        :param fade_out_ms: the last this many milliseconds fade to silence (raised cosine), so a clip
            cut at ``seconds`` does not end in a click; 0 leaves the end as the vocoder made it.
        """
        if not fade_out_ms >= 0:
            raise ConfigError(f"fade_out_ms={fade_out_ms!r} must be >= 0")
        if batch_size < 1:
            raise ConfigError(f"batch_size={batch_size} must be >= 1")
        if truncation is not None and not truncation > 0:
            raise ConfigError(f"truncation={truncation!r} must be > 0")
        if max_gain_db is not None:
            _check_max_gain(max_gain_db)  # before any generation work
        sound = self.sound
        if seconds is None and sound is None:
            seconds = DEFAULT_SECONDS
        n_frames, n_samples = self.frames_for(seconds) if seconds is not None else (0, 0)
        if sound is not None:  # the whole canvas is made; each clip is cut where its sound ends
            n_frames = int(sound["canvas_frames"])
        step = batch_size if self.batch_invariant() else 1
        hop = self.feature_config.hop_length
        fade = round(fade_out_ms * self.sample_rate / 1000.0)
        clips: list[Clip] = []
        for start in range(0, len(requests), batch_size):
            batch = requests[start : start + batch_size]
            mels = torch.stack([self.frames(r, n_frames, truncation) for r in batch])
            waves = torch.cat([self.vocode(mels[i : i + step]) for i in range(0, len(batch), step)])
            for request, mel, wave in zip(batch, mels, waves):
                audio = wave.cpu().numpy().astype(np.float32)
                if sound is None:
                    audio = fit_length(audio, n_samples)
                    clips.append(self._finish(audio, request, normalise, trim_db, max_gain_db, fade_out_ms))
                    continue
                end = min(self.sound_frames(mel) * hop, audio.shape[0])
                if seconds is not None:
                    end = min(end, n_samples)
                audio = fade_out(audio[:end], fade)  # faded where the sound (or the cut) ends
                if seconds is not None:
                    audio = fit_length(audio, n_samples)  # silence after a shorter sound
                request = dataclasses.replace(
                    request, info={**request.info, "sound_seconds": round(end / self.sample_rate, 6)}
                )
                clips.append(self._finish(audio, request, normalise, trim_db, max_gain_db, 0.0))
        return clips

    def generate(
        self,
        n: int = 1,
        seconds: float | None = None,
        labels: str | int | Sequence[str | int | None] | None = None,
        seed: int = 0,
        batch_size: int = 16,
        truncation: float | None = None,
        normalise: bool = True,
        trim_db: float | None = None,
        max_gain_db: float | None = None,
        fade_out_ms: float = FADE_OUT_MS,
    ) -> list[np.ndarray]:
        """``n`` clips of ``seconds`` each as float32 arrays at :attr:`sample_rate` (None: each
        clip's learned length in a whole-sound run, :data:`DEFAULT_SECONDS` in a crop-mode run).

        :param labels: a label (name or index) for every clip, one per clip, or None (a
            conditional model then picks each clip's label from its seed).
        :param seed: clip ``k`` uses seed ``seed + k`` (see the module's seed rule).
        :param truncation: draw ``z`` from a normal truncated to ``[-truncation, truncation]``.
        :param normalise: scale each clip's peak to ``headroom_db`` dBFS.
        :param trim_db: cut leading/trailing audio quieter than this many dB below the clip's loudest frame.
        :param max_gain_db: raise no clip by more than this many dB when normalising (None: this
            synthesizer's ``max_gain_db``, 40 by default); a quieter clip stays below the headroom
            and is reported with a warning.
        :param fade_out_ms: the length of the fade to silence at the end (0: none).
        """
        clips = self.render(
            self.requests(n, labels, seed),
            seconds,
            batch_size,
            truncation,
            normalise,
            trim_db,
            max_gain_db,
            fade_out_ms,
        )
        return [clip.audio for clip in clips]

    def _finish(
        self,
        audio: np.ndarray,
        request: ClipRequest,
        normalise: bool,
        trim_db: float | None,
        max_gain_db: float | None = None,
        fade_out_ms: float = 0.0,
    ) -> Clip:
        if not np.isfinite(audio).all():
            raise ConfigError(
                f"clip with seed {request.seed}: "
                f"the vocoder {self.vocoder_name!r} produced non-finite samples"
            )
        if trim_db is not None:
            audio = trim_silence(audio, self.feature_config.hop_length, trim_db)
        audio = fade_out(audio, round(fade_out_ms * self.sample_rate / 1000.0))
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        silent = peak < SILENCE_PEAK
        gain, capped = 1.0, False
        if silent:
            warnings.warn(
                f"clip with seed {request.seed} is silent (peak {dbfs(peak):.1f} dBFS)", stacklevel=3
            )
        elif normalise:
            gain, capped = self.normalising_gain(peak, max_gain_db)
            if capped:
                warnings.warn(
                    f"clip with seed {request.seed} is too quiet to normalise (peak {dbfs(peak):.1f} dBFS): "
                    f"gain capped at {20 * math.log10(gain):.1f} dB, peak now {dbfs(peak * gain):.1f} dBFS",
                    stacklevel=3,
                )
            audio = (audio * gain).astype(np.float32)
        return Clip(
            audio,
            request.seed,
            request.label,
            dbfs(peak),
            20 * math.log10(gain),
            silent,
            dict(request.info),
            capped,
        )

    # ------------------------------------------------------------------ streaming

    def stream_frames(
        self,
        chunk_frames: int,
        label: str | int | None = None,
        seed: int = 0,
        truncation: float | None = None,
    ) -> Iterator[torch.Tensor]:
        """Endless normalised frames ``(chunk_frames, M)`` per chunk; they concatenate to one long clip."""
        request = self.requests(1, label, seed)[0]
        stream = _GeneratorStream(self, request, truncation)
        while True:
            with torch.no_grad():
                yield stream.read(chunk_frames)[0]

    def stream(
        self,
        seconds_per_chunk: float,
        label: str | int | None = None,
        seed: int = 0,
        truncation: float | None = None,
        normalise: bool = True,
        max_chunks: int | None = None,
    ) -> Iterator[np.ndarray]:
        """Endless waveform chunks ``(S,)`` of ``seconds_per_chunk`` (rounded to whole frames).

        The generator's recurrent state is carried from chunk to chunk, so the frames are those
        of one long generation; the vocoder runs on overlapping windows (see
        :class:`OverlapVocoder`). With ``normalise`` the gain is set by the first non-silent
        chunk (at most ``max_gain_db``) and only ever lowered (when a later chunk would clip), so
        the level never pumps up.

        A whole-sound run has no endless sound to continue: its stream is one whole sound after
        another (seeds ``seed``, ``seed + 1``, ...; each at its learned length, normalised as
        :meth:`generate` does, then :data:`STREAM_GAP_SECONDS` of silence), cut into chunks.
        """
        if not seconds_per_chunk > 0:
            raise ConfigError(f"seconds_per_chunk={seconds_per_chunk!r} must be > 0")
        fc = self.feature_config
        chunk = max(1, int(round(seconds_per_chunk * fc.sample_rate / fc.hop_length)))
        if self.sound is not None:
            yield from self._stream_sounds(
                chunk * fc.hop_length, label, seed, truncation, normalise, max_chunks
            )
            return
        stream = _GeneratorStream(self, self.requests(1, label, seed)[0], truncation)
        context = self.context_frames()
        ov = OverlapVocoder(self._raw_vocode, fc.hop_length, context, self.crossfade_samples())
        gain: float | None = None
        made = 0
        while max_chunks is None or made < max_chunks:
            # The first read also takes `context` frames of look-ahead, so every chunk's samples
            # are final when it is emitted and each later read is exactly one chunk.
            with torch.no_grad():
                new = stream.read(chunk + context if made == 0 else chunk)
                audio = ov.push(self.front.to_vocoder(new))[0].cpu().numpy().astype(np.float32)
            if normalise:
                peak = float(np.max(np.abs(audio))) if audio.size else 0.0
                if peak >= SILENCE_PEAK and (gain is None or peak * gain > 1.0):
                    gain, capped = self.normalising_gain(peak)
                    if capped:
                        warnings.warn(
                            f"stream with seed {seed} starts too quiet to normalise "
                            f"(peak {dbfs(peak):.1f} dBFS): gain capped at {self.max_gain_db:.1f} dB",
                            stacklevel=2,
                        )
                if gain is not None:
                    audio = (audio * gain).astype(np.float32)
            made += 1
            yield audio

    def _stream_sounds(
        self,
        chunk_samples: int,
        label: str | int | None,
        seed: int,
        truncation: float | None,
        normalise: bool,
        max_chunks: int | None,
    ) -> Iterator[np.ndarray]:
        gap = np.zeros(int(round(STREAM_GAP_SECONDS * self.sample_rate)), dtype=np.float32)
        pending, made, next_seed = np.zeros(0, dtype=np.float32), 0, seed
        while max_chunks is None or made < max_chunks:
            while pending.shape[0] < chunk_samples:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # a quiet sound is not a reason to stop a stream
                    clip = self.render(self.requests(1, label, next_seed), None, 1, truncation, normalise)[0]
                pending = np.concatenate([pending, clip.audio, gap])
                next_seed += 1
            out, pending = pending[:chunk_samples], pending[chunk_samples:]
            made += 1
            yield out


def _check_max_gain(max_gain_db: float) -> float:
    try:
        value = float(max_gain_db)
    except (TypeError, ValueError):
        value = math.nan
    # inf is refused too: it would reach the manifest as non-standard JSON; 1000 dB is no ceiling.
    if not (math.isfinite(value) and value >= 0):
        raise ConfigError(f"max_gain_db={max_gain_db!r} must be a finite number >= 0 dB")
    return value


def _label_embedding(generator: nn.Module, num_classes: int) -> nn.Embedding | None:
    found = [
        m for m in generator.modules() if isinstance(m, nn.Embedding) and m.num_embeddings == num_classes
    ]
    return found[0] if len(found) == 1 else None
