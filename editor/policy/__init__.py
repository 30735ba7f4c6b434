"""Fenceline's policy core: plain Python, no Django. Usable as a library and through the `fenceline` CLI."""
