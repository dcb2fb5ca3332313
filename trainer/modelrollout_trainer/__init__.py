"""model-rollout trainer: dataset in, validated ONNX model in a Triton repository out."""
