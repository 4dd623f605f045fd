"""The console's screens: overview, experiments, runs, run detail, compare, help and the command bar."""
