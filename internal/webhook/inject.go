package webhook

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

// Injection is what InjectSidecar adds to a pod.
type Injection struct {
	// Sidecar are the operator's sidecar settings.
	Sidecar renderer.SidecarOptions
	// ConfigMapName is the ConfigMap holding the pod's proxy configuration.
	ConfigMapName string
	// SecretKeys are the Secret keys that configuration reads.
	SecretKeys []v1alpha1.SecretKeyRef
}

// InjectSidecar adds mosaic-proxy to pod: the native sidecar as the first init container (so other
// init containers can use it too), its volumes, the config label, and OPENAI_BASE_URL plus a
// placeholder OPENAI_API_KEY in every app container that does not set them already (those it leaves
// alone are listed in the llm.mosaic.dev/env-skipped annotation).
//
// It is idempotent: a sidecar or volume of the same name is replaced, and variables it set itself
// (same value) are neither added twice nor reported as skipped, so InjectSidecar(InjectSidecar(p))
// equals InjectSidecar(p).
func InjectSidecar(pod *corev1.Pod, in Injection) {
	spec := &pod.Spec
	sidecar := renderer.SidecarContainer(in.Sidecar, len(in.SecretKeys) > 0)
	spec.InitContainers = slices.DeleteFunc(spec.InitContainers, func(c corev1.Container) bool { return c.Name == renderer.ContainerName })
	spec.InitContainers = slices.Insert(spec.InitContainers, 0, sidecar)

	spec.Volumes = slices.DeleteFunc(spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == renderer.ConfigVolumeName || v.Name == renderer.SecretsVolumeName
	})
	spec.Volumes = append(spec.Volumes, renderer.SidecarVolumes(in.ConfigMapName, in.SecretKeys)...)

	var skipped []string
	for i := range spec.Containers {
		c := &spec.Containers[i]
		for _, want := range in.Sidecar.AppEnv() {
			j := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == want.Name })
			switch {
			case j < 0:
				c.Env = append(c.Env, want)
			case c.Env[j].ValueFrom != nil || c.Env[j].Value != want.Value:
				skipped = append(skipped, c.Name+"/"+want.Name)
			}
		}
	}

	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[renderer.ConfigLabel] = in.ConfigMapName
	if len(skipped) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[renderer.EnvSkippedAnnotation] = strings.Join(skipped, ",")
	} else {
		delete(pod.Annotations, renderer.EnvSkippedAnnotation)
	}
}

// portConflicts lists the containers of pod (other than the sidecar) that declare a port the
// sidecar uses, as sentences for a denial.
func portConflicts(pod *corev1.Pod, opts renderer.SidecarOptions) []string {
	used := map[int32]string{
		opts.Port:        "its OpenAI API port (operator flag --proxy-port)",
		opts.MetricsPort: "its metrics and health port (operator flag --proxy-metrics-port)",
	}
	var out []string
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
		if c.Name == renderer.ContainerName {
			continue
		}
		for _, p := range c.Ports {
			if what, ok := used[p.ContainerPort]; ok {
				out = append(out, fmt.Sprintf("container %q declares port %d, which mosaic-proxy uses as %s", c.Name, p.ContainerPort, what))
			}
		}
	}
	return out
}
