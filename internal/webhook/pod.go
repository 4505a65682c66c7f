package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// PodPath is where the pod-mutating webhook is served.
const PodPath = "/mutate-v1-pod"

// +kubebuilder:webhook:path=/mutate-v1-pod,mutating=true,failurePolicy=fail,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=mpod.llm.mosaic.dev,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=10,patch=`{"objectSelector":{"matchLabels":{"llm.mosaic.dev/inject":"true"}}}`

// PodInjector is the mutating admission webhook that adds mosaic-proxy to opted-in pods.
//
// The API server calls it only for pods labelled llm.mosaic.dev/inject=true (objectSelector), so
// every other pod is admitted without it even while the operator is down, and failurePolicy Fail
// keeps an opted-in pod from ever starting without its sidecar. It reads LLMProviders,
// RateLimitPolicies and Secrets with an uncached reader: a provider created a moment before the pod
// must not be missed because an informer has not caught up.
type PodInjector struct {
	// Reader reads the pod's LLMProviders, RateLimitPolicies and Secrets; use mgr.GetAPIReader().
	Reader client.Reader
	// Sidecar are the operator's sidecar settings.
	Sidecar renderer.SidecarOptions
	// Decoder decodes admission requests.
	Decoder admission.Decoder
}

var _ admission.Handler = (*PodInjector)(nil)

// Handle admits a pod: unchanged when it is not opted in, mutated (with the renderer's warnings)
// when it is and its providers render, denied with a message naming the annotation or provider
// otherwise.
func (p *PodInjector) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create {
		return admission.Allowed("mosaic-proxy is injected at creation only")
	}
	pod := &corev1.Pod{}
	if err := p.Decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding pod: %w", err))
	}
	if pod.Labels[renderer.InjectLabel] != "true" {
		return admission.Allowed("pod is not labelled " + renderer.InjectLabel + "=true")
	}
	namespace := req.Namespace
	if namespace == "" {
		namespace = pod.Namespace
	}
	log := logf.FromContext(ctx).WithValues("namespace", namespace, "pod", podName(pod))

	value, ok := pod.Annotations[renderer.ProvidersAnnotation]
	if !ok {
		return admission.Denied(fmt.Sprintf("pod is labelled %s=true but has no annotation %s naming the LLMProviders to use (e.g. %s: openai)",
			renderer.InjectLabel, renderer.ProvidersAnnotation, renderer.ProvidersAnnotation))
	}
	names, err := renderer.ParseProvidersAnnotation(value)
	if err != nil {
		return admission.Denied(err.Error())
	}
	if pod.Spec.HostNetwork {
		return admission.Denied(fmt.Sprintf("pod is labelled %s=true but uses hostNetwork: mosaic-proxy's 127.0.0.1 listener would be the node's, open to every pod on it", renderer.InjectLabel))
	}
	if conflicts := portConflicts(pod, p.Sidecar); len(conflicts) > 0 {
		return admission.Denied(strings.Join(conflicts, "; "))
	}

	in, err := renderer.Gather(ctx, p.Reader, namespace, names)
	if err != nil {
		var missing *renderer.ProviderNotFoundError
		if errors.As(err, &missing) {
			return admission.Denied(fmt.Sprintf("annotation %s names LLMProvider %q, which does not exist in namespace %q", renderer.ProvidersAnnotation, missing.Name, namespace))
		}
		log.Error(err, "reading the pod's LLMProviders")
		return admission.Errored(http.StatusInternalServerError, err)
	}
	res, err := renderer.RenderDetailed(in)
	if err != nil {
		return admission.Denied(fmt.Sprintf("annotation %s=%q: %v", renderer.ProvidersAnnotation, value, err))
	}

	mutated := pod.DeepCopy()
	InjectSidecar(mutated, Injection{Sidecar: p.Sidecar, ConfigMapName: renderer.ConfigMapName(namespace, names), SecretKeys: res.SecretKeys})
	raw, err := json.Marshal(mutated)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	resp := admission.PatchResponseFromRaw(req.Object.Raw, raw)
	resp.Warnings = res.Warnings
	log.V(1).Info("injecting mosaic-proxy", "providers", names, "patches", len(resp.Patches))
	return resp
}

func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}
