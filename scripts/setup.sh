#!/usr/bin/env bash
# Sets up everything model-rollout needs on a fresh Debian machine: the Prometheus server
# (tests and the demo use the real one), a virtualenv with the project and its dev tools,
# and the helm/kubectl binaries for the chart tests. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

export PIP_DISABLE_PIP_VERSION_CHECK=1
export DEBIAN_FRONTEND=noninteractive

if ! command -v prometheus >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing prometheus (Debian package)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "==> prometheus not installed and not root: Prometheus tests will be skipped" >&2
  fi
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing redis-server (Debian package; the gateway's shared feedback store)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  else
    echo "==> redis-server not installed and not root: Redis store tests will be skipped" >&2
  fi
fi

# The in-pod harness (tests/inpod) starts pods in mount namespaces: unshare, mount, setpriv.
if ! command -v unshare >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1 \
    || ! command -v mount >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing util-linux and mount (Debian packages; the in-pod harness)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends util-linux mount >/dev/null
  else
    echo "==> unshare/setpriv/mount missing and not root: in-pod tests will be skipped" >&2
  fi
fi

if ! command -v tmux >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "==> installing tmux (Debian package; the live view's terminal test drives it)"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends tmux >/dev/null
  else
    echo "==> tmux not installed and not root: the live view's terminal test will be skipped" >&2
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
echo "==> installing the project and its dev tools into .venv"
# This machine's pip config names local package folders that may not exist: drop the noise.
quiet_pip() { .venv/bin/python -m pip "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }; }
quiet_pip install -q --upgrade pip
# torch first and pinned: it is the local CPU wheel; nothing may pull a CUDA build.
quiet_pip install -q torch==2.13.0
# setuptools' editable-install banner (a UserWarning from the build backend) says nothing
# actionable here: the component folders are source roots on purpose.
PYTHONWARNINGS=ignore::UserWarning quiet_pip install -q -e ".[dev]"

if [ -f tools/fetch_k8s_tools.sh ]; then
  echo "==> installing helm and kubectl into .tools/bin"
  bash tools/fetch_k8s_tools.sh
fi
echo "==> setup done"
