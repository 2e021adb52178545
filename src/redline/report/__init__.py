"""Reports: metrics, the terminal summary and machine-readable outputs."""
