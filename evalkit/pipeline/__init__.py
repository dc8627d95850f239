"""Running an analysis plan: the run context, one module per step, and safe writing of the report."""
