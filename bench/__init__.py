"""A reproducible benchmark of the API against a raw Starlette baseline (see bench/README.md)."""
