package renderer

import (
	"flag"
	"io"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
)

func TestSidecarGolden(t *testing.T) {
	tests := map[string]struct {
		// opts are the operator's sidecar options.
		opts func() SidecarOptions
		// keys are the Secret keys the configuration reads.
		keys []v1alpha1.SecretKeyRef
	}{
		// Defaults, two Secrets, one of them with two keys (listed out of order and once twice).
		"sidecar-defaults": {
			opts: DefaultSidecarOptions,
			keys: []v1alpha1.SecretKeyRef{{Name: "llm-keys", Key: "openai"}, {Name: "azure", Key: "key1"}, {Name: "llm-keys", Key: "anthropic"}, {Name: "azure", Key: "key1"}},
		},
		// Keyless providers only: no Secret volume or mount; no memory limit, so no GOMEMLIMIT; the
		// image's own non-root user.
		"sidecar-keyless": {
			opts: func() SidecarOptions {
				o := DefaultSidecarOptions()
				o.Image = "registry.example/mosaic-proxy:v1"
				o.ImagePullPolicy = corev1.PullIfNotPresent
				o.Port, o.MetricsPort = 18787, 19787
				o.LogLevel = "debug"
				o.RunAsUser = nil
				o.Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}}
				return o
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			opts := tc.opts()
			out, err := yaml.Marshal(map[string]any{
				"initContainer": SidecarContainer(opts, len(tc.keys) > 0),
				"volumes":       SidecarVolumes("mosaic-proxy-0123456789", tc.keys),
				"appEnv":        opts.AppEnv(),
			})
			if err != nil {
				t.Fatal(err)
			}
			compareGolden(t, "testdata/"+name+".golden.yaml", out)
		})
	}
}

func TestSidecarContract(t *testing.T) {
	opts := DefaultSidecarOptions()
	c := SidecarContainer(opts, true)
	if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("restartPolicy = %v, want Always (a native sidecar)", c.RestartPolicy)
	}
	args := strings.Join(c.Args, " ")
	if !strings.Contains(args, "--listen 127.0.0.1:8787") {
		t.Errorf("args %q do not keep the API on loopback", args)
	}
	for _, p := range []*corev1.Probe{c.StartupProbe, c.ReadinessProbe, c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.IntValue() != int(opts.MetricsPort) {
			t.Errorf("probe %+v does not use the metrics port, which the kubelet can reach", p)
		}
	}
	sc := c.SecurityContext
	if !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
		len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("securityContext %+v is not restricted", sc)
	}
	if got := opts.BaseURL(); got != "http://127.0.0.1:8787/v1" {
		t.Errorf("BaseURL = %q", got)
	}
	// The options are copied, never shared: mutating the container leaves them intact.
	c.Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1Gi")
	*c.SecurityContext.RunAsUser = 0
	if q := opts.Resources.Limits[corev1.ResourceMemory]; q.String() != "128Mi" || *opts.RunAsUser != 65532 {
		t.Errorf("SidecarContainer shares memory with its options")
	}
}

func TestSidecarFlags(t *testing.T) {
	tests := map[string]struct {
		// args are the command line.
		args []string
		// check inspects the parsed options; nil when parsing must fail.
		check func(t *testing.T, o SidecarOptions)
		// wantErr is a substring of the parse error.
		wantErr string
	}{
		"defaults": {check: func(t *testing.T, o SidecarOptions) {
			if o.Port != 8787 || o.MetricsPort != 9787 || o.Image == "" {
				t.Errorf("defaults not kept: %+v", o)
			}
		}},
		"everything": {
			args: []string{"--proxy-image=img:1", "--proxy-image-pull-policy=Always", "--proxy-port=1234", "--proxy-metrics-port=4321",
				"--proxy-log-level=warn", "--proxy-cpu-request=20m", "--proxy-memory-request=16Mi", "--proxy-cpu-limit=1", "--proxy-memory-limit=none"},
			check: func(t *testing.T, o SidecarOptions) {
				if o.Image != "img:1" || o.ImagePullPolicy != corev1.PullAlways || o.Port != 1234 || o.MetricsPort != 4321 || o.LogLevel != "warn" {
					t.Errorf("flags not applied: %+v", o)
				}
				if q := o.Resources.Requests[corev1.ResourceCPU]; q.String() != "20m" {
					t.Errorf("cpu request %s", q.String())
				}
				if q := o.Resources.Limits[corev1.ResourceCPU]; q.String() != "1" {
					t.Errorf("cpu limit %s", q.String())
				}
				if _, ok := o.Resources.Limits[corev1.ResourceMemory]; ok {
					t.Errorf("memory limit not removed by none")
				}
			},
		},
		"bad port":        {args: []string{"--proxy-port=70000"}, wantErr: "between 1 and 65535"},
		"bad quantity":    {args: []string{"--proxy-memory-limit=lots"}, wantErr: "proxy-memory-limit"},
		"bad pull policy": {args: []string{"--proxy-image-pull-policy=Sometimes"}, wantErr: "want Always, IfNotPresent or Never"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := DefaultSidecarOptions()
			fs := flag.NewFlagSet("manager", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			o.BindFlags(fs)
			err := fs.Parse(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

func TestPullPolicy(t *testing.T) {
	tests := map[string]struct {
		// image and policy are the options.
		image  string
		policy corev1.PullPolicy
		// want is the container's pull policy (the API server's default when policy is empty).
		want corev1.PullPolicy
	}{
		"tag":               {image: "mosaic-dev/mosaic-proxy:v1.2.3", want: corev1.PullIfNotPresent},
		"latest":            {image: "mosaic-dev/mosaic-proxy:latest", want: corev1.PullAlways},
		"no tag":            {image: "mosaic-dev/mosaic-proxy", want: corev1.PullAlways},
		"registry port":     {image: "registry:5000/mosaic-proxy", want: corev1.PullAlways},
		"registry port tag": {image: "registry:5000/mosaic-proxy:v1", want: corev1.PullIfNotPresent},
		"digest":            {image: "mosaic-dev/mosaic-proxy@sha256:0123", want: corev1.PullIfNotPresent},
		"explicit":          {image: "mosaic-dev/mosaic-proxy:v1", policy: corev1.PullNever, want: corev1.PullNever},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := DefaultSidecarOptions()
			o.Image, o.ImagePullPolicy = tc.image, tc.policy
			if got := SidecarContainer(o, false).ImagePullPolicy; got != tc.want {
				t.Fatalf("pull policy %q, want %q", got, tc.want)
			}
		})
	}
}
