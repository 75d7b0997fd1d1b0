"""The training loop: data folder in, run folder out (see ``docs/architecture.md``).

:func:`train` loads (or resumes) everything, then repeats :meth:`Trainer.step` with a progress
bar, logging every ``log_every`` steps, checkpointing every ``checkpoint_every`` steps and
writing samples every ``sample_every`` steps and scoring the EMA generator every ``eval_every``
steps (window / frame Frechet distances and within-class diversity; the best window distance so
far is kept as ``checkpoints/best.pt``).
Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint and returns.

Under ``torchrun`` (see :mod:`audiogan.training.distributed`) every process runs this same loop: each
draws its own crops and latents, DDP averages the gradients, and rank 0 alone writes the run
folder, logs and shows progress. Decisions that end or rewind the loop (stop request, time
limit, divergence guard) are agreed across processes. A group that torchrun restarts after a
failure resumes from ``last.pt`` by itself.
"""

from __future__ import annotations

import dataclasses
import math
import signal
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from audiogan import __version__, contracts
from audiogan.checkpoint import generator_file, load_checkpoint, save_checkpoint, sound_record
from audiogan.config import FeatureConfig
from audiogan.data.dataset import SequenceSampler, load_dataset
from audiogan.data.holdout import holdout_indices
from audiogan.data.whole import WholeSounds, bound_frames, plan_whole
from audiogan.errors import AudioganError, CheckpointError
from audiogan.features import MelFrontEnd
from audiogan.plugins import resolve_registry
from audiogan.training import distributed
from audiogan.training.config import (
    LoopConfig,
    RunConfig,
    describe_profile,
    resolve_config,
    resolve_with_profile,
    select_device,
)
from audiogan.training.progress import Progress, describe_budget, describe_device
from audiogan.training.runfolder import RunFolder
from audiogan.training.trainer import Trainer

if TYPE_CHECKING:
    from audiogan.data.dataset import FeatureSet
    from audiogan.evaluation.in_training import TrainingEvaluator
    from audiogan.plugins import Registry


class TrainingDiverged(AudioganError):
    """Training kept producing non-finite values after the allowed number of restores."""


@dataclasses.dataclass
class TrainResult:
    """What a call to :func:`train` did."""

    run_dir: Path
    step: int
    interrupted: bool
    skipped: int
    restores: int
    metrics: dict[str, float]
    samples: Path | None


class _StopFlag:
    """Turns the first SIGINT/SIGTERM into a request to stop at the next step boundary."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # a second Ctrl-C means "now"
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def rng_state(device: torch.device) -> dict[str, Any]:
    """torch's global RNG state (and the device's on CUDA), for a checkpoint."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Mapping[str, Any], device: torch.device) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


class Batches(Protocol):
    """An endless stream of training batches with a resumable position."""

    def next_batch(self) -> Any:
        """The next batch: an object with ``frames`` and ``mask`` tensors (pinned on CUDA)."""

    def state_dict(self) -> dict[str, Any]:
        """The position in the stream, saved in checkpoints."""


class LoopSession(Protocol):
    """What :func:`run_loop` and :func:`recover` need of a training session (GAN or vocoder).

    An object may also define ``evaluate()``: the loop then calls it every ``eval_every`` steps
    (when its loop config has that field). ``rank`` defaults to 0 where a session has none.
    """

    trainer: Trainer  # one optimisation step; counts steps, skipped steps and restores
    sampler: Batches
    run: RunFolder  # where checkpoints, metrics and samples go (rank 0 writes)
    device: torch.device

    @property
    def loop_config(self) -> LoopConfig:
        """Steps, intervals, learning rates and the divergence guard's settings."""

    def save(self) -> None:
        """Write a checkpoint of the full training state."""

    def samples(self) -> Path | None:
        """Write listening samples for the current step; their folder, or None."""

    def restore(self, state: dict[str, Any], source: Path | str) -> None:
        """Load a checkpoint's state (from ``source``, named in messages) into the session."""


class _Session:
    """Everything one call to :func:`train` holds; split out so the loop below stays short."""

    @property
    def loop_config(self) -> LoopConfig:
        """The ``[train]`` settings the loop reads."""
        return self.config.train

    def __init__(
        self,
        config: RunConfig,
        registry: Registry,
        dataset: FeatureSet,
        device: torch.device,
        run: RunFolder,
        rank: int,
        world_size: int,
        whole: WholeSounds | None = None,
    ) -> None:
        self.whole = whole  # the whole-sound layout (None: crop mode)
        self.config, self.registry, self.dataset, self.device, self.run = (
            config,
            registry,
            dataset,
            device,
            run,
        )
        self.rank, self.world_size = rank, world_size
        self.evaluator: TrainingEvaluator | None = None  # built on the first evaluation (rank 0)
        self.best_fd = math.inf
        self.fc: FeatureConfig = dataset.feature_config
        self.class_names: list[str] = list(dataset.class_names)
        tc = config.train
        g_name, g_cfg = config.component("generator")
        d_name, d_cfg = config.component("discriminator")
        v_name, v_cfg = config.component("vocoder")
        n = len(self.class_names)
        self.names = {"generator": g_name, "discriminator": d_name, "vocoder": v_name}
        generator = registry.build("generator", g_name, g_cfg, self.fc, n)
        discriminator = registry.build("discriminator", d_name, d_cfg, self.fc, n)
        self.vocoder = registry.build("vocoder", v_name, v_cfg, self.fc, n).to(device).eval()
        self.trainer = Trainer(
            generator,
            discriminator,
            tc,
            device,
            masked=config.data.pad_short and whole is None,
            bounds=whole.bounds() if whole is not None else None,
        )
        # Clips training never samples, to choose best.pt on (none when nothing is evaluated).
        self.held_out = (
            holdout_indices(dataset, tc.holdout, tc.eval_real_clips, seed=tc.seed)
            if tc.eval_every
            else np.zeros(0, dtype=np.int64)
        )
        self.sampler = SequenceSampler(
            dataset,
            tc.batch_size,
            tc.seq_frames,
            seed=tc.seed,
            balance=config.data.balance,
            pad_short=config.data.pad_short,
            rank=rank,
            world_size=world_size,
            exclude=self.held_out,
            whole=whole,
        )
        self.front = MelFrontEnd(self.fc).to(device)
        # Fixed sample latents from their own generator, so sampling never disturbs training RNG.
        gen = torch.Generator().manual_seed(tc.seed + 1)
        per = tc.samples_per_class
        self.sample_labels = torch.arange(n).repeat_interleave(per) if n else None
        count = n * per if n else per
        self.sample_z = torch.randn(count, generator.latent_dim, generator=gen)
        self.sample_names = (
            [f"{c}-{i}" for c in self.class_names for i in range(per)]
            if n
            else [f"sample-{i}" for i in range(per)]
        )
        self.vocoder_checked = False

    @property
    def judged_on(self) -> str:
        """What best.pt is chosen on: ``"held-out"`` clips, or ``"training"`` clips (no slice)."""
        return "held-out" if len(self.held_out) else "training"

    def describe_holdout(self) -> str:
        """One line on the held-out slice, for the start of training and ``data.json``."""
        if not self.config.train.eval_every:
            return "none (no in-training evaluation: train.eval_every = 0)"
        count = len(self.held_out)
        if not count:
            return "none (too few clips per class to spare any): best.pt is chosen on training clips"
        share = 100.0 * count / max(len(self.dataset), 1)
        return f"{count} clips ({share:.0f}%), never trained on; best.pt is chosen on them"

    def resolved_tree(self) -> dict[str, Any]:
        """The config as run: every plugin field filled in from the built components."""
        tree = self.config.to_tree()
        for kind, module in (
            ("generator", self.trainer.generator),
            ("discriminator", self.trainer.discriminator),
            ("vocoder", self.vocoder),
        ):
            tree[kind] = {"name": self.names[kind], **dataclasses.asdict(module.config)}
        return tree

    def check_contracts(self) -> None:
        """Validate G and D outputs once before training (eval mode, RNG untouched)."""
        t, tc = self.trainer, self.config.train
        size = min(2, tc.batch_size)
        labels = torch.zeros(size, dtype=torch.long, device=self.device) if self.class_names else None
        with (
            torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []),
            torch.no_grad(),
        ):
            t.generator.eval(), t.discriminator.eval()  # eval: spectral norm leaves its state alone
            try:
                z = torch.randn(size, t.generator.latent_dim, device=self.device)
                frames, _ = contracts.call(t.generator, t.generator, z, labels, tc.seq_frames)
                contracts.check_generator_output(t.generator, frames, size, tc.seq_frames)
                logits, features = contracts.call(t.discriminator, t.discriminator, frames, labels)
                contracts.check_discriminator_output(t.discriminator, logits, features, size)
            finally:
                t.generator.train(), t.discriminator.train()

    def checkpoint(self, gather: bool = True) -> dict[str, Any]:
        """The full training state as tensors and plain containers.

        With several processes and ``gather``, every process must call this (it collects each
        one's RNG state into ``rng_world``, so a resume at the same world size continues each
        process's own latent stream); ``rng`` is rank 0's, which a single process resumes with.
        """
        state = self.trainer.state_dict()
        out = {
            "format": "audiogan-checkpoint",
            "format_version": 1,
            "audiogan_version": __version__,
            "config": self.resolved_tree(),
            "feature_config": self.fc.to_dict(),
            "class_names": self.class_names,
            "components": {k: {"name": v} for k, v in self.names.items()},
            "sampler": self.sampler.state_dict(),
            "rng": rng_state(self.device),
            "best_window_fd": self.best_fd if math.isfinite(self.best_fd) else None,
            **state,
        }
        if gather and self.world_size > 1:
            out["rng_world"] = [
                {key: value for key, value in zip(out["rng"], parts)}
                for parts in zip(*(distributed.all_gather(v, self.comm_device) for v in out["rng"].values()))
            ]
        return out

    @property
    def comm_device(self) -> torch.device:
        """Where collectives run: the GPU with NCCL, else the CPU (gloo)."""
        return self.device if self.device.type == "cuda" else torch.device("cpu")

    def seed_rank(self, step: int) -> None:
        """Give ranks > 0 their own torch RNG stream (rank 0 keeps the single-process one)."""
        if self.rank > 0:
            torch.manual_seed(distributed.rank_seed(self.config.train.seed, self.rank, step))

    def restore(self, state: Mapping[str, Any], path: Path | str) -> None:
        """Load a checkpoint produced by :meth:`checkpoint` (resume or divergence restore)."""
        if list(state.get("class_names", [])) != self.class_names:
            raise CheckpointError(
                f"{path}: trained on classes {state.get('class_names')}, data has {self.class_names}"
            )
        try:
            self.trainer.load_state_dict(state)
            self.sampler.load_state_dict(state["sampler"])
            states = state.get("rng_world") or []
            if self.world_size > 1 and len(states) == self.world_size:  # same world: each its own stream
                set_rng_state(states[self.rank], self.device)
            else:  # another world size: rank 0 continues the saved stream, the others start their own
                set_rng_state(state["rng"], self.device)
                self.seed_rank(self.trainer.step_count)
            best = state.get("best_window_fd")
            self.best_fd = float(best) if best is not None else math.inf
        except (KeyError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise CheckpointError(f"{path}: does not match this run's models: {first[:200]}") from None

    def save(self) -> None:
        """Checkpoint + generator.pt (rank 0 only; the run folder knows)."""
        step = self.trainer.step_count
        self.run.save(self.checkpoint(), step)
        self.run.save_generator(
            generator_file(
                self.registry,
                self.names["generator"],
                self.trainer.ema,
                self.fc,
                self.class_names,
                step,
                sound_record(dataclasses.asdict(self.config.data), self.fc),
            )
        )

    def evaluate(self) -> dict[str, float] | None:
        """Score the EMA generator (rank 0): log ``window_fd``/``frame_fd`` and the collapse alarm
        ``diversity_within`` (+ ``_real``, ``_ratio``) to metrics.jsonl and TensorBoard (``eval/...``);
        keep the best window FD as ``best.pt``."""
        if not self.run.enabled:
            return None
        from audiogan.evaluation.in_training import evaluate_during_training, training_evaluator

        tc, step = self.config.train, self.trainer.step_count
        if self.evaluator is None:
            self.evaluator = training_evaluator(
                self.dataset,
                max_clips=tc.eval_real_clips,
                seed=tc.seed,
                indices=self.held_out,
                whole=self.whole,
            )
        scores = evaluate_during_training(
            self.trainer.ema, self.evaluator, num_clips=tc.eval_clips, seed=tc.seed + 3
        )
        best = math.isfinite(scores["window_fd"]) and scores["window_fd"] < self.best_fd
        if best:
            self.best_fd = scores["window_fd"]
            judged = {"measured_on": self.judged_on, "held_out_clips": int(len(self.held_out))}
            save_checkpoint({**self.checkpoint(gather=False), "eval": {**scores, **judged}}, self.run.best)
        self.run.log_metrics({"step": step, **scores, "best": best, "time": time.time()})
        self.run.scalars(step, {f"eval/{k}": v for k, v in scores.items()})
        return scores

    @torch.no_grad()
    def samples(self) -> Path | None:
        """Sample the EMA generator, vocode, and write WAV + PNG + TensorBoard (RNG untouched)."""
        if not self.run.enabled:
            return None
        tc, ema = self.config.train, self.trainer.ema
        z = self.sample_z.to(self.device)
        labels = self.sample_labels.to(self.device) if self.sample_labels is not None else None
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(tc.seed + 2)
            frames, _ = ema(z, labels, tc.sample_frames)
            if self.whole is not None:  # as generate makes them: within the real frames' bounds
                frames = bound_frames(frames, *self.whole.bounds())
            waves = self.vocoder(self.front.to_vocoder(frames.float()))
        if not self.vocoder_checked:
            contracts.check_vocoder_output(self.vocoder, waves, frames.shape[0], tc.sample_frames)
            self.vocoder_checked = True
        return self.run.write_samples(
            self.trainer.step_count, self.sample_names, frames, waves, self.fc.sample_rate
        )


def train(
    data_dir: str | Path,
    run_dir: str | Path,
    config: RunConfig | Mapping[str, Any] | None = None,
    overrides: Sequence[str] = (),
    resume: bool = False,
    registry: Registry | None = None,
    plugins: Sequence[str] = (),
    progress: bool = True,
    rank: int | None = None,
    world_size: int | None = None,
    announce: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train on the audio folder ``data_dir``, writing the run folder ``run_dir``.

    :param config: a :class:`RunConfig`, or a TOML-like tree (``{"train": {...}, "generator":
        {"name": "gru", ...}}``); ``overrides`` are ``section.key=value`` strings applied on top.
        When resuming, the checkpoint's own config is the base and ``config`` is ignored.
    :param resume: continue from ``run_dir/checkpoints/last.pt`` (weights, optimisers, EMA, step,
        sampler and RNG states): N steps + resume to 2N equals 2N steps in one go on the CPU.
    :param registry: a plugin registry (default: :func:`audiogan.plugins.get_registry` with ``plugins``).
    :param rank: / :param world_size: this process's place among several; default: torchrun's
        environment (``RANK`` / ``WORLD_SIZE``), else a single process. With more than one, the
        process group is joined here (unless already) and left at the end. Rank 0 writes the run
        folder. In a group torchrun restarted (``--max-restarts``), ``resume`` is implied when a
        checkpoint exists.
    :param announce: called once (rank 0) before the first step with a few lines saying what
        training found: files, classes with counts, duration, skipped files by reason, device,
        threads and the budget (``audiogan train`` passes ``print``). The same facts go to the run
        folder's ``data.json``.
    :raises AudioganError: bad config, data, plugin or checkpoint (one line naming it).
    """
    env = distributed.from_env()
    world = distributed.World(
        env.rank if rank is None else rank,
        env.size if world_size is None else world_size,
        env.local_rank if rank is None else rank,
    )
    run = RunFolder(run_dir, enabled=world.main)
    restarted = distributed.is_restart()
    if restarted and not resume:
        resume = run.resume_path() is not None  # an elastic restart continues from the last checkpoint
        if not resume:
            run.truncate_metrics(0)  # the failed attempt died before its first checkpoint
    run.prepare(resume)
    resume_from = run.resume_path() if resume else None
    saved = load_checkpoint(resume_from, kind="checkpoint") if resume_from is not None else None
    if saved is not None:  # the run's own config: its profile was resolved when it started
        config = resolve_config(saved["config"], overrides)
    elif isinstance(config, RunConfig):  # already resolved by the caller: no profile is applied
        config = resolve_config(config.to_tree(), overrides) if overrides else config
    else:  # a tree (TOML, CLI): settings it leaves unset come from the device's profile
        config = resolve_with_profile(config, overrides)
    assert isinstance(config, RunConfig)
    tc = config.train
    run.keep = tc.keep_checkpoints
    registry = resolve_registry(registry, plugins)
    device = distributed.device_for(world, select_device(tc.device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed crop shapes: let cuDNN pick its fastest RNN kernels
    threads = torch.get_num_threads()
    if tc.threads > 0:
        torch.set_num_threads(tc.threads)
    owned = distributed.init(world, device)
    try:
        distributed.barrier()  # every process has checked the run folder before rank 0 writes to it
        result = _train(
            data_dir,
            config,
            saved,
            resume_from,
            run,
            registry,
            device,
            progress,
            world.rank,
            world.size,
            announce,
        )
        # Leave together: a process that exits while rank 0 still writes its final samples can
        # abort inside gloo's teardown ("terminate called without an active exception"), and
        # torchrun then kills the whole group.
        distributed.barrier()
        return result
    finally:
        torch.set_num_threads(threads)
        if owned:
            distributed.shutdown()


def _train(
    data_dir: str | Path,
    config: RunConfig,
    saved: dict[str, Any] | None,
    resume_from: Path | None,
    run: RunFolder,
    registry: Registry,
    device: torch.device,
    progress: bool,
    rank: int,
    world_size: int,
    announce: Callable[[str], None] | None = None,
) -> TrainResult:
    tc = config.train
    torch.manual_seed(tc.seed)
    feature = FeatureConfig.from_dict(saved["feature_config"]) if saved is not None else config.feature
    # Several processes: the cache's lock file makes the first one build it while the others wait
    # (a file lock has no time limit, unlike a collective), then they all memory-map the same cache.
    dataset = load_dataset(
        data_dir,
        feature,
        cache_dir=config.data.cache_dir,
        workers=config.data.workers,
        progress=progress and rank == 0,
        min_seconds=config.data.min_seconds,
        split=config.data.split_settings(),
    )
    distributed.barrier()
    whole = resolve_mode(config, dataset)
    session = _Session(config, registry, dataset, device, run, rank, world_size, whole)
    trainer = session.trainer
    session.seed_rank(0)
    if saved is not None:
        session.restore(saved, resume_from)
        run.truncate_metrics(trainer.step_count)
        if (
            run.enabled and run.best.is_file()
        ):  # best.pt may be newer than last.pt: don't overwrite it with worse
            best = load_checkpoint(run.best, kind="checkpoint").get("best_window_fd")
            session.best_fd = min(session.best_fd, float(best)) if best is not None else session.best_fd
    del saved
    run.write_config(session.resolved_tree())
    threads = torch.get_num_threads()
    run.write_data_summary(
        {
            **dataset.summary(),
            "min_seconds": config.data.min_seconds,
            "device": describe_device(device),
            "threads": threads,
            "processes": world_size,
            "audiogan_version": __version__,
            "step": trainer.step_count,
            "time": time.time(),
            "held_out": session.describe_holdout(),
            "too_short": session.sampler.too_short(),
            "examples": describe_mode(config, whole),
        }
    )
    if announce is not None and rank == 0:
        processes = f", {world_size} processes" if world_size > 1 else ""
        start = f" (resuming at step {trainer.step_count})" if trainer.step_count else ""
        lines = [
            *dataset.describe(),
            f"device:      {describe_device(device)}, {threads} thread{'s' * (threads != 1)}{processes}",
            f"defaults:    {describe_profile(config)}",
            f"examples:    {describe_mode(config, whole)}",
            f"held out:    {session.describe_holdout()}",
            f"too short:   {session.sampler.describe_short()}",
            f"run folder:  {run.root}{start}",
            f"budget:      {describe_budget(tc)}",
        ]
        announce("\n".join(lines))
    session.check_contracts()
    if world_size > 1:
        trainer.distribute()
    snapshot = session.checkpoint() if resume_from is None else None  # the fallback "last good" state
    result = run_loop(session, snapshot, progress and rank == 0)
    distributed.debug_dump(session.rank, session.trainer.state_dict())
    run.close()
    return result


def resolve_mode(config: RunConfig, dataset: FeatureSet) -> WholeSounds | None:
    """Settle ``data.mode`` for ``dataset`` (``auto`` -> ``whole`` or ``crop``) and, for whole sounds,
    the canvas: recorded in ``config`` (so config.toml and a resumed run hold what was used), and
    the canvas becomes ``train.seq_frames`` and ``train.sample_frames``. Returns the layout."""
    data, tc = config.data, config.train
    whole = plan_whole(
        dataset,
        data.mode,
        trim_db=data.trim_db,
        pad_seconds=data.trim_pad_seconds,
        canvas_seconds=data.canvas_seconds,
        min_frames=8,  # the in-training evaluator's window
    )
    if whole is None:
        data.mode = "crop"
        return None
    fc = dataset.feature_config
    data.mode = "whole"
    data.canvas_seconds = whole.canvas * fc.hop_length / fc.sample_rate
    tc.seq_frames = tc.sample_frames = whole.canvas
    return whole


def describe_mode(config: RunConfig, whole: WholeSounds | None) -> str:
    """One line for the start of training: how clips become examples."""
    if whole is None:
        return (
            f"crops of {config.train.seq_frames} frames at random positions (data.mode=crop; "
            "data.mode=whole trains on whole sounds)"
        )
    fc = config.feature
    seconds = whole.canvas * fc.hop_length / fc.sample_rate
    longer = int((whole.lengths > whole.canvas).sum())
    return (
        f"whole sounds (data.mode=whole): each clip's sound (within {whole.trim_db:g} dB of its peak) on a "
        f"{whole.canvas}-frame canvas ({seconds:.2f} s) of silence; {longer} longer sound"
        f"{'s' * (longer != 1)} keep their first {seconds:.2f} s"
    )


def run_loop(session: LoopSession, snapshot: dict[str, Any] | None, progress: bool) -> TrainResult:
    """The training loop shared by GAN and vocoder training (public seam for other trainers).

    ``snapshot`` is the last good state for the divergence guard (used when no checkpoint exists).
    """
    tc, trainer, run = session.loop_config, session.trainer, session.run
    pin = session.device.type == "cuda"
    # On the CPU a sync costs nothing, so the guard looks every step; elsewhere only at log steps.
    guard_every = 1 if session.device.type == "cpu" else tc.log_every
    eval_every = getattr(tc, "eval_every", 0) if hasattr(session, "evaluate") else 0
    bar = Progress(tc, trainer.step_count, progress)
    metrics: dict[str, float] = {}
    samples_dir: Path | None = None
    last_time, last_step, paused = time.perf_counter(), trainer.step_count, 0.0
    deadline = time.monotonic() + 60.0 * tc.max_minutes if tc.max_minutes > 0 else float("inf")

    def log() -> dict[str, float]:
        nonlocal last_time, last_step, paused
        now, step = time.perf_counter(), trainer.step_count
        out = trainer.pop_metrics()  # a collective under DDP: every process logs at the same steps
        out.update(
            step=step,
            lr_g=tc.lr_g * trainer.lr_scale,
            lr_d=tc.lr_d * trainer.lr_scale,
            steps_per_s=(step - last_step) / max(now - last_time - paused, 1e-9),
            time=time.time(),
        )
        last_time, last_step, paused = now, step, 0.0
        run.log_metrics(out)
        run.scalars(step, {f"train/{k}": v for k, v in out.items() if k not in ("step", "time")})
        bar.losses_at(out)
        if not progress and run.enabled:  # no bar (--no-progress, a log file): one status line per log step
            print(bar.status_line(out), flush=True)
        return out

    with _StopFlag() as stop:
        while trainer.step_count < tc.steps:
            if _halt(session, stop, deadline, guard_every):
                break
            batch = session.sampler.next_batch()
            if pin:
                batch.frames, batch.mask = batch.frames.pin_memory(), batch.mask.pin_memory()
            try:
                trainer.step(batch)
            except Exception as exc:  # a plugin's own code failing mid-run: one line naming it
                error = contracts.blame(exc, _components(trainer))
                if error is None:
                    raise
                raise error from exc
            step = trainer.step_count
            bar.advance(step)
            if step % guard_every == 0 and trainer.nonfinite_streak() >= tc.divergence_patience:
                snapshot = recover(session, snapshot)
                bar.restart(trainer.step_count)
                last_time, last_step, paused = time.perf_counter(), trainer.step_count, 0.0
                continue
            if step % tc.log_every == 0 or step == tc.steps:
                metrics = log()
            if step % tc.checkpoint_every == 0 and step != tc.steps:
                started = time.perf_counter()
                session.save()
                paused += time.perf_counter() - started  # keep writing time out of steps/s
            if eval_every and step % eval_every == 0:
                started = time.perf_counter()
                session.evaluate()
                paused += time.perf_counter() - started
            if tc.sample_every and step % tc.sample_every == 0 and step != tc.steps:
                started = time.perf_counter()
                samples_dir = session.samples()
                paused += time.perf_counter() - started
        if last_step != trainer.step_count:  # stopped early (time limit, Ctrl-C): log where it stopped
            metrics = log()
        bar.close()
        session.save()  # at the end, or at the step where Ctrl-C / SIGTERM arrived
        if not stop.requested:
            samples_dir = session.samples()
    skipped = int(trainer.skipped.item()) + trainer.skipped_before
    return TrainResult(
        run.root, trainer.step_count, stop.requested, skipped, trainer.restores, metrics, samples_dir
    )


def _halt(session: LoopSession, stop: _StopFlag, deadline: float, every: int) -> bool:
    """Stop now? Ctrl-C / SIGTERM or the time limit; with several processes, agreed by all of them
    (checked every ``every`` steps, a host sync) so that all stop at the same step."""
    distributed.debug_kill(getattr(session, "rank", 0), session.trainer.step_count)
    flags = [stop.requested, time.monotonic() >= deadline]
    if distributed.active():
        if session.trainer.step_count % every:
            return False
        flags = distributed.agree(
            flags, session.device if session.device.type == "cuda" else torch.device("cpu")
        )
        stop.requested = stop.requested or flags[0]
    return any(flags)


def _components(trainer: Trainer) -> list[torch.nn.Module]:
    return [
        m
        for m in (getattr(trainer, "generator", None), getattr(trainer, "discriminator", None))
        if m is not None
    ]


def recover(session: LoopSession, snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    """Divergence guard: restore the last good checkpoint and lower the learning rates."""
    tc, trainer, run = session.loop_config, session.trainer, session.run
    if trainer.restores >= tc.max_restores:
        raise TrainingDiverged(
            f"training diverged: {tc.divergence_patience} non-finite steps in a row after {trainer.restores} "
            f"restores (lower train.lr_g / train.lr_d, or raise train.max_restores)"
        )
    at = trainer.step_count
    distributed.barrier()  # rank 0 has finished writing last.pt before anyone reads it
    if run.last.is_file():
        state, source = load_checkpoint(run.last, kind="checkpoint"), str(run.last)
    elif snapshot is not None:
        state, source = snapshot, "the initial state"
    else:
        raise TrainingDiverged("training diverged and no checkpoint is available to restore")
    restores, scale = trainer.restores + 1, trainer.lr_scale * tc.divergence_lr_factor
    skipped = int(trainer.skipped.item()) + trainer.skipped_before
    session.restore(state, source)
    trainer.restores, trainer.skipped_before = restores, skipped
    trainer.set_lr_scale(scale)
    trainer.sums, trainer.good = {}, torch.zeros((), device=session.device)
    message = (
        f"{tc.divergence_patience} non-finite steps in a row at step {at}: restored {source} "
        f"(step {trainer.step_count}) and scaled learning rates by {scale:g} (restore {restores})"
    )
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    run.log_metrics(
        {"step": trainer.step_count, "event": "divergence_restore", "message": message, "time": time.time()}
    )
    return snapshot


__all__ = ["TrainResult", "TrainingDiverged", "train", "RunConfig", "resolve_config"]
