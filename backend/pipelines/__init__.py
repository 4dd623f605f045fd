"""Training pipelines: one TOML file, validated on load, run as a job in a worker process."""
