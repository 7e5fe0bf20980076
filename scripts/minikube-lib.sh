# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables are read by the scripts that source this file
# Settings and helpers shared by scripts/demo-minikube and scripts/demo-clean. Source it after
# scripts/lib.sh; it defines variables and functions only.
#
#   MINIKUBE_PROFILE  minikube profile (= its kubectl context)       default: minikube
#   DEMO_NAMESPACE    namespace of every demo object                 default: lagscale-demo
#   DEMO_INSTANCE     prefix of every object name (values: instance)  default: lagscale
#   KEDA_NAMESPACE    namespace of the KEDA Helm release              default: keda

MINIKUBE_PROFILE=${MINIKUBE_PROFILE:-minikube}
DEMO_NAMESPACE=${DEMO_NAMESPACE:-lagscale-demo}
DEMO_INSTANCE=${DEMO_INSTANCE:-lagscale}
KEDA_NAMESPACE=${KEDA_NAMESPACE:-keda}
KEDA_RELEASE=keda

# minikube_running -> 0 when the profile's host, kubelet and API server all run (status exits 0).
minikube_running() {
  command -v minikube >/dev/null 2>&1 && minikube status -p "$MINIKUBE_PROFILE" >/dev/null 2>&1
}

# kube ARGS... -> kubectl against the profile's context (minikube's bundled kubectl if none installed).
kube() {
  if command -v kubectl >/dev/null 2>&1; then
    kubectl --context "$MINIKUBE_PROFILE" "$@"
  else
    minikube -p "$MINIKUBE_PROFILE" kubectl -- --context "$MINIKUBE_PROFILE" "$@"
  fi
}

# kube_ns ARGS... -> kube in the demo namespace.
kube_ns() { kube -n "$DEMO_NAMESPACE" "$@"; }

helm_kube() { helm --kube-context "$MINIKUBE_PROFILE" "$@"; }
