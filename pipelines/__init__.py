"""Faust stream processors (normalize, correlate) and the archive sink."""
