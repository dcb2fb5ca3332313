"""The KServe v2 / Triton HTTP wire format, JSON tensors and the binary tensor extension."""
