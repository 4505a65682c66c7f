// Command demo runs Mosaic's main job on an embedded default, for a first look on a laptop:
// it starts a local control plane (kube-apiserver + etcd, through envtest), installs the CRDs,
// runs the operator (the real cmd/manager binary), applies config/samples (a Fake provider and a
// RateLimitPolicy; plus an OpenAI provider when OPENAI_API_KEY is set), waits until the providers
// report Ready, prints `kubectl get llmproviders,ratelimitpolicies -A`, and stops all it started.
//
// Run it with `make demo`, which provides KUBEBUILDER_ASSETS.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return errors.New("KUBEBUILDER_ASSETS is not set: run `make demo`, which provides the control plane")
	}
	tmp, err := os.MkdirTemp("", "mosaic-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	step("starting a local control plane (kube-apiserver + etcd) with the Mosaic CRDs")
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	defer func() {
		step("stopping the control plane")
		_ = env.Stop()
	}()

	admin, err := env.AddUser(envtest.User{Name: "demo-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("creating the demo user: %w", err)
	}
	kubeconfigBytes, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing a kubeconfig: %w", err)
	}
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigBytes, 0o600); err != nil {
		return err
	}

	step("building and starting the operator (cmd/manager)")
	manager := filepath.Join(tmp, "manager")
	if err := command(ctx, kubeconfig, "go", "build", "-o", manager, "./cmd/manager").Run(); err != nil {
		return fmt.Errorf("building cmd/manager: %w", err)
	}
	mgr := command(ctx, kubeconfig, manager, "--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0", "--webhooks=false")
	logFile, err := os.Create(filepath.Join(tmp, "manager.log"))
	if err != nil {
		return err
	}
	mgr.Stdout, mgr.Stderr = logFile, logFile
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("starting the operator: %w", err)
	}
	defer func() {
		step("stopping the operator")
		_ = mgr.Process.Signal(syscall.SIGTERM)
		_ = mgr.Wait()
	}()

	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = llmv1alpha1.AddToScheme(scheme)
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}

	step("applying config/samples (a Fake provider and a RateLimitPolicy)")
	if err := command(ctx, kubeconfig, kubectl(), "apply", "-n", "default", "-k", "config/samples").Run(); err != nil {
		return fmt.Errorf("applying samples: %w", err)
	}
	if key := os.Getenv("OPENAI_API_KEY"); key != "" {
		step("OPENAI_API_KEY is set: adding an OpenAI provider with the key in a Secret")
		secret := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "openai", Namespace: "default"},
			StringData: map[string]string{"api-key": key},
		}
		if err := c.Create(ctx, secret); err != nil {
			return fmt.Errorf("creating the openai Secret: %w", err)
		}
		sample := filepath.Join("config", "samples", "llm_v1alpha1_llmprovider_openai.yaml")
		if err := command(ctx, kubeconfig, kubectl(), "apply", "-n", "default", "-f", sample).Run(); err != nil {
			return fmt.Errorf("applying the OpenAI sample: %w", err)
		}
	}

	step("waiting for the operator to probe the providers")
	if err := waitForConditions(ctx, c, 90*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "operator log (%s):\n", logFile.Name())
		if b, rerr := os.ReadFile(logFile.Name()); rerr == nil {
			os.Stderr.Write(b)
		}
		return err
	}

	step("kubectl get llmproviders,ratelimitpolicies -A")
	get := command(ctx, kubeconfig, kubectl(), "get", "llmproviders,ratelimitpolicies", "-A")
	get.Stdout = os.Stdout
	return get.Run()
}

// waitForConditions waits until every LLMProvider has a Ready condition and every RateLimitPolicy
// an Accepted condition for its current generation.
func waitForConditions(ctx context.Context, c client.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		done, err := conditionsPresent(ctx, c)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("providers and policies still have no status after %s", timeout)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func conditionsPresent(ctx context.Context, c client.Client) (bool, error) {
	var providers llmv1alpha1.LLMProviderList
	if err := c.List(ctx, &providers); err != nil {
		return false, err
	}
	for _, p := range providers.Items {
		if p.Status.ObservedGeneration != p.Generation ||
			apimeta.FindStatusCondition(p.Status.Conditions, llmv1alpha1.ConditionReady) == nil {
			return false, nil
		}
	}
	var policies llmv1alpha1.RateLimitPolicyList
	if err := c.List(ctx, &policies); err != nil {
		return false, err
	}
	for _, p := range policies.Items {
		if p.Status.ObservedGeneration != p.Generation ||
			apimeta.FindStatusCondition(p.Status.Conditions, llmv1alpha1.ConditionAccepted) == nil {
			return false, nil
		}
	}
	return len(providers.Items) > 0, nil
}

// command runs name with KUBECONFIG pointing at the demo control plane; output goes to stderr.
func command(ctx context.Context, kubeconfig, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd
}

// kubectl is the one envtest uses (hack/envtest-assets.sh links or builds it beside kube-apiserver).
func kubectl() string {
	if k := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl"); fileExists(k) {
		return k
	}
	return "kubectl"
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func step(msg string) { fmt.Fprintf(os.Stderr, "==> %s\n", msg) }
