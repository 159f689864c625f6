"""Example sweep specs (TOML data files), runnable by name: `tokenmarket sweep smoke`."""
