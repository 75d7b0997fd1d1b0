"""One HTML page to see and hear a run (``audiogan report``): :func:`write_report`.

The page is a single self-contained file: every clip is an embedded WAV (a ``data:`` URI under an
``<audio>`` player), every spectrogram an embedded PNG, every curve an inline SVG, and there is
no script, so it opens offline in any browser, from any folder, and can be mailed as it is. It
holds, from the top:

* per class, ``per_label`` generated clips beside ``per_label`` real clips from the data folder
  and one real clip copied through the vocoder (is the vocoder the weak link?), each with a
  spectrogram thumbnail (all thumbnails share one colour scale);
* the training samples the run wrote over time (``samples/step-XXXXXX/``), a few steps per class;
* training curves from ``metrics.jsonl`` (losses, skipped steps, learning rates, steps/s), the
  in-training evaluation (window / frame FD by step, best step marked) and the vocoder's own
  curves when it was trained;
* the latest ``audiogan evaluate`` table (``evaluation.json`` in the run folder), when one exists;
* the run's settings (``config.toml``), the data summary training recorded (``data.json``),
  versions and step;
* the exact commands that regenerate every clip (label, seed, length, vocoder, device).

Whatever the run folder lacks (no metrics yet, no samples, no ``generator.pt``, the data folder
moved) is listed at the top of the page instead of failing. A path that is not a run folder at
all is a :class:`~audiogan.errors.DataError`.

Clips are peak-normalised to -1 dBFS with at most 40 dB of gain (the ``audiogan generate``
defaults), real ones too, so that levels do not decide the comparison; real clips longer than
``MAX_SECONDS`` are cut to their first ``MAX_SECONDS``.
"""

from audiogan.evaluation.report.build import write_report
from audiogan.evaluation.report.charts import svg_chart
from audiogan.evaluation.report.run import (
    DEFAULT_PER_LABEL,
    EVALUATION_FILE,
    MAX_SECONDS,
    NO_STEP_LIMIT,
    REPORT_FILE,
    Report,
    is_run_folder,
    read_metrics,
)

__all__ = [
    "DEFAULT_PER_LABEL",
    "EVALUATION_FILE",
    "MAX_SECONDS",
    "NO_STEP_LIMIT",
    "REPORT_FILE",
    "Report",
    "is_run_folder",
    "read_metrics",
    "svg_chart",
    "write_report",
]
