"""fleetsim's Hydra plugins: the ``slurm`` launcher preset's class (see ``launcher``)."""
