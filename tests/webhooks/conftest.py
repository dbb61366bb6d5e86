"""The fixtures of tests/webhooks/receiving.py, for every test of this folder that asks for them."""

from tests.webhooks.receiving import hooks_engine, loopback_targets, receiver, subscribe

__all__ = ["hooks_engine", "loopback_targets", "receiver", "subscribe"]
