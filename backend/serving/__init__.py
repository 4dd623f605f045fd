"""Serving: request rows parsed and checked against a version's signature, loaded models cached,
and the one predict function the backend's routes and the replica share."""
