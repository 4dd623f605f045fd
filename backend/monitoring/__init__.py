"""Monitoring: the batched recorder of predictions, per-minute rollups, drift against the training
reference, live and estimated performance."""
