package renderer

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"path"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
)

// The pod-facing contract: labels, annotations, names and paths.
const (
	// InjectLabel opts a pod in: the webhook's objectSelector matches InjectLabel=true, so the API
	// server never calls the webhook for any other pod.
	InjectLabel = "llm.mosaic.dev/inject"
	// ProvidersAnnotation names the LLMProviders (comma separated, in the pod's namespace) whose
	// configuration the pod's sidecar runs.
	ProvidersAnnotation = "llm.mosaic.dev/providers"
	// EnvSkippedAnnotation lists "container/VAR" pairs the webhook left alone because the
	// container already set them.
	EnvSkippedAnnotation = "llm.mosaic.dev/env-skipped"
	// ConfigLabel, on an injected pod and on its ConfigMap, holds the ConfigMap's name, so the pods
	// using one configuration can be listed with a label selector.
	ConfigLabel = "llm.mosaic.dev/proxy-config"

	// ContainerName is the sidecar's name.
	ContainerName = "mosaic-proxy"
	// ConfigVolumeName is the volume holding the proxy ConfigMap.
	ConfigVolumeName = "mosaic-proxy-config"
	// SecretsVolumeName is the projected volume holding only the referenced Secret keys.
	SecretsVolumeName = "mosaic-proxy-secrets"
	// ConfigDir is where the ConfigMap is mounted in the sidecar.
	ConfigDir = "/etc/mosaic"
	// ConfigKey is the ConfigMap key (and file name) of the rendered configuration.
	ConfigKey = "config.yaml"
	// SecretsDir is where the projected Secret volume is mounted in the sidecar; the key k of
	// Secret s is the file SecretsDir/s/k.
	SecretsDir = "/var/run/mosaic/secrets"

	// BaseURLEnv and APIKeyEnv are the variables the official OpenAI SDKs read.
	BaseURLEnv = "OPENAI_BASE_URL"
	APIKeyEnv  = "OPENAI_API_KEY"
	// PlaceholderAPIKey is the app's OPENAI_API_KEY: the SDKs insist on one, the sidecar drops it
	// and sends the real key.
	PlaceholderAPIKey = "placeholder-mosaic-proxy-adds-the-key"

	// MetricsPortName names the sidecar's metrics and health port.
	MetricsPortName = "mosaic-metrics"
)

// SecretKeyPath is the file at which the sidecar reads key of Secret secret.
func SecretKeyPath(secret, key string) string {
	return path.Join(SecretsDir, secret, key)
}

// ConfigMapName is the name of the ConfigMap holding the configuration for a set of requested
// providers in a namespace: "mosaic-proxy-" and 10 hex digits of a SHA-256 of the namespace and the
// sorted, de-duplicated names, so every pod asking for the same set shares one ConfigMap whatever
// the order of its annotation.
func ConfigMapName(namespace string, providerNames []string) string {
	h := sha256.New()
	h.Write([]byte(namespace))
	for _, n := range NormalizeProviderNames(providerNames) {
		h.Write([]byte{0})
		h.Write([]byte(n))
	}
	return "mosaic-proxy-" + hex.EncodeToString(h.Sum(nil))[:10]
}

// ConfigMap builds the ConfigMap that carries cfg for the requested providers. It has no owner
// references: the ProxyConfig reconciler deletes it once no pod uses it.
func ConfigMap(namespace string, providerNames []string, cfg *proxyconfig.Config) (*corev1.ConfigMap, error) {
	data, err := proxyconfig.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("marshalling proxy configuration: %w", err)
	}
	name := ConfigMapName(namespace, providerNames)
	return &corev1.ConfigMap{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: namespace,
			Labels: map[string]string{
				"app.kubernetes.io/name":       ContainerName,
				"app.kubernetes.io/managed-by": "mosaic",
				ConfigLabel:                    name,
			},
			Annotations: map[string]string{ProvidersAnnotation: strings.Join(NormalizeProviderNames(providerNames), ",")},
		},
		Data: map[string]string{ConfigKey: string(data)},
	}, nil
}

// ParseProvidersAnnotation reads an llm.mosaic.dev/providers value: LLMProvider names separated by
// commas, white space around them ignored. It returns the names sorted without duplicates, or an
// error naming the annotation and the bad entry.
func ParseProvidersAnnotation(value string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, fmt.Errorf("annotation %s is empty; set it to one or more LLMProvider names separated by commas", ProvidersAnnotation)
	}
	parts := strings.Split(value, ",")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fmt.Errorf("annotation %s=%q: entry %d is empty", ProvidersAnnotation, value, i+1)
		}
		if errs := validation.IsDNS1123Subdomain(p); len(errs) > 0 {
			return nil, fmt.Errorf("annotation %s=%q: %q is not an LLMProvider name: %s", ProvidersAnnotation, value, p, errs[0])
		}
	}
	return NormalizeProviderNames(parts), nil
}

// SidecarOptions are the operator's settings for every injected sidecar (its command-line flags).
type SidecarOptions struct {
	// Image is the mosaic-proxy image.
	Image string
	// ImagePullPolicy of the sidecar; empty means the API server's default for Image (Always for
	// :latest or no tag, else IfNotPresent), written out so that re-injecting changes nothing.
	ImagePullPolicy corev1.PullPolicy
	// Port is the OpenAI API port, on 127.0.0.1 only.
	Port int32
	// MetricsPort serves /metrics, /healthz and /readyz on all interfaces: kubelet probes and
	// Prometheus reach a pod on its IP, never on its loopback.
	MetricsPort int32
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// Resources are the sidecar's requests and limits. GOMEMLIMIT is set to 90% of a memory limit.
	Resources corev1.ResourceRequirements
	// RunAsUser is the sidecar's UID; nil leaves it to the image (which must then be non-root).
	RunAsUser *int64
}

// DefaultSidecarOptions are the defaults of the operator's sidecar flags.
func DefaultSidecarOptions() SidecarOptions {
	uid := int64(65532)
	return SidecarOptions{
		Image:       "mosaic-dev/mosaic-proxy:dev",
		Port:        8787,
		MetricsPort: 9787,
		LogLevel:    "info",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("32Mi"),
			},
			Limits: corev1.ResourceList{
				corev1.ResourceMemory: resource.MustParse("128Mi"),
			},
		},
		RunAsUser: &uid,
	}
}

// BindFlags registers the sidecar flags (--proxy-image, --proxy-port, ...) on fs, with o's
// current values as defaults.
func (o *SidecarOptions) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Image, "proxy-image", o.Image, "mosaic-proxy image injected into opted-in pods")
	fs.Func("proxy-image-pull-policy", "pull policy of the injected sidecar (Always, IfNotPresent, Never; default: the API server's)", func(s string) error {
		switch p := corev1.PullPolicy(s); p {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
			o.ImagePullPolicy = p
			return nil
		}
		return fmt.Errorf("want Always, IfNotPresent or Never, got %q", s)
	})
	fs.Func("proxy-port", fmt.Sprintf("port of the sidecar's OpenAI API on 127.0.0.1 (default %d)", o.Port), portFlag(&o.Port))
	fs.Func("proxy-metrics-port", fmt.Sprintf("port of the sidecar's /metrics, /healthz and /readyz on the pod IP (default %d)", o.MetricsPort), portFlag(&o.MetricsPort))
	fs.StringVar(&o.LogLevel, "proxy-log-level", o.LogLevel, "sidecar log level: debug, info, warn or error")
	for _, r := range []struct {
		flag string
		list *corev1.ResourceList
		name corev1.ResourceName
	}{
		{"proxy-cpu-request", &o.Resources.Requests, corev1.ResourceCPU},
		{"proxy-memory-request", &o.Resources.Requests, corev1.ResourceMemory},
		{"proxy-cpu-limit", &o.Resources.Limits, corev1.ResourceCPU},
		{"proxy-memory-limit", &o.Resources.Limits, corev1.ResourceMemory},
	} {
		def := "none"
		if q, ok := (*r.list)[r.name]; ok {
			def = q.String()
		}
		fs.Func(r.flag, fmt.Sprintf("sidecar %s (a quantity, or \"none\"; default %s)", strings.ReplaceAll(r.flag[len("proxy-"):], "-", " "), def), func(s string) error {
			if s == "none" || s == "" {
				delete(*r.list, r.name)
				return nil
			}
			q, err := resource.ParseQuantity(s)
			if err != nil {
				return err
			}
			if *r.list == nil {
				*r.list = corev1.ResourceList{}
			}
			(*r.list)[r.name] = q
			return nil
		})
	}
}

func portFlag(p *int32) func(string) error {
	return func(s string) error {
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("want a port between 1 and 65535, got %q", s)
		}
		*p = int32(n)
		return nil
	}
}

// BaseURL is the OPENAI_BASE_URL that points an app at its sidecar.
func (o SidecarOptions) BaseURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/v1", o.Port)
}

// AppEnv are the variables the webhook gives every app container (unless it sets them already).
func (o SidecarOptions) AppEnv() []corev1.EnvVar {
	return []corev1.EnvVar{
		{Name: BaseURLEnv, Value: o.BaseURL()},
		{Name: APIKeyEnv, Value: PlaceholderAPIKey},
	}
}

// SidecarContainer builds mosaic-proxy as a native sidecar: an init container with restartPolicy
// Always, so it starts before the app containers (which wait for its startup probe) and stops after
// them.
//
// The API listens on 127.0.0.1 only: the sidecar adds the provider key, so nothing outside the pod
// may reach it. Kubelet probes, however, connect to the pod IP, never to its loopback, so the probes
// use the metrics listener, which binds all interfaces and serves only /metrics, /healthz and
// /readyz (Prometheus must reach /metrics on the pod IP anyway). Exec probes were rejected: they
// fork a process in the container every period and need an HTTP client binary in the image.
//
// mountSecrets adds the projected Secret volume's mount; it is false when no provider takes a key.
func SidecarContainer(opts SidecarOptions, mountSecrets bool) corev1.Container {
	probe := func(path string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: path, Port: intstr.FromInt32(opts.MetricsPort), Scheme: corev1.URISchemeHTTP,
			}},
			PeriodSeconds:    period,
			TimeoutSeconds:   1,
			SuccessThreshold: 1,
			FailureThreshold: failures,
		}
	}
	always := corev1.ContainerRestartPolicyAlways
	c := corev1.Container{
		Name:            ContainerName,
		Image:           opts.Image,
		ImagePullPolicy: pullPolicy(opts),
		Args: []string{
			"--config", path.Join(ConfigDir, ConfigKey),
			"--listen", fmt.Sprintf("127.0.0.1:%d", opts.Port),
			"--metrics-listen", fmt.Sprintf(":%d", opts.MetricsPort),
			"--log-level", opts.LogLevel,
		},
		Ports:         []corev1.ContainerPort{{Name: MetricsPortName, ContainerPort: opts.MetricsPort, Protocol: corev1.ProtocolTCP}},
		Resources:     *opts.Resources.DeepCopy(),
		RestartPolicy: &always,
		// Startup: up to 30 s for the first /readyz; the app containers start only after it.
		StartupProbe:   probe("/readyz", 1, 30),
		ReadinessProbe: probe("/readyz", 5, 2),
		LivenessProbe:  probe("/healthz", 10, 3),
		VolumeMounts: []corev1.VolumeMount{
			{Name: ConfigVolumeName, MountPath: ConfigDir, ReadOnly: true},
		},
		TerminationMessagePath:   corev1.TerminationMessagePathDefault,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr(true),
			RunAsUser:                cloneInt64(opts.RunAsUser),
			ReadOnlyRootFilesystem:   ptr(true),
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	if len(c.Resources.Requests) == 0 {
		c.Resources.Requests = nil
	}
	if len(c.Resources.Limits) == 0 {
		c.Resources.Limits = nil
	}
	if mountSecrets {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: SecretsVolumeName, MountPath: SecretsDir, ReadOnly: true})
	}
	if q, ok := opts.Resources.Limits[corev1.ResourceMemory]; ok && q.Value() > 0 {
		c.Env = append(c.Env, corev1.EnvVar{Name: "GOMEMLIMIT", Value: strconv.FormatInt(q.Value()/10*9, 10)})
	}
	return c
}

// SidecarVolumes builds the sidecar's volumes: the ConfigMap, and (when any provider takes a key)
// a projected volume holding exactly the Secret keys listed, key k of Secret s at s/k. Both are
// updated in place by the kubelet (atomic ..data symlink swap), which mosaic-proxy watches.
func SidecarVolumes(configMapName string, keys []v1alpha1.SecretKeyRef) []corev1.Volume {
	vols := []corev1.Volume{{
		Name: ConfigVolumeName,
		VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: configMapName},
			Items:                []corev1.KeyToPath{{Key: ConfigKey, Path: ConfigKey}},
			DefaultMode:          ptr(int32(0o444)),
		}},
	}}
	keys = sortSecretKeys(append([]v1alpha1.SecretKeyRef(nil), keys...))
	if len(keys) == 0 {
		return vols
	}
	var sources []corev1.VolumeProjection
	for _, k := range keys {
		if n := len(sources); n > 0 && sources[n-1].Secret.Name == k.Name {
			sources[n-1].Secret.Items = append(sources[n-1].Secret.Items, corev1.KeyToPath{Key: k.Key, Path: path.Join(k.Name, k.Key)})
			continue
		}
		sources = append(sources, corev1.VolumeProjection{Secret: &corev1.SecretProjection{
			LocalObjectReference: corev1.LocalObjectReference{Name: k.Name},
			Items:                []corev1.KeyToPath{{Key: k.Key, Path: path.Join(k.Name, k.Key)}},
		}})
	}
	return append(vols, corev1.Volume{
		Name: SecretsVolumeName,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources:     sources,
			DefaultMode: ptr(int32(0o444)),
		}},
	})
}

// pullPolicy is opts.ImagePullPolicy, or the default the API server would give the image.
func pullPolicy(opts SidecarOptions) corev1.PullPolicy {
	if opts.ImagePullPolicy != "" {
		return opts.ImagePullPolicy
	}
	image := opts.Image
	if i := strings.LastIndex(image, "@"); i >= 0 {
		return corev1.PullIfNotPresent
	}
	if i := strings.LastIndex(image, ":"); i < 0 || strings.Contains(image[i:], "/") || image[i+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func ptr[T any](v T) *T { return &v }

func cloneInt64(p *int64) *int64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
