"""One GAN training step and the state around it: models, optimisers, EMA, divergence counters.

The step never waits on the device: non-finite losses or gradients are detected on the device and
passed to the fused Adam kernels as ``found_inf``, which skip the update without a host sync (the
same mechanism ``torch.amp.GradScaler`` uses). Counters of skipped steps also stay on the device
and are read only when the loop logs or checks the guard.

``self.generator`` / ``self.discriminator`` are the plain modules (their state dicts are saved);
``self.g_run`` / ``self.d_run`` are what the step calls: the same modules, or ``torch.compile``d
ones, or (after :meth:`Trainer.distribute`) ``DistributedDataParallel`` wrappers.

GAN + DDP: each wrapper runs exactly one forward and one backward per step. D's wrapper is
called once, in the D step, on real and fake concatenated; the G step scores the fake batch with
D's own module (``d_plain``) while D's weights are frozen, so D's reducer never sees it (nor the
feature-matching targets, which ``d_plain`` computes from the real batch under ``no_grad``). The R1 /
WGAN-GP penalties also go through ``d_plain``: their weight gradients land in the same backward
as the D loss, where DDP's gradient hooks average the sum across processes. The non-finite
("skip this update") flags are OR-ed across processes, so every process skips alike.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import torch
from torch import nn

from audiogan.data.dataset import Batch
from audiogan.data.whole import bound_frames
from audiogan.training import distributed
from audiogan.training import objectives as obj
from audiogan.training.config import TrainConfig


def make_optimizer(params: Any, lr: float, tc: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam or AdamW with the run's betas; fused kernels where available (CPU and CUDA)."""
    cls = torch.optim.AdamW if tc.optimizer == "adamw" else torch.optim.Adam
    fused = device.type in ("cpu", "cuda")  # fused kernels honour found_inf: skip without a sync
    extra = {"weight_decay": tc.weight_decay} if tc.optimizer == "adamw" else {}
    return cls(params, lr=lr, betas=tuple(tc.betas), fused=fused, **extra)


class Trainer:
    """Holds G, D, the EMA of G, both optimisers and the counters; :meth:`step` runs one D + one G update."""

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        tc: TrainConfig,
        device: torch.device,
        masked: bool = False,
        bounds: tuple[torch.Tensor, float] | None = None,
    ) -> None:
        self.tc = tc
        self.device = device
        self.masked = masked  # real batches may hold padding (pad_short): score real frames only
        # whole sounds: generated frames get the real examples' per-bin floor and ceiling
        self.bounds = (bounds[0].to(device), float(bounds[1])) if bounds is not None else None
        self.generator = generator.to(device).train()
        self.discriminator = discriminator.to(device).train()
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.g_run: nn.Module = self.generator
        self.d_run: nn.Module = self.discriminator
        if tc.compile:
            self.g_run = torch.compile(self.generator)  # type: ignore[assignment]
            self.d_run = torch.compile(self.discriminator)  # type: ignore[assignment]
        self.d_plain: nn.Module = self.d_run  # D outside any DDP wrapper (G step, penalties)
        self.ddp = False
        self.opt_g = make_optimizer(self.generator.parameters(), tc.lr_g, tc, device)
        self.opt_d = make_optimizer(self.discriminator.parameters(), tc.lr_d, tc, device)
        self.g_params = [p for p in self.generator.parameters()]
        self.d_params = [p for p in self.discriminator.parameters()]
        self.ema_params = [p for p in self.ema.parameters()]
        self.step_count = 0
        self.lr_scale = 1.0  # lowered by the divergence guard
        self.restores = 0
        self.skipped_before = 0  # skipped steps from earlier sessions (resume), a plain int
        zeros = lambda: torch.zeros((), device=device)  # noqa: E731
        self.skipped = zeros()  # skipped steps this session
        self.streak = zeros()  # non-finite steps in a row
        self.sums: dict[str, torch.Tensor] = {}
        self.good = zeros()
        self.use_amp = tc.amp and device.type == "cuda" and torch.cuda.is_bf16_supported()

    def distribute(self) -> None:
        """Wrap G and D in ``DistributedDataParallel`` (call inside an initialised process group).

        Weights are broadcast from rank 0 when wrapping (every process built them from the same
        seed, or loaded the same checkpoint, so nothing changes); the EMA copy is not wrapped (every
        process updates it identically from identical weights). Buffers are not broadcast: spectral
        normalisation's power-iteration vectors follow from the weights, so they agree anyway.
        """
        import inspect

        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [self.device.index] if self.device.type == "cuda" else None
        newer = (
            "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters
        )  # broadcast_buffers is deprecated
        no_sync = {"forward_sync_buffers": False} if newer else {"broadcast_buffers": False}
        g = DDP(self.generator, device_ids=ids, **no_sync)
        d = DDP(self.discriminator, device_ids=ids, **no_sync)
        self.g_run = torch.compile(g) if self.tc.compile else g  # type: ignore[assignment]
        self.d_run = torch.compile(d) if self.tc.compile else d  # type: ignore[assignment]
        self.ddp = True  # the EMA is left alone: after a resume it holds the checkpoint's average

    # ------------------------------------------------------------------ the step

    def autocast(self) -> contextlib.AbstractContextManager:
        """bf16 autocast on CUDA when enabled and supported; a no-op elsewhere."""
        if self.use_amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _score_fn(self, labels: torch.Tensor | None) -> obj.ScoreFn:
        return lambda x: obj.sequence_scores(self.d_plain(x, labels)[0])

    def _clip(self, params: list[nn.Parameter]) -> torch.Tensor:
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return torch.zeros((), device=self.device)
        limit = self.tc.grad_clip if self.tc.grad_clip > 0 else float("inf")
        return nn.utils.clip_grad_norm_(params, limit, foreach=True)

    def step(self, batch: Batch) -> None:
        """One discriminator update then one generator update; no host-device sync."""
        tc = self.tc
        real = batch.frames.to(self.device, non_blocking=True)
        labels = batch.labels.to(self.device, non_blocking=True) if batch.labels is not None else None
        mask = batch.mask.to(self.device, non_blocking=True) if self.masked else None
        size, frames = real.shape[0], real.shape[1]
        z = torch.randn(size, self.generator.latent_dim, device=self.device)

        # --- discriminator: one forward of real and fake together (one DDP forward per backward)
        self.discriminator.requires_grad_(True)
        with self.autocast():
            fake, _ = self.g_run(z, labels, frames)
            if self.bounds is not None:
                fake = bound_frames(fake, *self.bounds)
            both = torch.cat([real.to(fake.dtype), fake.detach()])
            logits, _ = self.d_run(both, torch.cat([labels, labels]) if labels is not None else None)
            real_logits, fake_logits = logits[:size], logits[size:]
            loss_d = obj.discriminator_loss(
                tc.loss, obj.sequence_scores(real_logits, mask), obj.sequence_scores(fake_logits)
            )
        penalty = torch.zeros((), device=self.device)
        if tc.loss == "wgan-gp":
            penalty = penalty + tc.gp_weight * obj.gradient_penalty(
                self._score_fn(labels), real, fake.float()
            )
        if tc.r1_gamma > 0:
            penalty = penalty + 0.5 * tc.r1_gamma * obj.r1_penalty(self._score_fn(labels), real)
        total_d = loss_d + penalty
        self.opt_d.zero_grad(set_to_none=True)
        total_d.backward()
        norm_d = self._clip(self.d_params)
        bad_d = self._agree(~(torch.isfinite(total_d) & torch.isfinite(norm_d)))
        self._apply(self.opt_d, bad_d)

        # --- generator (reuses the fake batch; D's weights are frozen for this backward)
        self.discriminator.requires_grad_(False)
        with self.autocast():
            real_features: list[torch.Tensor] = []
            if tc.feature_matching > 0 or tc.feature_spread > 0:
                # The D step's real features come from D before its update; matching them against
                # fakes scored by the updated D would chase a stale target. They are constants for G,
                # so no graph is kept (and no DDP reducer is involved: d_plain is unwrapped).
                with torch.no_grad():
                    _, real_features = self.d_plain(real.to(fake.dtype), labels)
            fake_logits, fake_features = self.d_plain(fake, labels)
            loss_adv = obj.generator_loss(tc.loss, obj.sequence_scores(fake_logits))
            zero = torch.zeros((), device=self.device)
            loss_fm = (
                obj.feature_matching_loss(real_features, fake_features) if tc.feature_matching > 0 else zero
            )
            loss_spread = (
                obj.feature_spread_loss(real_features, fake_features, labels, self.generator.num_classes)
                if tc.feature_spread > 0
                else zero
            )
        loss_ms = obj.mode_seeking_loss(fake, z, labels) if tc.mode_seeking > 0 else zero
        loss_g = (
            loss_adv
            + tc.feature_matching * loss_fm
            + tc.feature_spread * loss_spread
            + tc.mode_seeking * loss_ms
        )
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        norm_g = self._clip(self.g_params)
        bad_g = self._agree(~(torch.isfinite(loss_g) & torch.isfinite(norm_g)))
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
            ("loss_spread", loss_spread),
            ("loss_ms", loss_ms),
            ("penalty", penalty),
            ("grad_norm_d", norm_d),
            ("grad_norm_g", norm_g),
        ):
            value = torch.nan_to_num(value.detach().float(), nan=0.0, posinf=0.0, neginf=0.0) * ok
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.step_count += 1

    def _agree(self, bad: torch.Tensor) -> torch.Tensor:
        # Averaged gradients are non-finite everywhere when they are anywhere, but a local loss
        # may not be: OR the flag across processes so all skip (or apply) the same update.
        if not self.ddp:
            return bad
        return distributed.all_reduce_max(bad.float()) > 0

    def _apply(self, optimizer: torch.optim.Optimizer, bad: torch.Tensor) -> None:
        if optimizer.param_groups[0].get("fused"):
            optimizer.found_inf = bad.float()  # read by the fused kernel: skips the update when set
            optimizer.step()
        elif not bool(bad):  # unfused optimisers (e.g. on MPS) cannot skip on the device: sync here
            optimizer.step()

    @torch.no_grad()
    def _update_ema(self, bad: torch.Tensor) -> None:
        # Warm-up (as in many EMA implementations): early on the average follows G closely, so a
        # short demo still samples from a trained model rather than from the initial weights.
        t = self.step_count
        decay = min(self.tc.ema_decay, (1.0 + t) / (10.0 + t))
        weight = (1.0 - bad.float()) * (1.0 - decay)  # 0 on a skipped step: the average stays put
        # A 0-d tensor passed as the Scalar weight of _foreach_lerp_ is read with .item() (a host
        # sync every step); the per-tensor weights overload keeps it on the device. The lerp formula
        # and the float32 weight are the same, so are the numbers; on CUDA the 0-d weights take
        # the one-lerp-per-tensor path instead of the fused kernel, a few launches for a small G.
        weights = [weight] * len(self.ema_params)
        torch._foreach_lerp_(self.ema_params, [p.detach() for p in self.g_params], weights)
        for ema_buffer, buffer in zip(self.ema.buffers(), self.generator.buffers()):
            ema_buffer.copy_(buffer)

    # ------------------------------------------------------------------ reading counters (syncs)

    def pop_metrics(self) -> dict[str, float]:
        """Mean losses over the good steps since the last call, plus counters (one host sync)."""
        keys = list(self.sums)
        stacked = torch.stack([self.sums[k] for k in keys] + [self.good])
        if self.ddp:  # losses over the global batch: sums and good-step counts over processes
            stacked = distributed.all_reduce_sum(stacked)
        values = stacked.tolist() + [float(self.skipped.item())]
        good, skipped = values[-2], values[-1]
        out = {k: v / max(good, 1.0) for k, v in zip(keys, values[:-2])}
        out["skipped"] = int(skipped) + self.skipped_before
        self.sums, self.good = {}, torch.zeros((), device=self.device)
        return out

    def nonfinite_streak(self) -> int:
        """Non-finite steps in a row right now (a host sync)."""
        return int(self.streak.item())

    def set_lr_scale(self, scale: float) -> None:
        """Scale both learning rates relative to the configured ones."""
        self.lr_scale = scale
        for group in self.opt_g.param_groups:
            group["lr"] = self.tc.lr_g * scale
        for group in self.opt_d.param_groups:
            group["lr"] = self.tc.lr_d * scale

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Weights, EMA, optimisers and counters as tensors and plain containers."""
        cpu = lambda sd: {k: v.detach().cpu().clone() for k, v in sd.items()}  # noqa: E731
        return {
            "step": self.step_count,
            "generator": cpu(self.generator.state_dict()),
            "discriminator": cpu(self.discriminator.state_dict()),
            "ema": cpu(self.ema.state_dict()),
            "opt_g": _to_cpu(self.opt_g.state_dict()),
            "opt_d": _to_cpu(self.opt_d.state_dict()),
            "guard": {
                "skipped": int(self.skipped.item()) + self.skipped_before,
                "restores": self.restores,
                "lr_scale": self.lr_scale,
            },
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (weights must match the built models)."""
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step_count = int(state["step"])
        guard = state["guard"]
        self.skipped_before = int(guard["skipped"])
        self.skipped.zero_()
        self.streak.zero_()
        self.restores = int(guard["restores"])
        self.set_lr_scale(float(guard["lr_scale"]))


def _to_cpu(tree: Any) -> Any:
    if isinstance(tree, torch.Tensor):
        return tree.detach().cpu().clone()
    if isinstance(tree, dict):
        return {k: _to_cpu(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_to_cpu(v) for v in tree)
    return tree
