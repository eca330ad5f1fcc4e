"""Vigie: a supervision pipeline — device intake, Kafka topics, correlation and a legal archive."""

__version__ = "0.1.0"
