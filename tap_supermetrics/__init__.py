"""tap-supermetrics: Supermetrics Enterprise API queries as Singer streams."""
