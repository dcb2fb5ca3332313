"""The prediction log: JSON Lines of predictions and labels, the next version's training data."""
