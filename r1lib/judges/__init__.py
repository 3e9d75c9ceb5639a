"""Judges: one module per judging protocol; each turns a channel of a generation record into a verdict."""
