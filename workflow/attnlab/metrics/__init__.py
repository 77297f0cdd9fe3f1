"""Metrics: pure functions over tensors and arrays, each tested on inputs with known answers."""
