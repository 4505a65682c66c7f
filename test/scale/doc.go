// Package scale holds the operator's load benchmark (build tag "scale"): 1,000 LLMProviders with
// their Secrets against a real kube-apiserver (envtest) and a fake OpenAI upstream, measuring the
// time until all are Ready, the probes per second sustained and the manager's peak RSS.
//
//	KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh) go test -tags scale -run TestThousandProviders -v -timeout 30m ./test/scale/
package scale
