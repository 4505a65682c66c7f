package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// renderedManager creates the RBAC objects `kubectl kustomize config/default` renders (the
// ServiceAccount, roles and bindings, nothing else) and returns a rest.Config that impersonates the
// manager's ServiceAccount, so a test runs with exactly the permissions an installed operator has,
// and that ServiceAccount's namespace. kubectl comes with the envtest assets; without it the test
// is skipped, or fails in CI.
func renderedManager(t *testing.T) (*rest.Config, string) {
	t.Helper()
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		if kubectl, err = exec.LookPath("kubectl"); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("kubectl is neither in KUBEBUILDER_ASSETS nor on PATH")
			}
			t.Skip("kubectl is neither in KUBEBUILDER_ASSETS nor on PATH")
		}
	}
	cmd := exec.Command(kubectl, "kustomize", filepath.Join("..", "..", "config", "default"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize config/default: %v\n%s", err, stderr.String())
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(&stdout, 4096)
	var serviceAccount *unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("kubectl kustomize config/default: %v", err)
		}
		switch u.GroupVersionKind().GroupKind().String() {
		case "ServiceAccount":
			if serviceAccount != nil {
				t.Fatalf("config/default renders two ServiceAccounts, %s and %s", serviceAccount.GetName(), u.GetName())
			}
			serviceAccount = u
		case "Namespace":
		case "ClusterRole.rbac.authorization.k8s.io", "ClusterRoleBinding.rbac.authorization.k8s.io",
			"Role.rbac.authorization.k8s.io", "RoleBinding.rbac.authorization.k8s.io":
		default:
			continue
		}
		if err := client.IgnoreAlreadyExists(k8sClient.Create(context.Background(), u)); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	if serviceAccount == nil {
		t.Fatal("config/default renders no ServiceAccount")
	}
	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + serviceAccount.GetNamespace() + ":" + serviceAccount.GetName(),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + serviceAccount.GetNamespace(), "system:authenticated"},
	}
	return cfg, serviceAccount.GetNamespace()
}
