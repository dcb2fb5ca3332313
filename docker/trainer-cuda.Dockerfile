# syntax=docker/dockerfile:1
# The training Job for GPU nodes: PyTorch's CUDA wheels bring their own CUDA runtime libraries;
# the node supplies the driver (NVIDIA device plugin; request `nvidia.com/gpu` in the
# ModelVersion's training resources). Build from the repository root:
#   docker build -f docker/trainer-cuda.Dockerfile -t model-rollout-trainer:0.1.0-cuda .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# The PyTorch wheel index of the CUDA build to install.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_INDEX
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
RUN /opt/venv/bin/pip install --index-url ${TORCH_INDEX} torch==2.13.0
COPY pyproject.toml README.md ./
COPY operator operator
COPY inference inference
COPY trainer trainer
RUN /opt/venv/bin/pip install ".[trainer]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["modelrollout-trainer"]
CMD ["--help"]
