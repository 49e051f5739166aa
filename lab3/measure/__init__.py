"""Measurement: accuracy, statistics, the test set's two halves, timing, the CPU's peak."""
