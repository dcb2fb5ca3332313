"""The gateway: routing requests to backends, and its HTTP face."""
