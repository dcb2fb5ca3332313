"""Routing tables and the sticky assignment of requests to model versions."""
