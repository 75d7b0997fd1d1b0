"""GAN training: the loop, one optimisation step, the run configuration, losses, DDP, the run folder.

``loop`` (``train()``: reads top to bottom), ``trainer`` (one D and one G update, EMA, AMP),
``config`` (the ``[train]`` / ``[data]`` settings), ``objectives`` (GAN losses and penalties),
``distributed`` (torchrun / DDP glue), ``runfolder`` (what a run writes). See docs/architecture.md.
"""
