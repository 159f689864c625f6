"""Validation data: the real-market patterns going_global is checked against."""
