"""Judging generated audio: embeddings, distances, the evaluate command's library, the in-training evaluator.

``metrics`` (frame/window Fréchet distances, classifier scores, diversity), ``evaluate``
(generated vs held-out real files vs references), ``in_training`` (the window FD taken every
``train.eval_every`` steps). See docs/architecture.md.
"""
