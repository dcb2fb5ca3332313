"""The in-pod harness: the operator and the gateway run as they do in a pod, behind an API front.

- `front`: a TLS front on 127.0.0.1 that proxies to kmock's KubernetesEmulator and enforces what
  kube-apiserver enforces on that path: bearer tokens (`authn`), RBAC from the chart (`rbac`,
  `requestinfo`), admission (`admission`, `podsecurity`);
- `chart`: `helm template` of the chart with test values, read back as container specs and RBAC;
- `images`: what an image would bring (ENTRYPOINT, CMD, ENV, USER), read from docker/*.Dockerfile;
- `pods`: a container spec started as a local process, the way a kubelet would start it;
- `tls`: the cluster CA and the front's serving certificate.
"""
