#!/usr/bin/env bash
# Test cluster binaries (kube-apiserver, kube-controller-manager) for the `cluster` vitest project:
# built once from the Go module proxy and cached in ~/.cache/updog-ts/k8s-<version>/.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v etcd >/dev/null || { echo "k8s.sh: etcd missing (Debian package etcd-server)" >&2; exit 1; }
start=$(date +%s)
bash test/cluster/build-k8s.sh >/dev/null
echo "k8s.sh: control plane binaries ready in $(( $(date +%s) - start ))s"
