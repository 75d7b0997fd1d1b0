"""SIGKILL ``audiogan train`` at random moments (many times, some in checkpoint writes), then ``--resume``.

Checks after every kill: each checkpoint file in the run loads (never unreadable), and the step of
``last.pt`` never goes backwards. At the end one resume runs to completion and must finish every
step and write a loadable ``generator.pt``.

Run:  python -m benchmarks.killloop --kills 30 [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TINY = """[train]
steps = {steps}
batch_size = 2
seq_frames = 8
log_every = 1
checkpoint_every = 3
keep_checkpoints = 2
sample_every = 0
sample_frames = 8
eval_every = 0
device = "cpu"
threads = 1

[feature]
sample_rate = 8000
n_fft = 256
hop_length = 64
n_mels = 16

[generator]
name = "gru"
hidden_size = 8
num_layers = 1
latent_dim = 4
label_dim = 2

[discriminator]
name = "gru"
hidden_size = 8
num_layers = 1
"""


def _train_cmd(corpus: Path, run: Path, config: Path, resume: bool) -> list[str]:
    cmd = [sys.executable, "-m", "audiogan", "train", str(corpus), "--run", str(run), "--no-progress"]
    return cmd + ["--resume"] if resume else cmd + ["--config", str(config)]


def _has_checkpoint(run: Path) -> bool:
    ckpt = run / "checkpoints"
    return ckpt.is_dir() and any(p.suffix == ".pt" and not p.name.startswith(".") for p in ckpt.iterdir())


def _check_run(run: Path) -> int:
    """Load every checkpoint in the run (raises on an unreadable one); the step of last.pt (-1 if none)."""
    from audiogan.checkpoint import load_checkpoint, load_generator

    ckpt = run / "checkpoints"
    files = sorted(p for p in ckpt.glob("*.pt") if not p.name.startswith(".")) if ckpt.is_dir() else []
    for path in files:
        load_checkpoint(path, kind="checkpoint")
    if (run / "generator.pt").is_file():
        load_generator(run)
    last = ckpt / "last.pt"
    if last.is_file():
        return int(load_checkpoint(last, kind="checkpoint")["step"])
    steps = [int(p.stem.split("-")[1]) for p in files if p.stem.startswith("step-")]
    return max(steps) if steps else -1


def _temp_files(run: Path) -> set[str]:
    """Temporary (being written) checkpoint / generator files in the run right now."""
    found = set()
    for folder in (run, run / "checkpoints"):
        try:
            found.update(
                f"{folder.name}/{n}" for n in os.listdir(folder) if n.startswith(".") and ".pt." in n
            )
        except OSError:
            pass
    return found


def kill_loop(
    kills: int,
    workdir: Path,
    seed: int = 0,
    steps: int = 60,
    log=print,
    random_wait: tuple[float, float] = (2.0, 12.0),
) -> dict[str, Any]:
    """Kill and resume ``kills`` times, then finish; return the figures (raise AssertionError on failure)."""
    from audiogan.data.synthetic import write_corpus

    rng = random.Random(seed)
    corpus = write_corpus(workdir / "corpus", per_class=2, seconds=0.4, sample_rate=8000)
    config = workdir / "tiny.toml"
    config.write_text(TINY.format(steps=steps))
    run = workdir / "run"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    survived, during_write, last_step, history = 0, 0, -1, []
    started = time.perf_counter()
    for i in range(kills):
        resume = _has_checkpoint(run)
        proc = subprocess.Popen(
            _train_cmd(corpus, run, config, resume),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        # Half the kills wait for a checkpoint's temporary file (a kill mid-write); half land at a
        # random moment (start-up, data loading, a step, a write).
        # (each save writes last.pt, step-N.pt, generator.pt: the n-th temporary file seen picks one)
        mid_write = i % 2 == 0
        nth_write = rng.randint(2, 5)
        deadline = time.perf_counter() + (60.0 if mid_write else rng.uniform(*random_wait))
        hit_write, seen, stale = False, set(), _temp_files(run)  # stale: left by the previous kill
        while time.perf_counter() < deadline and proc.poll() is None:
            if mid_write:
                seen |= _temp_files(run) - stale
                if len(seen) >= nth_write:
                    hit_write = True
                    break
            time.sleep(0.0002 if mid_write else 0.01)
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            if proc.returncode != 0:
                raise AssertionError(
                    f"kill {i}: train exited {proc.returncode} before the kill: {err.strip()[-500:]}"
                )
            log(f"kill {i}: run finished before the kill; restarting from scratch for the next kills")
            history.append({"kill": i, "finished": True})
            import shutil

            shutil.rmtree(run)
            last_step = -1
            continue
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
        step = _check_run(run)  # every checkpoint loads
        if step < last_step:
            raise AssertionError(f"kill {i}: last.pt went back from step {last_step} to {step}")
        last_step = step
        survived += 1
        during_write += hit_write
        history.append({"kill": i, "resume": resume, "mid_write": hit_write, "step": step})
        log(
            f"kill {i}: {'resumed' if resume else 'fresh'} run killed "
            f"{'during a checkpoint write' if hit_write else 'at a random moment'}; last.pt step {step}"
        )
    # The final resume must complete every step.
    final = subprocess.run(
        _train_cmd(corpus, run, config, _has_checkpoint(run)),
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    if final.returncode != 0:
        raise AssertionError(f"final resume failed ({final.returncode}): {final.stderr.strip()[-500:]}")
    end = _check_run(run)
    if end != steps:
        raise AssertionError(f"final resume ended at step {end}, not {steps}")
    left = sorted(_temp_files(run))
    if left:  # temporaries of killed writers are cleaned up by the next save of the same file
        raise AssertionError(f"temporary files left behind after the final save: {left}")
    return {
        "kills": kills,
        "survived": survived,
        "during_checkpoint_write": during_write,
        "final_step": end,
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: run the loop and print the figures as JSON."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--steps", type=int, default=2000, help="steps of the tiny run (enough to outlast the kills)"
    )
    parser.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temporary one")
    args = parser.parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = kill_loop(args.kills, args.keep, args.seed, args.steps)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            result = kill_loop(args.kills, Path(tmp), args.seed, args.steps)
    result.pop("history")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
