"""Adversarial training of neural vocoders on a data folder (``audiogan train-vocoder``).

The recipe is HiFi-GAN's and Vocos': a multi-scale log-mel L1 (weight 45), waveform
discriminators (multi-period and multi-resolution STFT, see
:mod:`audiogan.vocoder.discriminators`) with a hinge or least-squares loss, and
discriminator feature matching (weight 2). Two reconstruction terms join them: Parallel WaveGAN's
multi-resolution STFT loss and, for vocoders that expose their predicted STFT magnitude (``istft``),
a direct log-magnitude L1 against the target's STFT. An optional warm-up trains on the
reconstruction losses alone first, which on a CPU budget does most of the work before the
discriminators join.

Data: the same folder dataset, feature cache and FeatureConfig as the GAN run. Each usable clip's
audio is decoded once (resampled to the run's rate) beside its cached log-mel; a batch is ``B``
aligned crops ``(mel (B, M, T), audio (B, T * hop))``, the vocoder's input being the mel of the
*whole* clip (as at generation time), not of the crop (see :mod:`audiogan.vocoder.data`). The losses
and the validation metric live in :mod:`audiogan.vocoder.losses`.

Run folder: the vocoder's training state lives in ``RUN/vocoder/`` (config.toml, checkpoints/,
metrics.jsonl, tensorboard/, samples/), managed by the engine's
:class:`~audiogan.training.runfolder.RunFolder`; the inference file is ``RUN/vocoder.pt`` (see
:func:`save_vocoder`).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from audiogan import __version__, contracts
from audiogan.checkpoint import FORMAT_VERSION, component_record, load_checkpoint, save_checkpoint
from audiogan.config import FeatureConfig, apply_overrides, from_dict, plain_config, without_stats
from audiogan.data.dataset import FeatureSet, load_dataset
from audiogan.errors import CheckpointError, ConfigError
from audiogan.plugins import Registry, resolve_registry
from audiogan.training import loop
from audiogan.training.config import select_device
from audiogan.training.loop import TrainResult
from audiogan.training.runfolder import RunFolder
from audiogan.training.trainer import Trainer
from audiogan.vocoder import discriminators as vd
from audiogan.vocoder.config import VocoderTrainConfig
from audiogan.vocoder.data import AudioClips, SegmentSampler
from audiogan.vocoder.losses import MultiResolutionSTFTLoss, MultiScaleMelLoss, log_mel_l1, magnitude_l1

__all__ = [
    "VocoderTrainConfig",
    "AudioClips",
    "SegmentSampler",
    "MultiScaleMelLoss",
    "MultiResolutionSTFTLoss",
    "log_mel_l1",
]


# --------------------------------------------------------------------------- the inference file


def vocoder_file(registry: Registry, vocoder: nn.Module, step: int = 0) -> dict[str, Any]:
    """The ``vocoder.pt`` payload of the run-folder contract (tensors and plain containers only)."""

    record = component_record(registry, "vocoder", vocoder.name, vocoder)
    # The file is the checkpoint: rebuilding from its config must not try to load another file.
    record["config"] = (
        {**record["config"], "checkpoint": None} if "checkpoint" in record["config"] else record["config"]
    )
    return {
        "format": "audiogan-vocoder",
        "format_version": FORMAT_VERSION,
        "audiogan_version": __version__,
        "vocoder": record,
        "feature_config": vocoder.feature_config.to_dict(),
        "step": int(step),
    }


def save_vocoder(path: Any, vocoder: nn.Module, registry: Registry | None = None, step: int = 0) -> Any:
    """Write ``vocoder.pt`` atomically (loads with ``--vocoder NAME --set vocoder.checkpoint=PATH``)."""

    return save_checkpoint(vocoder_file(resolve_registry(registry), vocoder, step), path)


# --------------------------------------------------------------------------- the step and the session


@dataclasses.dataclass
class VocoderBatch:
    """Aligned crops: ``frames`` ``(B, M, T)`` log-mel (the vocoder's input scale), ``mask`` ``(B, T)``
    True on real frames (False on padding of short clips), ``audio`` ``(B, T * hop)`` the target."""

    frames: torch.Tensor
    mask: torch.Tensor
    audio: torch.Tensor


class VocoderTrainer(Trainer):
    """The engine's :class:`~audiogan.training.trainer.Trainer` with a vocoder step: one
    waveform-discriminator update (after warm-up) and one vocoder update on aligned ``(mel, audio)`` crops.

    Everything but the step is the engine's: fused optimisers that skip non-finite updates on the
    device, gradient clipping, bf16 autocast, EMA, skip counters, ``state_dict`` and the learning-rate
    scaling the divergence guard applies. In its state dicts ``generator`` is the vocoder.
    """

    def __init__(
        self,
        vocoder: nn.Module,
        discriminator: nn.Module,
        tc: VocoderTrainConfig,
        device: torch.device,
        mel_loss: nn.Module,
        stft_loss: nn.Module | None = None,
    ) -> None:
        super().__init__(vocoder, discriminator, tc, device)  # type: ignore[arg-type]
        self.mel_loss = mel_loss.to(device)
        self.stft_loss = stft_loss.to(device) if stft_loss is not None else None
        # Only a forward that takes the keyword (a subclass overriding forward may not) is asked for it.
        self._predicts_magnitude = bool(getattr(vocoder, "predicts_magnitude", False)) and (
            "return_magnitude" in inspect.signature(vocoder.forward).parameters
        )

    def _schedule(self) -> None:
        # Cosine decay from the base rate to lr_final, times the divergence guard's scale.
        tc = self.tc
        # The discriminators' schedule starts when they join (after warm-up), so they do not join
        # with an already decayed learning rate.
        d_steps = max(tc.steps - tc.warmup_steps, 1)
        for opt, base, progress in (
            (self.opt_g, tc.lr_g, self.step_count / tc.steps),
            (self.opt_d, tc.lr_d, (self.step_count - tc.warmup_steps) / d_steps),
        ):
            factor = 1.0
            if tc.lr_schedule == "cosine":
                factor = 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))
            lr = (tc.lr_final + (base - tc.lr_final) * factor) * self.lr_scale
            for group in opt.param_groups:
                group["lr"] = lr

    def step(self, batch: VocoderBatch) -> None:  # type: ignore[override]
        """One D update (once past ``warmup_steps``) and one vocoder update; no host-device sync."""
        tc = self.tc
        self._schedule()
        mel = batch.frames.to(self.device, non_blocking=True)
        audio = batch.audio.to(self.device, non_blocking=True)
        zero = torch.zeros((), device=self.device)
        adversarial = self.step_count >= tc.warmup_steps and (tc.adv_weight > 0 or tc.fm_weight > 0)
        supervise_magnitude = tc.magnitude_weight > 0 and self._predicts_magnitude
        with self.autocast():
            if supervise_magnitude:
                fake, magnitude = self.g_run(mel, return_magnitude=True)
            else:
                fake, magnitude = self.g_run(mel), None
            fake = fake[..., : audio.shape[-1]].float()
        loss_d, norm_d, bad_d = zero, zero, torch.zeros((), dtype=torch.bool, device=self.device)
        real_feats: list = []
        if adversarial:
            self.discriminator.requires_grad_(True)
            with self.autocast():
                real_logits, real_feats = self.d_run(audio)
                fake_logits, _ = self.d_run(fake.detach())
                loss_d = vd.adversarial_losses(tc.loss, real_logits, fake_logits)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            norm_d = self._clip(self.d_params)
            bad_d = ~(torch.isfinite(loss_d) & torch.isfinite(norm_d))
            self._apply(self.opt_d, bad_d)
            self.discriminator.requires_grad_(False)  # frozen for the vocoder's backward
        loss_mel = self.mel_loss(fake, audio)
        loss_stft = self.stft_loss(fake, audio) if self.stft_loss is not None and tc.stft_weight > 0 else zero
        loss_mag = (
            magnitude_l1(magnitude, audio, self.generator, batch.mask.to(self.device))
            if magnitude is not None
            else zero
        )
        loss_adv, loss_fm = zero, zero
        if adversarial:
            with self.autocast():
                fake_logits, fake_feats = self.d_run(fake)
                loss_adv = vd.generator_adversarial_loss(tc.loss, fake_logits)
                loss_fm = vd.paired_feature_matching(real_feats, fake_feats)
        loss_g = (
            tc.mel_weight * loss_mel
            + tc.stft_weight * loss_stft
            + tc.magnitude_weight * loss_mag
            + tc.adv_weight * loss_adv
            + tc.fm_weight * loss_fm
        )
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        norm_g = self._clip(self.g_params)
        bad_g = ~(torch.isfinite(loss_g) & torch.isfinite(norm_g))
        self._apply(self.opt_g, bad_g)
        self._update_ema(bad_g)
        bad = (bad_d | bad_g).float()
        self.skipped += bad
        self.streak = (self.streak + 1.0) * bad
        ok = 1.0 - bad
        self.good += ok
        for key, value in (
            ("loss_d", loss_d),
            ("loss_g", loss_adv),
            ("loss_fm", loss_fm),
            ("loss_mel", loss_mel),
            ("loss_stft", loss_stft),
            ("loss_mag", loss_mag),
            ("grad_norm_d", norm_d),
            ("grad_norm_g", norm_g),
        ):
            value = torch.nan_to_num(value.detach().float(), nan=0.0, posinf=0.0, neginf=0.0) * ok
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.step_count += 1

    def pop_metrics(self) -> dict[str, float]:
        """The engine's metrics plus the scheduled learning rate of the vocoder right now."""
        out = super().pop_metrics()
        out["lr_now"] = float(self.opt_g.param_groups[0]["lr"])
        return out


# --------------------------------------------------------------------------- the session and fit


class _VocoderSession:
    """Vocoder training as the engine's loop sees it (a :class:`~audiogan.training.loop.LoopSession`)."""

    def __init__(
        self,
        vocoder: nn.Module,
        clips: AudioClips,
        tc: VocoderTrainConfig,
        tree: dict[str, Any],
        registry: Registry,
        run: RunFolder,
        device: torch.device,
        vocoder_path: Path,
    ) -> None:
        self.loop_config = tc
        self.tree, self.registry, self.run, self.device, self.vocoder_path = (
            tree,
            registry,
            run,
            device,
            vocoder_path,
        )
        self.fc: FeatureConfig = vocoder.feature_config
        fft_sizes = [max(32, int(round(self.fc.n_fft * scale))) for scale in tc.mrd_scales]
        discriminator = vd.build_discriminators(
            tc.discriminators,
            mpd_periods=tc.mpd_periods,
            mpd_channels=tc.mpd_channels,
            mrd_fft_sizes=fft_sizes,
            mrd_channels=tc.mrd_channels,
        )
        stft_loss = MultiResolutionSTFTLoss(self.fc, tc.mel_scales) if tc.stft_weight > 0 else None
        self.trainer = VocoderTrainer(
            vocoder, discriminator, tc, device, MultiScaleMelLoss(self.fc, tc.mel_scales), stft_loss
        )
        self.sampler = _PinnedSampler(
            SegmentSampler(clips, tc.batch_size, tc.segment_frames, seed=tc.seed), device
        )
        # Fixed listening/validation clips spread over the folder, cut to one common length.
        picks = np.linspace(0, len(clips) - 1, num=min(tc.samples, len(clips))).round().astype(int)
        frames = min(min(clips.mels[i].shape[0] for i in picks), 256)
        self.sample_names = [Path(clips.files[i]).stem for i in picks]
        self.sample_mels = torch.from_numpy(np.stack([clips.mels[i][:frames].T for i in picks]))  # (N, M, T)
        self.sample_audio = torch.from_numpy(
            np.stack([clips.audio[i][: frames * self.fc.hop_length] for i in picks])
        )

    @torch.no_grad()
    def check_contract(self) -> None:
        """Validate the vocoder's output once before training (an error names the plugin)."""
        vocoder = self.trainer.generator
        mels = self.sample_mels[:2].to(self.device)
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            contracts.check_vocoder_output(vocoder, vocoder(mels), mels.shape[0], mels.shape[-1])

    def checkpoint(self) -> dict[str, Any]:
        """The full training state (the engine's checkpoint format, tagged as a vocoder run)."""
        train_mod = loop
        return {
            "format": "audiogan-checkpoint",
            "format_version": 1,
            "audiogan_version": __version__,
            "kind": "vocoder",
            "config": self.tree,
            "feature_config": self.fc.to_dict(),
            "sampler": self.sampler.state_dict(),
            "rng": train_mod.rng_state(self.device),
            **self.trainer.state_dict(),
        }

    def restore(self, state: dict[str, Any], path: Path | str) -> None:
        """Load a checkpoint made by :meth:`checkpoint` (resume, or the divergence guard's restore)."""
        if state.get("kind") != "vocoder":
            raise CheckpointError(f"{path}: not a vocoder training checkpoint")
        try:
            self.trainer.load_state_dict(state)
            self.sampler.load_state_dict(state["sampler"])
            loop.set_rng_state(state["rng"], self.device)
        except (KeyError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise CheckpointError(
                f"{path}: does not match this vocoder and its discriminators: {first[:200]}"
            ) from None

    def save(self) -> None:
        """Checkpoint (keeping the last N) and the inference file ``vocoder.pt`` (EMA weights)."""
        step = self.trainer.step_count
        self.run.save(self.checkpoint(), step)
        if self.run.enabled:
            save_vocoder(self.vocoder_path, self.trainer.ema, self.registry, step)

    @torch.no_grad()
    def samples(self) -> Path | None:
        """Resynthesise the fixed clips with the EMA vocoder: WAV + PNG + TensorBoard + val log-mel L1."""
        ema = self.trainer.ema
        mels = self.sample_mels.to(self.device)
        waves = ema(mels).float()[..., : self.sample_audio.shape[-1]]
        l1 = float(np.mean([log_mel_l1(a, b.cpu(), self.fc) for a, b in zip(self.sample_audio, waves)]))
        step = self.trainer.step_count
        self.run.log_metrics({"step": step, "val_log_mel_l1": l1, "time": time.time()})
        self.run.scalars(step, {"val/log_mel_l1": l1})
        return self.run.write_samples(
            step, self.sample_names, self.sample_mels.transpose(1, 2), waves, self.fc.sample_rate
        )


class _PinnedSampler:
    """Wraps :class:`SegmentSampler` into :class:`VocoderBatch` es (audio pinned on CUDA; the loop pins
    the rest)."""

    def __init__(self, sampler: SegmentSampler, device: torch.device) -> None:
        self.inner, self.pin = sampler, device.type == "cuda"

    def next_batch(self) -> VocoderBatch:
        """The next batch of aligned crops."""
        mel, audio, mask = self.inner.next_batch()
        return VocoderBatch(mel, mask, audio.pin_memory() if self.pin else audio)

    def state_dict(self) -> dict[str, int]:
        """See :meth:`SegmentSampler.state_dict`."""
        return self.inner.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """See :meth:`SegmentSampler.load_state_dict`."""
        self.inner.load_state_dict(state)


def fit(
    vocoder: nn.Module,
    dataset: FeatureSet,
    run_dir: str | Path,
    train_config: VocoderTrainConfig | None = None,
    registry: Registry | None = None,
    resume: bool = False,
    progress: bool = True,
    config_tree: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``vocoder`` adversarially on ``dataset``'s clips; write ``RUN/vocoder/`` and ``RUN/vocoder.pt``.

    :param vocoder: any vocoder mapping log-mel ``(B, M, T)`` to ``(B, S)`` differentiably; built
        for ``dataset.feature_config``'s layout.
    :param dataset: a :class:`~audiogan.data.dataset.FeatureSet` (from
        :func:`~audiogan.data.dataset.load_dataset`).
    :param run_dir: the run folder; training state goes to ``run_dir/vocoder/`` (config.toml,
        checkpoints/, metrics.jsonl, tensorboard/, samples/) through the engine's RunFolder, so it
        never collides with a GAN's own checkpoints in the same run.
    :param resume: continue from ``run_dir/vocoder/checkpoints/last.pt`` (weights, optimisers, EMA,
        step, sampler, RNG).
    :param config_tree: what to write as ``vocoder/config.toml`` (default: train + vocoder + feature).
    :return: the engine's :class:`~audiogan.training.loop.TrainResult` (``run_dir`` = ``run_dir/vocoder``).
    :raises AudioganError: bad data, checkpoint or settings (one line naming it).
    """

    tc = train_config or VocoderTrainConfig()
    registry = resolve_registry(registry)
    run_dir = Path(run_dir)
    run = RunFolder(run_dir / "vocoder", keep=tc.keep_checkpoints)
    run.prepare(resume)
    resume_from = run.resume_path() if resume else None
    saved = load_checkpoint(resume_from, kind="checkpoint") if resume_from is not None else None
    device = select_device(tc.device)
    threads = torch.get_num_threads()
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    try:
        return _fit(
            vocoder, dataset, run_dir, run, tc, registry, device, saved, resume_from, progress, config_tree
        )
    finally:
        torch.set_num_threads(threads)


def _fit(
    vocoder: nn.Module,
    dataset: FeatureSet,
    run_dir: Path,
    run: RunFolder,
    tc: VocoderTrainConfig,
    registry: Registry,
    device: torch.device,
    saved: dict[str, Any] | None,
    resume_from: Path | None,
    progress: bool,
    config_tree: dict[str, Any] | None,
) -> TrainResult:
    torch.manual_seed(tc.seed)
    clips = AudioClips(
        dataset, min_frames=tc.segment_frames, max_seconds=tc.max_audio_seconds, progress=progress
    )
    tree = config_tree or {
        "train": dataclasses.asdict(tc),
        "vocoder": {"name": vocoder.name, **(plain_config(vocoder.config) or {})},
        "feature": vocoder.feature_config.settings(),
    }
    session = _VocoderSession(vocoder, clips, tc, tree, registry, run, device, run_dir / "vocoder.pt")
    if saved is not None:
        session.restore(saved, resume_from)
        run.truncate_metrics(session.trainer.step_count)
    del saved
    run.write_config(tree)
    session.check_contract()
    snapshot = (
        session.checkpoint() if resume_from is None else None
    )  # the guard's fallback before a first checkpoint
    result = loop.run_loop(session, snapshot, progress)
    run.close()
    return result


# --------------------------------------------------------------------------- train-vocoder


VOCODER_SECTIONS = ("train", "vocoder", "feature")


def run_feature_config(run_dir: str | Path) -> tuple[FeatureConfig | None, Path | None]:
    """The FeatureConfig of the GAN run in ``run_dir`` (from ``generator.pt``, else ``checkpoints/last.pt``)
    and the file it came from; ``(None, None)`` when the folder holds no GAN run."""
    run_dir = Path(run_dir)
    for path, kind in (
        (run_dir / "generator.pt", "generator"),
        (run_dir / "checkpoints" / "last.pt", "checkpoint"),
    ):
        if path.is_file():
            data = load_checkpoint(path, kind=kind)
            try:
                return FeatureConfig.from_dict(data["feature_config"]), path
            except (KeyError, TypeError, ConfigError) as exc:
                raise CheckpointError(f"{path}: malformed feature_config: {exc}") from None
    return None, None


def resolve_vocoder_config(
    tree: dict[str, Any] | None, overrides: Sequence[str] = ()
) -> tuple[VocoderTrainConfig, dict[str, Any], dict[str, Any]]:
    """``(train config, vocoder table with name, feature table)`` from a TOML-like tree plus ``--set``
    strings."""
    import copy

    tree = apply_overrides(copy.deepcopy(dict(tree or {})), list(overrides))
    unknown = sorted(set(tree) - set(VOCODER_SECTIONS))
    if unknown:
        raise ConfigError(
            f"unknown config section {unknown[0]!r}; train-vocoder knows: {', '.join(VOCODER_SECTIONS)}"
        )
    for section in VOCODER_SECTIONS:
        if not isinstance(tree.get(section, {}), dict):
            raise ConfigError(f"config section {section!r} must be a table")
    vocoder = {"name": "istft", **tree.get("vocoder", {})}
    if not isinstance(vocoder["name"], str):
        raise ConfigError(f"vocoder.name={vocoder['name']!r}: expected a string")
    feature = without_stats(tree.get("feature", {}))
    return from_dict(VocoderTrainConfig, tree.get("train"), section="train"), vocoder, feature


def train_vocoder(
    data_dir: str | Path,
    run_dir: str | Path,
    config: dict[str, Any] | None = None,
    overrides: Sequence[str] = (),
    resume: bool = False,
    registry: Registry | None = None,
    plugins: Sequence[str] = (),
    progress: bool = True,
) -> TrainResult:
    """``audiogan train-vocoder``: train a trainable vocoder plugin on ``data_dir`` for the run ``run_dir``.

    When ``run_dir`` holds a GAN run, its FeatureConfig (statistics included) is used and
    ``feature.*`` settings are refused; otherwise the FeatureConfig comes from ``[feature]`` /
    defaults and the data. The vocoder is saved as ``run_dir/vocoder.pt``, which generation picks
    up. On resume, the checkpoint's own config is the base and ``overrides`` apply on top.

    :return: the engine's TrainResult (``run_dir`` = ``run_dir/vocoder``).
    """

    registry = resolve_registry(registry, plugins)
    run_dir = Path(run_dir)
    saved_fc = None
    if resume:
        last = RunFolder(run_dir / "vocoder").resume_path()
        if last is None:
            raise ConfigError(
                f"--resume: no vocoder checkpoint to resume in {run_dir / 'vocoder' / 'checkpoints'}"
            )
        state = load_checkpoint(last, kind="checkpoint")
        config, saved_fc = state.get("config", {}), FeatureConfig.from_dict(state["feature_config"])
        del state
    tc, vocoder_table, feature_table = resolve_vocoder_config(config, overrides)
    gan_fc, source = run_feature_config(run_dir)
    if saved_fc is not None:
        fc = saved_fc
    elif gan_fc is not None:
        changed = {k: v for k, v in feature_table.items() if gan_fc.to_dict().get(k) != v}
        if changed:
            key = sorted(changed)[0]
            raise ConfigError(
                f"feature.{key}={changed[key]!r} differs from the GAN run's ({source}: "
                f"{gan_fc.to_dict().get(key)!r}); the vocoder must use the run's features"
            )
        fc = gan_fc
    else:
        from audiogan.config import from_dict

        fc = from_dict(FeatureConfig, feature_table, section="feature")
    dataset = load_dataset(data_dir, fc, cache_dir=tc.cache_dir, workers=tc.workers, progress=progress)
    name = vocoder_table.pop("name")
    if not getattr(registry.get("vocoder", name), "trainable", False):
        trainable = [
            n for n in registry.names("vocoder") if getattr(registry.get("vocoder", n), "trainable", False)
        ]
        raise ConfigError(
            f"vocoder.name={name!r} is not trainable; trainable vocoders: {', '.join(trainable) or '(none)'}"
        )
    vocoder = registry.build("vocoder", name, vocoder_table, dataset.feature_config, 0)
    tree = {
        "train": dataclasses.asdict(tc),
        "vocoder": {"name": name, **(plain_config(vocoder.config) or {})},
        "feature": dataset.feature_config.settings(),
    }
    return vocoder.fit(
        dataset, run_dir, tc, registry=registry, resume=resume, progress=progress, config_tree=tree
    )
