// Package e2e holds Mosaic's end-to-end tests: the operator's pod webhook, the renderer and
// mosaic-proxy joined as they are in a cluster, with the proxy run as a process from exactly the
// sidecar container the webhook injected and the files the kubelet would give it.
//
//   - TestHotReloadUnderLoad (no API server: the pod is mutated with webhook.InjectSidecar and
//     its ConfigMap rendered with internal/renderer, as the operator does): the sidecar serves
//     steady load (~50 req/s for 20 s, streams included) while its ConfigMap volume gets a new
//     alias and its Secret volume a rotated key twice, through the kubelet's ..data symlink swap
//     (test/kubeletfs), with the upstream accepting old and new keys during the overlap and
//     revoking the old one after. No request may fail; the delay until the upstream sees each
//     new key is reported.
//   - TestInjectedSidecarEndToEnd: a real kube-apiserver (envtest) with the CRDs, the webhooks of
//     config/webhook/manifests.yaml and the operator's ConfigMap delivery reconciler;
//     LLMProvider, RateLimitPolicy and Secret created through it; a labelled pod created through
//     it comes back mutated; its sidecar runs with the pod's args and with the ConfigMap the
//     operator delivered and the Secret keys the pod names laid out as its volumes; the official
//     `openai` npm SDK (test/sdk/openai.test.mjs), given the app container's injected env, meets
//     the policy: retries after an injected 503, a blocked prompt, an alias added by editing the
//     LLMProvider (edit -> ConfigMap -> kubelet -> proxy) and a rotated key picked up without a
//     restart, a 429 from the RateLimitPolicy; the upstream saw the real keys only.
//
// Both run under plain `go test` (`make test` provides KUBEBUILDER_ASSETS and test/sdk's
// node_modules). The API-server test finds the envtest binaries through KUBEBUILDER_ASSETS or
// ./bin/k8s (`make envtest`) and fails without them; it skips only when test/sdk/node_modules is
// missing and CI is unset.
package e2e
