"""Backends that answer inference requests: embedded ONNX Runtime and remote Triton."""
