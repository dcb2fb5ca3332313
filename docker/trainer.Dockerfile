# syntax=docker/dockerfile:1
# The training Job, CPU: PyTorch's CPU wheel (no CUDA libraries, a far smaller image).
#   docker build -f docker/trainer.Dockerfile -t model-rollout-trainer:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# torch first, from the CPU index, so that `.[trainer]` finds its pin already satisfied.
RUN /opt/venv/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY operator operator
COPY inference inference
COPY trainer trainer
RUN /opt/venv/bin/pip install ".[trainer]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["modelrollout-trainer"]
CMD ["--help"]
