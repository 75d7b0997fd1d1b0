"""Audio in: decoding and writing files, scanning a folder, the feature cache, the training dataset.

``audio`` (decode/resample/write), ``scan`` (which files, which labels, what was skipped and why),
``cache`` (log-mel features of every file in one memory-mapped array), ``dataset`` (the
normalised features and the sampler that crops training batches), ``synthetic`` (labelled test
corpora). Depends only on the top-level modules; see docs/architecture.md.
"""
