package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// repoRoot is the repository, relative to this package's directory (where `go test` runs).
var repoRoot = filepath.Join("..", "..")

// fieldOwner is the field manager of every dry-run apply.
const fieldOwner = client.FieldOwner("mosaic-deploy-test")

// apiServer is the envtest control plane, started by the first test that needs it (the Lua tests
// do not) and stopped by TestMain.
var apiServer struct {
	once   sync.Once
	env    *envtest.Environment
	client client.Client
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if apiServer.env != nil {
		if err := apiServer.env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}
	os.Exit(code)
}

// kubeClient returns a client of the envtest API server with the Mosaic CRDs installed, starting it
// on first use.
func kubeClient(t *testing.T) client.Client {
	t.Helper()
	apiServer.once.Do(func() {
		env := &envtest.Environment{
			CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
			ErrorIfCRDPathMissing: true,
		}
		cfg, err := env.Start()
		if err != nil {
			apiServer.err = fmt.Errorf("starting envtest (is KUBEBUILDER_ASSETS set? see hack/envtest-assets.sh): %w", err)
			return
		}
		apiServer.env = env
		apiServer.client, apiServer.err = client.New(cfg, client.Options{})
	})
	if apiServer.err != nil {
		t.Fatal(apiServer.err)
	}
	return apiServer.client
}

// ensureNamespace creates namespace ns (for real: a dry-run object cannot be created in a
// namespace that does not exist).
func ensureNamespace(t *testing.T, c client.Client, ns string) {
	t.Helper()
	obj := &corev1.Namespace{}
	obj.Name = ns
	if err := client.IgnoreAlreadyExists(c.Create(context.Background(), obj)); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
}

// errNoCRD says the API server serves no resource for an object's kind.
var errNoCRD = errors.New("the API server serves no such kind")

// dryRunApply applies u with a server-side dry run (the schema, defaulting, validation and
// admission run; nothing is stored). It returns errNoCRD when the kind is not served.
func dryRunApply(c client.Client, u *unstructured.Unstructured) error {
	err := c.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u.DeepCopy()),
		client.DryRunAll, fieldOwner, client.ForceOwnership)
	if meta.IsNoMatchError(err) {
		return fmt.Errorf("%w: %v", errNoCRD, err)
	}
	return err
}

// tool finds an executable: first in the given directories, then on PATH. With none, the test is
// skipped on a developer machine and fails in CI (CI set), where every tool must be provided.
func tool(t *testing.T, name, hint string, dirs ...string) string {
	t.Helper()
	for _, dir := range dirs {
		if dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			abs, err := filepath.Abs(p)
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found in %v or on PATH; %s", name, dirs, hint)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// run runs a command in the repository root and returns its standard output.
func run(t *testing.T, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, stderr.String())
	}
	return stdout.Bytes()
}

// kustomize renders a kustomization directory (relative to the repository) with kubectl.
func kustomize(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	kubectl := tool(t, "kubectl", "it comes with the envtest assets (hack/envtest-assets.sh)", os.Getenv("KUBEBUILDER_ASSETS"))
	return decodeObjects(t, "kubectl kustomize "+dir, run(t, nil, kubectl, "kustomize", dir))
}

// helmTemplate renders charts/mosaic as release in namespace with extra `helm template` flags.
func helmTemplate(t *testing.T, release, namespace string, flags ...string) []*unstructured.Unstructured {
	t.Helper()
	helm := tool(t, "helm", "run hack/install-helm.sh", filepath.Join(repoRoot, "bin"))
	home := t.TempDir() // keep helm's caches and configuration out of the user's home
	env := []string{"HELM_CACHE_HOME=" + filepath.Join(home, "cache"), "HELM_CONFIG_HOME=" + filepath.Join(home, "config"),
		"HELM_DATA_HOME=" + filepath.Join(home, "data")}
	args := append([]string{"template", release, filepath.Join("charts", "mosaic"), "--namespace", namespace, "--include-crds"}, flags...)
	return decodeObjects(t, fmt.Sprintf("helm %v", args), run(t, env, helm, args...))
}

// decodeObjects parses a multi-document YAML stream of Kubernetes objects.
func decodeObjects(t *testing.T, source string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: output does not parse: %v", source, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetKind() == "" || u.GetName() == "" {
			t.Fatalf("%s: an object without kind or name: %v", source, u.Object)
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatalf("%s rendered no objects", source)
	}
	return objs
}
