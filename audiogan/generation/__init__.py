"""Sound out: load a run, generate frames, vocode them, write WAVs; resynthesis and export.

``synthesizer`` (``Synthesizer``: G + vocoder, chunked generation of any length), ``sampling``
(latents, interpolation, overlap vocoding, levels and trimming), ``generate`` (``load()`` and
writing clips with a manifest), ``resynth`` (audio -> features -> vocoder), ``export``
(TorchScript / ONNX). See docs/architecture.md.
"""
