// Package deploy tests the ways Mosaic is installed, against a real kube-apiserver (envtest):
// `kubectl kustomize config/default` (and config/certmanager) and `helm template charts/mosaic`
// are each applied object by object with a server-side dry run, and the two paths must create the
// same objects with the same RBAC rules and webhooks; the Argo CD health checks in config/argocd
// are run on their test data with gopher-lua, as Argo CD runs them.
package deploy
