"""Ground truth: joining labels to logged predictions and judging correctness."""
