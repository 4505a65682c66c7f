package e2e

import (
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/mosaic-dev/mosaic/internal/renderer"
	"github.com/mosaic-dev/mosaic/test/kubeletfs"
)

// localSidecar is the mosaic-proxy container of a mutated pod run as a process on this machine,
// as close to the pod as a process gets:
//
//   - its volumes are laid out by kubeletfs exactly as the kubelet lays them out, at their mount
//     paths under a root directory standing for the container's "/"; the container paths in its
//     args and in the mounted ConfigMap (apiKey.file) are moved under that root, nothing else;
//   - its args are the container's args, flag for flag, except that in a pod the sidecar has the
//     pod's own network namespace, so 127.0.0.1:8787 and :9787 are its alone, while here ports are
//     shared with the machine: --listen gets a free 127.0.0.1 port, and --metrics-listen (all
//     interfaces in a pod, for the kubelet's probes) a free 127.0.0.1 port too; the app's
//     OPENAI_BASE_URL is moved to the same --listen port (appEnv);
//   - its environment is the container's env and nothing else, plus extraEnv (the trust store
//     for the fake upstream's certificate, which an image would carry);
//   - it is ready when the container's startup probe path answers on the metrics port.
type localSidecar struct {
	// proc is the running process.
	proc *proxyProcess
	// mounts are the container's volumes.
	mounts *kubeletfs.Mounts
	// apiAddr is where --listen was moved to.
	apiAddr string

	pod       *corev1.Pod
	container corev1.Container
}

// runSidecar starts pod's mosaic-proxy sidecar with its volumes projected from objs.
func runSidecar(t *testing.T, pod *corev1.Pod, objs kubeletfs.Objects, extraEnv ...string) *localSidecar {
	t.Helper()
	i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == renderer.ContainerName })
	if i < 0 {
		t.Fatalf("pod %s has no %s init container", pod.Name, renderer.ContainerName)
	}
	c := pod.Spec.InitContainers[i]
	m, err := kubeletfs.NewMounts(t.TempDir(), pod, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	s := &localSidecar{mounts: m, pod: pod, container: c}
	s.sync(t, objs)

	args, apiAddr, metricsAddr := s.localArgs(t)
	s.apiAddr = apiAddr
	var env []string
	for _, e := range c.Env {
		if e.ValueFrom != nil {
			t.Fatalf("sidecar env %s uses valueFrom, which this harness does not resolve", e.Name)
		}
		env = append(env, e.Name+"="+e.Value)
	}
	env = append(env, extraEnv...)
	if c.StartupProbe == nil || c.StartupProbe.HTTPGet == nil {
		t.Fatal("the sidecar has no HTTP startup probe")
	}
	s.proc = startProxyProcess(t, args, env, t.TempDir(), metricsAddr, c.StartupProbe.HTTPGet.Path)
	return s
}

// sync is the kubelet's periodic volume sync: it projects objs into the sidecar's volumes (with
// container paths in mounted ConfigMaps moved under the root) and returns the changed volumes.
func (s *localSidecar) sync(t *testing.T, objs kubeletfs.Objects) []string {
	t.Helper()
	moved := kubeletfs.Objects{Secrets: objs.Secrets, ConfigMaps: map[string]*corev1.ConfigMap{}}
	for name, cm := range objs.ConfigMaps {
		cm = cm.DeepCopy()
		for k, v := range cm.Data {
			cm.Data[k] = s.mounts.RewritePaths(v)
			if strings.ReplaceAll(cm.Data[k], s.mounts.Root, "") != v {
				t.Fatalf("ConfigMap %s key %s: moving container paths changed more than the paths", name, k)
			}
		}
		moved.ConfigMaps[name] = cm
	}
	changed, err := s.mounts.Sync(moved)
	if err != nil {
		t.Fatalf("kubelet volume sync: %v", err)
	}
	return changed
}

// localArgs are the container's args for this machine (see localSidecar), with the listeners'
// new addresses.
func (s *localSidecar) localArgs(t *testing.T) (args []string, apiAddr, metricsAddr string) {
	t.Helper()
	apiAddr, metricsAddr = freeAddr(t), freeAddr(t)
	listen := map[string]string{"--listen": apiAddr, "--metrics-listen": metricsAddr}
	orig := s.container.Args
	for i := 0; i < len(orig); i++ {
		a := orig[i]
		name, value, inline := strings.Cut(a, "=")
		if to, ok := listen[name]; ok {
			if !inline {
				if i+1 == len(orig) {
					t.Fatalf("sidecar arg %s has no value", a)
				}
				i++
				value = orig[i]
				args = append(args, a)
			}
			if name == "--listen" && !strings.HasPrefix(value, "127.0.0.1:") {
				t.Fatalf("the sidecar's --listen is %q: the API must listen on 127.0.0.1 only", value)
			}
			if inline {
				to = name + "=" + to
			}
			args = append(args, to)
			continue
		}
		moved := s.mounts.RewritePaths(a)
		if strings.ReplaceAll(moved, s.mounts.Root, "") != a {
			t.Fatalf("moving container paths in arg %q changed more than the paths", a)
		}
		args = append(args, moved)
	}
	return args, apiAddr, metricsAddr
}

// listenAddr is the sidecar's --listen value in the pod.
func (s *localSidecar) listenAddr(t *testing.T) string {
	t.Helper()
	for i, a := range s.container.Args {
		if v, ok := strings.CutPrefix(a, "--listen="); ok {
			return v
		}
		if a == "--listen" && i+1 < len(s.container.Args) {
			return s.container.Args[i+1]
		}
	}
	t.Fatal("the sidecar has no --listen arg")
	return ""
}

// appEnv is the env of the pod's app container name as literal NAME=value pairs, with
// OPENAI_BASE_URL, which must point at the sidecar's --listen address in the pod, moved to the
// sidecar's local address.
func (s *localSidecar) appEnv(t *testing.T, name string) []string {
	t.Helper()
	i := slices.IndexFunc(s.pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == name })
	if i < 0 {
		t.Fatalf("pod %s has no container %q", s.pod.Name, name)
	}
	var env []string
	for _, e := range s.pod.Spec.Containers[i].Env {
		if e.ValueFrom != nil {
			continue
		}
		v := e.Value
		if e.Name == renderer.BaseURLEnv {
			u, err := url.Parse(v)
			if err != nil {
				t.Fatalf("%s=%q: %v", e.Name, v, err)
			}
			if u.Host != s.listenAddr(t) {
				t.Fatalf("%s=%q does not point at the sidecar's --listen %s", e.Name, v, s.listenAddr(t))
			}
			_, port, _ := net.SplitHostPort(s.apiAddr)
			u.Host = net.JoinHostPort(u.Hostname(), port)
			v = u.String()
		}
		env = append(env, e.Name+"="+v)
	}
	return env
}
