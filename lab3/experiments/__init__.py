"""Experiments: the chapters' sweeps, the deployment and frontier grids, the course tables and the training recipe."""
