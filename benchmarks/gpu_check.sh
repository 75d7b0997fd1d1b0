#!/usr/bin/env bash
# The device check, in one prepared run on a lent GPU machine (about 8 minutes on an H200):
#
#   run(command="bash benchmarks/gpu_check.sh", timeout_s=560)
#
# No CUDA path of audiogan had run before this script. It installs the package, then, each step
# with its own time limit so one hang cannot eat the lease, writes everything to $OUT/gpu_check.log:
#   1. the CUDA tests (pytest -k cuda; they skip on a CPU machine),
#   2. training steps/s and peak memory in bf16 (benchmarks.train_step --device cuda),
#   3. R1 and WGAN-GP through the cuDNN RNN discriminators (benchmarks.gpu_penalties),
#   4. audiogan train under torchrun with NCCL (one process: NCCL will not share one GPU),
#   5. generation speed on the GPU (10 s clips, Griffin-Lim and istft),
# and the device (nvidia-smi). Give the machine back after, and copy the figures into the note.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu_check}"
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
export PYTHONUNBUFFERED=1
step() { echo; echo "=== $1 ($(date -u +%H:%M:%S))"; }
{
    step "device"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
    step "install"
    timeout 240 python -m pip install -q -e ".[dev]" || echo "install failed"
    python -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.version.cuda)"

    step "1. CUDA tests"
    timeout 120 python -m pytest -q -k "cuda" -p no:cacheprovider tests || echo "CUDA tests failed"

    step "2. training steps/s and memory, bf16"
    timeout 90 python -m benchmarks.train_step --device cuda --steps 30 --batch 32 --frames 64 || echo "train_step failed"

    step "3. R1 / WGAN-GP through cuDNN RNN discriminators"
    timeout 60 python -m benchmarks.gpu_penalties || echo "penalty check failed"

    step "4. torchrun + NCCL, 60 steps on a synthetic corpus"
    python -c "from audiogan.data.synthetic import write_corpus; write_corpus('$OUT/corpus', per_class=8, seconds=1.0)"
    timeout 150 torchrun --standalone --nproc-per-node 1 -m audiogan -- train "$OUT/corpus" --run-dir "$OUT/run" \
        --device cuda --steps 60 --no-progress --set train.eval_every=30 --set train.sample_every=0 \
        || echo "torchrun failed"
    python - "$OUT/run" <<'EOF' || true
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1] + "/metrics.jsonl") if '"steps_per_s"' in line]
print("torchrun/NCCL steps/s:", [round(r["steps_per_s"], 1) for r in rows])
EOF

    step "5. generation speed"
    timeout 90 python -m benchmarks.generate --clips 4 --seconds 10 --repeat 2 --skip-librosa || echo "generate failed"
    step "done"
} 2>&1 | tee "$LOG"
