"""Training neural vocoders: the loop around a trainable vocoder plugin, its data, losses and discriminators.

``training`` (``train_vocoder()`` and ``fit()``), ``config`` (``VocoderTrainConfig``), ``data``
(waveform segments with their mels), ``losses`` (multi-scale mel, multi-resolution STFT),
``discriminators`` (multi-period and multi-resolution waveform discriminators: core code that a
trainable vocoder's ``fit`` uses, not plugins). See docs/architecture.md.
"""
