package kubeletfs

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

// testObjects are a ConfigMap "proxy" and Secrets "openai" and "anthropic".
var testObjects = Objects{
	ConfigMaps: map[string]*corev1.ConfigMap{"proxy": {
		ObjectMeta: metav1.ObjectMeta{Name: "proxy"},
		Data:       map[string]string{"config.yaml": "providers: []\n", "other": "x"},
		BinaryData: map[string][]byte{"blob": {0, 1, 2}},
	}},
	Secrets: map[string]*corev1.Secret{
		"openai":    {ObjectMeta: metav1.ObjectMeta{Name: "openai"}, Data: map[string][]byte{"api-key": []byte("sk-1"), "unused": []byte("u")}},
		"anthropic": {ObjectMeta: metav1.ObjectMeta{Name: "anthropic"}, Data: map[string][]byte{"api-key": []byte("sk-ant-2")}},
	},
}

func TestPayload(t *testing.T) {
	tests := map[string]struct {
		// source is the volume source.
		source corev1.VolumeSource
		// want are the payload's paths, content and modes.
		want map[string]File
		// wantErr is a fragment of the expected error ("" for none).
		wantErr string
	}{
		"configMap without items: every key, default mode 0644": {
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "proxy"}}},
			want: map[string]File{
				"config.yaml": {Data: []byte("providers: []\n"), Mode: 0o644},
				"other":       {Data: []byte("x"), Mode: 0o644},
				"blob":        {Data: []byte{0, 1, 2}, Mode: 0o644},
			},
		},
		"configMap items with defaultMode and an item mode": {
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "proxy"},
				Items:                []corev1.KeyToPath{{Key: "config.yaml", Path: "config.yaml"}, {Key: "blob", Path: "bin/blob", Mode: ptr(int32(0o400))}},
				DefaultMode:          ptr(int32(0o444)),
			}},
			want: map[string]File{
				"config.yaml": {Data: []byte("providers: []\n"), Mode: 0o444},
				"bin/blob":    {Data: []byte{0, 1, 2}, Mode: 0o400},
			},
		},
		"configMap item key missing": {
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "proxy"},
				Items:                []corev1.KeyToPath{{Key: "nope", Path: "nope"}},
			}},
			wantErr: `ConfigMap "proxy" has no key "nope"`,
		},
		"configMap missing": {
			source:  corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
			wantErr: `ConfigMap "gone" not found`,
		},
		"optional configMap missing": {
			source: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
			want:   map[string]File{},
		},
		"secret volume": {
			source: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "openai", Items: []corev1.KeyToPath{{Key: "api-key", Path: "key"}}}},
			want:   map[string]File{"key": {Data: []byte("sk-1"), Mode: 0o644}},
		},
		"projected secrets as the renderer mounts them": {
			source: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr(int32(0o444)),
				Sources: []corev1.VolumeProjection{
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "anthropic"}, Items: []corev1.KeyToPath{{Key: "api-key", Path: "anthropic/api-key"}}}},
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "openai"}, Items: []corev1.KeyToPath{{Key: "api-key", Path: "openai/api-key"}}}},
				},
			}},
			want: map[string]File{
				"anthropic/api-key": {Data: []byte("sk-ant-2"), Mode: 0o444},
				"openai/api-key":    {Data: []byte("sk-1"), Mode: 0o444},
			},
		},
		"projected secret missing": {
			source: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gemini"}, Items: []corev1.KeyToPath{{Key: "api-key", Path: "gemini/api-key"}}}},
			}}},
			wantErr: `Secret "gemini" not found`,
		},
		"projected downward API is not supported": {
			source:  corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{DownwardAPI: &corev1.DownwardAPIProjection{}}}}},
			wantErr: "only secret and configMap sources",
		},
		"emptyDir has no payload": {
			source:  corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
			wantErr: "not a configMap, secret or projected volume",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Payload(tc.source, testObjects)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Payload() error = %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.EqualFunc(got, tc.want, func(a, b File) bool { return string(a.Data) == string(b.Data) && a.Mode == b.Mode }) {
				t.Errorf("Payload() = %v, want %v", got, tc.want)
			}
		})
	}
}

// injectedPod is shaped like a pod the Mosaic webhook mutated: a sidecar mounting a ConfigMap at
// /etc/mosaic and a projected Secret volume at /var/run/mosaic/secrets.
func injectedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "mosaic-proxy", VolumeMounts: []corev1.VolumeMount{
				{Name: "config", MountPath: "/etc/mosaic", ReadOnly: true},
				{Name: "secrets", MountPath: "/var/run/mosaic/secrets", ReadOnly: true},
				{Name: "scratch", MountPath: "/tmp"},
			}}},
			Containers: []corev1.Container{{Name: "app"}},
			Volumes: []corev1.Volume{
				{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "proxy"},
					Items:                []corev1.KeyToPath{{Key: "config.yaml", Path: "config.yaml"}},
				}}},
				{Name: "secrets", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "openai"}, Items: []corev1.KeyToPath{{Key: "api-key", Path: "openai/api-key"}}}},
				}}}},
				{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
}

func TestMountsSync(t *testing.T) {
	root := t.TempDir()
	m, err := NewMounts(root, injectedPod(), "mosaic-proxy")
	if err != nil {
		t.Fatal(err)
	}
	objs := Objects{ConfigMaps: maps.Clone(testObjects.ConfigMaps), Secrets: maps.Clone(testObjects.Secrets)}
	changed, err := m.Sync(objs)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"config", "secrets"}; !slices.Equal(changed, want) {
		t.Errorf("first sync changed %v, want %v", changed, want)
	}
	read := func(containerPath string) string {
		t.Helper()
		b, err := os.ReadFile(m.HostPath(containerPath))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("/var/run/mosaic/secrets/openai/api-key"); got != "sk-1" {
		t.Errorf("key file = %q", got)
	}
	if got := read("/etc/mosaic/config.yaml"); got != "providers: []\n" {
		t.Errorf("config file = %q", got)
	}
	if _, err := os.Stat(m.HostPath("/etc/mosaic/other")); !os.IsNotExist(err) {
		t.Errorf("a key not in the items was projected: %v", err)
	}
	if fi, err := os.Stat(m.HostPath("/tmp")); err != nil || !fi.IsDir() {
		t.Errorf("emptyDir mount: %v", err)
	}

	// Nothing changed: no volume is rewritten.
	if changed, err := m.Sync(objs); err != nil || len(changed) != 0 {
		t.Errorf("unchanged sync changed %v (%v)", changed, err)
	}

	// A rotated key rewrites only the Secret volume.
	rotated := testObjects.Secrets["openai"].DeepCopy()
	rotated.Data["api-key"] = []byte("sk-2")
	objs.Secrets["openai"] = rotated
	if changed, err := m.Sync(objs); err != nil || !slices.Equal(changed, []string{"secrets"}) {
		t.Errorf("rotation sync changed %v (%v), want [secrets]", changed, err)
	}
	if got := read("/var/run/mosaic/secrets/openai/api-key"); got != "sk-2" {
		t.Errorf("rotated key file = %q", got)
	}

	// A deleted Secret fails the sync and leaves the last files in place, as the kubelet does.
	delete(objs.Secrets, "openai")
	if _, err := m.Sync(objs); err == nil || !strings.Contains(err.Error(), `volume "secrets": Secret "openai" not found`) {
		t.Errorf("sync without the Secret: %v", err)
	}
	if got := read("/var/run/mosaic/secrets/openai/api-key"); got != "sk-2" {
		t.Errorf("key file after a failed sync = %q", got)
	}
}

func TestNewMountsErrors(t *testing.T) {
	tests := map[string]struct {
		// mutate breaks the injected pod.
		mutate func(*corev1.Pod)
		// container is the container to mount.
		container string
		// wantErr is a fragment of the error.
		wantErr string
	}{
		"unknown container": {mutate: func(*corev1.Pod) {}, container: "nope", wantErr: `no container "nope"`},
		"undeclared volume": {
			mutate:    func(p *corev1.Pod) { p.Spec.Volumes = p.Spec.Volumes[1:] },
			container: "mosaic-proxy", wantErr: `volume "config", which the pod does not declare`,
		},
		"subPath mount": {
			mutate:    func(p *corev1.Pod) { p.Spec.InitContainers[0].VolumeMounts[0].SubPath = "config.yaml" },
			container: "mosaic-proxy", wantErr: "subPath",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			pod := injectedPod()
			tc.mutate(pod)
			if _, err := NewMounts(t.TempDir(), pod, tc.container); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("NewMounts() = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestRewritePaths(t *testing.T) {
	m, err := NewMounts("/tmp/root", injectedPod(), "mosaic-proxy")
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		// in is the argument or text.
		in string
		// want is in with the container paths under mounts replaced.
		want string
	}{
		"argument value":     {in: "/etc/mosaic/config.yaml", want: "/tmp/root/etc/mosaic/config.yaml"},
		"flag=value":         {in: "--config=/etc/mosaic/config.yaml", want: "--config=/tmp/root/etc/mosaic/config.yaml"},
		"mount path itself":  {in: "/var/run/mosaic/secrets", want: "/tmp/root/var/run/mosaic/secrets"},
		"YAML value":         {in: "apiKey: {file: /var/run/mosaic/secrets/openai/api-key}\n", want: "apiKey: {file: /tmp/root/var/run/mosaic/secrets/openai/api-key}\n"},
		"quoted JSON value":  {in: `{"file":"/var/run/mosaic/secrets/a/b"}`, want: `{"file":"/tmp/root/var/run/mosaic/secrets/a/b"}`},
		"longer name kept":   {in: "/etc/mosaicx/config.yaml", want: "/etc/mosaicx/config.yaml"},
		"inside a path kept": {in: "/opt/etc/mosaic/config.yaml", want: "/opt/etc/mosaic/config.yaml"},
		"unrelated":          {in: "127.0.0.1:8787", want: "127.0.0.1:8787"},
		"two paths":          {in: "/etc/mosaic,/tmp/x", want: "/tmp/root/etc/mosaic,/tmp/root/tmp/x"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := m.RewritePaths(tc.in); got != tc.want {
				t.Errorf("RewritePaths(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	if got := m.HostPath("/etc/mosaic/../x"); got != filepath.Join("/tmp/root", "etc", "x") {
		t.Errorf("HostPath cleans the container path: %q", got)
	}
}
