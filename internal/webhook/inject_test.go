package webhook

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
)

func TestInjectSidecar(t *testing.T) {
	opts := renderer.DefaultSidecarOptions()
	keys := []v1alpha1.SecretKeyRef{{Name: "openai-key", Key: "api-key"}}
	tests := map[string]struct {
		// pod is the pod before injection.
		pod *corev1.Pod
		// keys are the Secret keys of the configuration.
		keys []v1alpha1.SecretKeyRef
		// wantInit are the init container names after injection, in order.
		wantInit []string
		// wantVolumes are the volume names after injection, in order.
		wantVolumes []string
		// wantSkipped is the env-skipped annotation ("" = absent).
		wantSkipped string
		// wantEnv maps container name to its env names after injection, in order.
		wantEnv map[string][]string
	}{
		"plain pod": {
			pod:         pod(container("app")),
			keys:        keys,
			wantInit:    []string{"mosaic-proxy"},
			wantVolumes: []string{"mosaic-proxy-config", "mosaic-proxy-secrets"},
			wantEnv:     map[string][]string{"app": {"OPENAI_BASE_URL", "OPENAI_API_KEY"}},
		},
		"keyless providers: no secret volume": {
			pod:         pod(container("app")),
			wantInit:    []string{"mosaic-proxy"},
			wantVolumes: []string{"mosaic-proxy-config"},
			wantEnv:     map[string][]string{"app": {"OPENAI_BASE_URL", "OPENAI_API_KEY"}},
		},
		"sidecar goes before existing init containers and volumes are kept": {
			pod: func() *corev1.Pod {
				p := pod(container("app"))
				p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}}
				p.Spec.Volumes = []corev1.Volume{{Name: "data"}}
				return p
			}(),
			keys:        keys,
			wantInit:    []string{"mosaic-proxy", "migrate"},
			wantVolumes: []string{"data", "mosaic-proxy-config", "mosaic-proxy-secrets"},
			wantEnv:     map[string][]string{"app": {"OPENAI_BASE_URL", "OPENAI_API_KEY"}},
		},
		"variables the app sets are left and recorded": {
			pod: pod(
				container("app", corev1.EnvVar{Name: "OPENAI_BASE_URL", Value: "https://api.openai.com/v1"}),
				container("worker", corev1.EnvVar{Name: "LOG", Value: "1"}, corev1.EnvVar{Name: "OPENAI_API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}}),
			),
			keys:        keys,
			wantInit:    []string{"mosaic-proxy"},
			wantVolumes: []string{"mosaic-proxy-config", "mosaic-proxy-secrets"},
			wantSkipped: "app/OPENAI_BASE_URL,worker/OPENAI_API_KEY",
			wantEnv: map[string][]string{
				"app":    {"OPENAI_BASE_URL", "OPENAI_API_KEY"},
				"worker": {"LOG", "OPENAI_API_KEY", "OPENAI_BASE_URL"},
			},
		},
		"a stale sidecar and volumes are replaced, a stale annotation dropped": {
			pod: func() *corev1.Pod {
				p := pod(container("app"))
				p.Annotations[renderer.EnvSkippedAnnotation] = "app/OPENAI_BASE_URL"
				p.Spec.InitContainers = []corev1.Container{{Name: "migrate"}, {Name: "mosaic-proxy", Image: "old"}}
				p.Spec.Volumes = []corev1.Volume{{Name: "mosaic-proxy-secrets"}, {Name: "data"}, {Name: "mosaic-proxy-config"}}
				return p
			}(),
			keys:        keys,
			wantInit:    []string{"mosaic-proxy", "migrate"},
			wantVolumes: []string{"data", "mosaic-proxy-config", "mosaic-proxy-secrets"},
			wantEnv:     map[string][]string{"app": {"OPENAI_BASE_URL", "OPENAI_API_KEY"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p := tc.pod.DeepCopy()
			in := Injection{Sidecar: opts, ConfigMapName: "mosaic-proxy-0123456789", SecretKeys: tc.keys}
			InjectSidecar(p, in)

			if got := names(p.Spec.InitContainers, func(c corev1.Container) string { return c.Name }); !slices.Equal(got, tc.wantInit) {
				t.Errorf("init containers %v, want %v", got, tc.wantInit)
			}
			if img := p.Spec.InitContainers[0].Image; img != opts.Image {
				t.Errorf("sidecar image %q, want %q", img, opts.Image)
			}
			if got := names(p.Spec.Volumes, func(v corev1.Volume) string { return v.Name }); !slices.Equal(got, tc.wantVolumes) {
				t.Errorf("volumes %v, want %v", got, tc.wantVolumes)
			}
			if got := p.Annotations[renderer.EnvSkippedAnnotation]; got != tc.wantSkipped {
				t.Errorf("env-skipped %q, want %q", got, tc.wantSkipped)
			}
			if got := p.Labels[renderer.ConfigLabel]; got != in.ConfigMapName {
				t.Errorf("config label %q", got)
			}
			for _, c := range p.Spec.Containers {
				if got := names(c.Env, func(e corev1.EnvVar) string { return e.Name }); !slices.Equal(got, tc.wantEnv[c.Name]) {
					t.Errorf("container %s env %v, want %v", c.Name, got, tc.wantEnv[c.Name])
				}
			}
			// The user's values survive.
			for i, c := range tc.pod.Spec.Containers {
				for _, e := range c.Env {
					j := slices.IndexFunc(p.Spec.Containers[i].Env, func(x corev1.EnvVar) bool { return x.Name == e.Name })
					if diff := cmp.Diff(e, p.Spec.Containers[i].Env[j]); diff != "" {
						t.Errorf("container %s variable %s changed:\n%s", c.Name, e.Name, diff)
					}
				}
			}

			again := p.DeepCopy()
			InjectSidecar(again, in)
			if diff := cmp.Diff(p, again); diff != "" {
				t.Errorf("injecting twice changed the pod:\n%s", diff)
			}
		})
	}
}

func TestPortConflicts(t *testing.T) {
	opts := renderer.DefaultSidecarOptions()
	withPort := func(name string, port int32) corev1.Container {
		return corev1.Container{Name: name, Ports: []corev1.ContainerPort{{ContainerPort: port}}}
	}
	tests := map[string]struct {
		// pod is checked.
		pod *corev1.Pod
		// want are substrings of the conflicts, one per conflict.
		want []string
	}{
		"none":         {pod: pod(withPort("app", 8080))},
		"api port":     {pod: pod(withPort("app", 8787)), want: []string{`container "app" declares port 8787`}},
		"metrics port": {pod: pod(withPort("app", 8080), withPort("exporter", 9787)), want: []string{`container "exporter" declares port 9787`}},
		"own sidecar ok": {pod: func() *corev1.Pod {
			p := pod(container("app"))
			p.Spec.InitContainers = []corev1.Container{withPort("mosaic-proxy", 9787)}
			return p
		}()},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := portConflicts(tc.pod, opts)
			if len(got) != len(tc.want) {
				t.Fatalf("conflicts %q, want %d", got, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("conflict %q does not contain %q", got[i], w)
				}
			}
		})
	}
}

func pod(containers ...corev1.Container) *corev1.Pod {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: containers}}
	p.Name, p.Namespace = "app", "team-a"
	p.Labels = map[string]string{renderer.InjectLabel: "true"}
	p.Annotations = map[string]string{renderer.ProvidersAnnotation: "openai"}
	return p
}

func container(name string, env ...corev1.EnvVar) corev1.Container {
	return corev1.Container{Name: name, Image: "app:1", Env: env}
}

func names[T any](items []T, name func(T) string) []string {
	var out []string
	for _, it := range items {
		out = append(out, name(it))
	}
	return out
}

// BenchmarkInjectSidecar is the pod mutation itself, done once per admitted pod.
func BenchmarkInjectSidecar(b *testing.B) {
	opts := renderer.DefaultSidecarOptions()
	in := Injection{Sidecar: opts, ConfigMapName: "mosaic-proxy-0123456789", SecretKeys: []v1alpha1.SecretKeyRef{{Name: "k", Key: "a"}}}
	base := pod(container("app"), container("worker"))
	b.ReportAllocs()
	for b.Loop() {
		InjectSidecar(base.DeepCopy(), in)
	}
}
