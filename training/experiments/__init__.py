"""Experiments whose results are reported in training/README.md but not shipped."""
