# syntax=docker/dockerfile:1
# The model-rollout operator (kopf). Build from the repository root:
#   docker build -f docker/operator.Dockerfile -t model-rollout-operator:0.1.0 .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
# All three source roots: the one pyproject.toml finds packages in each of them.
COPY pyproject.toml README.md ./
COPY operator operator
COPY inference inference
COPY trainer trainer
RUN /opt/venv/bin/pip install ".[operator]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/venv/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN groupadd --gid 10001 app && useradd --uid 10001 --gid app --no-create-home --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
# /healthz, /readyz and /metrics
EXPOSE 8080
# The chart passes its own arguments (peering, namespaces); these run one replica cluster-wide.
ENTRYPOINT ["modelrollout"]
CMD ["operator", "--standalone"]
