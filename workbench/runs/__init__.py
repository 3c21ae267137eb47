"""Runs: the one composed job that generates N samples and keeps them (`samples.generate_samples`), the
history of runs (keep, reopen exactly, diff two) and copying a run as code."""
