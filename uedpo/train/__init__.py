"""Helpers behind :mod:`uedpo.trainer`: config, data, collation, noise, metrics, the policy and the CLI."""
