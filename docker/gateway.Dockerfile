# syntax=docker/dockerfile:1
# The inference gateway, CPU (ONNX Runtime embedded; Triton reached over HTTP/gRPC).
#   docker build -f docker/gateway.Dockerfile -t model-rollout-gateway:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator operator
COPY inference inference
COPY trainer trainer
RUN /opt/venv/bin/pip install ".[inference]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    MODELROLLOUT_GATEWAY_HOST=0.0.0.0 MODELROLLOUT_GATEWAY_PORT=8000
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app \
    && mkdir -p /var/lib/model-rollout/predictions /var/lib/model-rollout/artifacts \
    && chown -R 10001:10001 /var/lib/model-rollout
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["modelrollout-gateway"]
CMD ["serve"]
