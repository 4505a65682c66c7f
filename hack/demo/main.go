// Command demo runs Mosaic's main job on an embedded default, for a first look on a laptop:
// it starts a local control plane (kube-apiserver + etcd, through envtest) with the CRDs and the
// admission webhooks, runs the operator (the real cmd/manager binary, serving the webhooks),
// applies config/samples (a Fake provider and a RateLimitPolicy; plus an OpenAI provider when
// OPENAI_API_KEY is set), waits until the providers report Ready, prints
// `kubectl get llmproviders,ratelimitpolicies -A`, then creates an opted-in pod through the API
// server and prints the sidecar the webhook injected, runs that sidecar (the real mosaic-proxy
// binary, with the pod's args and the ConfigMap the operator delivered, laid out as the kubelet
// would) and sends one chat completion through it to the Fake provider. It stops all it started.
//
// Run it with `make demo`, which provides KUBEBUILDER_ASSETS.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	llmv1alpha1 "github.com/mosaic-dev/mosaic/api/v1alpha1"
	"github.com/mosaic-dev/mosaic/internal/renderer"
	"github.com/mosaic-dev/mosaic/test/kubeletfs"
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

	step("starting a local control plane (kube-apiserver + etcd) with the Mosaic CRDs and webhooks")
	// envtest generates a serving certificate in a local directory and points the webhook
	// configurations of config/webhook at https://127.0.0.1:<port>, where the operator serves them.
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join("config", "webhook", "manifests.yaml")},
		},
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

	step("building the operator (cmd/manager) and the sidecar (cmd/mosaic-proxy)")
	binDir := filepath.Join(tmp, "bin")
	if err := command(ctx, kubeconfig, "go", "build", "-o", binDir+string(filepath.Separator), "./cmd/manager", "./cmd/mosaic-proxy").Run(); err != nil {
		return fmt.Errorf("building cmd/manager and cmd/mosaic-proxy: %w", err)
	}

	step("starting the operator with its webhooks")
	wio := &env.WebhookInstallOptions
	mgr := command(ctx, kubeconfig, filepath.Join(binDir, "manager"),
		"--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0",
		"--webhooks=true", "--webhook-cert-rotation=false",
		"--webhook-cert-dir="+wio.LocalServingCertDir, "--webhook-port="+strconv.Itoa(wio.LocalServingPort))
	operator, err := startProcess("the operator", mgr, filepath.Join(tmp, "manager.log"))
	if err != nil {
		return err
	}
	defer operator.stop()
	showLog := func() { fmt.Fprintf(os.Stderr, "operator log:\n%s", operator.logText()) }
	webhookAddr := net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
	if err := waitForTLS(ctx, webhookAddr, operator.exited, 30*time.Second); err != nil {
		showLog()
		return fmt.Errorf("the operator's webhook server on %s: %w", webhookAddr, err)
	}

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
		showLog()
		return err
	}

	step("kubectl get llmproviders,ratelimitpolicies -A")
	get := command(ctx, kubeconfig, kubectl(), "get", "llmproviders,ratelimitpolicies", "-A")
	get.Stdout = os.Stdout
	if err := get.Run(); err != nil {
		return err
	}

	pod, err := createInjectedPod(ctx, c)
	if err != nil {
		showLog()
		return err
	}
	return runSidecarAndAsk(ctx, c, pod, filepath.Join(binDir, "mosaic-proxy"), tmp)
}

// createInjectedPod creates an opted-in pod through the API server, whose webhook adds the
// sidecar, and prints what was injected.
func createInjectedPod(ctx context.Context, c client.Client) (*corev1.Pod, error) {
	step("creating a pod labelled " + renderer.InjectLabel + "=true, annotated " + renderer.ProvidersAnnotation + "=demo")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "demo-app", Namespace: "default",
			Labels:      map[string]string{renderer.InjectLabel: "true"},
			Annotations: map[string]string{renderer.ProvidersAnnotation: "demo"},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/demo-app:1"}}},
	}
	if err := c.Create(ctx, pod); err != nil {
		return nil, fmt.Errorf("creating the demo pod: %w", err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
		return nil, err
	}
	sidecar, ok := sidecarOf(pod)
	if !ok {
		return nil, fmt.Errorf("the pod came back without the %s init container: the webhook did not inject it", renderer.ContainerName)
	}
	restart := "<none>"
	if sidecar.RestartPolicy != nil {
		restart = string(*sidecar.RestartPolicy)
	}
	out := os.Stdout
	fmt.Fprintf(out, "pod %s/%s, as the API server stored it:\n", pod.Namespace, pod.Name)
	fmt.Fprintf(out, "  initContainers[0]   (injected: a native sidecar)\n")
	fmt.Fprintf(out, "    name:             %s\n", sidecar.Name)
	fmt.Fprintf(out, "    image:            %s\n", sidecar.Image)
	fmt.Fprintf(out, "    restartPolicy:    %s\n", restart)
	fmt.Fprintf(out, "    args:             %s\n", strings.Join(sidecar.Args, " "))
	for _, vm := range sidecar.VolumeMounts {
		fmt.Fprintf(out, "    volumeMount:      %s at %s\n", vm.Name, vm.MountPath)
	}
	for _, app := range pod.Spec.Containers {
		fmt.Fprintf(out, "  container %q env (injected):\n", app.Name)
		for _, e := range app.Env {
			fmt.Fprintf(out, "    %s=%s\n", e.Name, e.Value)
		}
	}
	return pod, nil
}

// runSidecarAndAsk runs the pod's sidecar as a process and sends one request through it as the
// app would.
func runSidecarAndAsk(ctx context.Context, c client.Client, pod *corev1.Pod, proxyBin, tmp string) error {
	step("running the pod's sidecar (mosaic-proxy) with its args and volumes, laid out as the kubelet would")
	sidecar, _ := sidecarOf(pod)
	mounts, err := kubeletfs.NewMounts(filepath.Join(tmp, "pod"), pod, sidecar.Name)
	if err != nil {
		return err
	}
	objs, err := volumeObjects(ctx, c, pod)
	if err != nil {
		return err
	}
	// Container paths inside the ConfigMap (key files) move under the pod's root like the mounts.
	for _, cm := range objs.ConfigMaps {
		for k, v := range cm.Data {
			cm.Data[k] = mounts.RewritePaths(v)
		}
	}
	if _, err := mounts.Sync(objs); err != nil {
		return fmt.Errorf("laying out the sidecar's volumes: %w", err)
	}
	args, apiAddr, metricsAddr, err := localArgs(sidecar.Args, mounts)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "    mosaic-proxy %s\n", strings.Join(args, " "))
	var env []string
	for _, e := range sidecar.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	cmd := exec.CommandContext(ctx, proxyBin, args...)
	cmd.Env, cmd.Dir = env, tmp
	proxy, err := startProcess("the sidecar", cmd, filepath.Join(tmp, "mosaic-proxy.log"))
	if err != nil {
		return err
	}
	defer proxy.stop()
	if err := waitForReady(ctx, "http://"+metricsAddr+sidecar.StartupProbe.HTTPGet.Path, proxy.exited, 20*time.Second); err != nil {
		return fmt.Errorf("mosaic-proxy: %w\n%s", err, proxy.logText())
	}

	app := pod.Spec.Containers[0]
	appEnv := map[string]string{}
	for _, e := range app.Env {
		appEnv[e.Name] = e.Value
	}
	base, err := url.Parse(appEnv[renderer.BaseURLEnv])
	if err != nil {
		return fmt.Errorf("%s: %w", renderer.BaseURLEnv, err)
	}
	// The sidecar listens on another port here than in the pod (see localArgs).
	base.Host = apiAddr
	step("one chat completion through the sidecar, with the app's " + renderer.BaseURLEnv + " and placeholder " + renderer.APIKeyEnv)
	body := `{"model": "simple", "messages": [{"role": "user", "content": "Hello from the demo pod!"}]}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("chat", "completions").String(), strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+appEnv[renderer.APIKeyEnv])
	fmt.Printf("POST %s   (in the pod: %s/chat/completions)\nAuthorization: Bearer %s\n%s\n", req.URL, appEnv[renderer.BaseURLEnv], appEnv[renderer.APIKeyEnv], body)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("the request through the sidecar: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Printf("\n%s %s\n", resp.Proto, resp.Status)
	var pretty bytes.Buffer
	if json.Indent(&pretty, answer, "", "  ") == nil {
		answer = pretty.Bytes()
	}
	fmt.Printf("%s\n", answer)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the sidecar answered %s", resp.Status)
	}
	return nil
}

// volumeObjects reads what the pod's volumes name: the ConfigMap the operator delivers for the
// pod's providers (waiting for it, since the operator writes it once the pod exists) and the
// Secrets of its projected volumes.
func volumeObjects(ctx context.Context, c client.Client, pod *corev1.Pod) (kubeletfs.Objects, error) {
	objs := kubeletfs.Objects{ConfigMaps: map[string]*corev1.ConfigMap{}, Secrets: map[string]*corev1.Secret{}}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			cm := &corev1.ConfigMap{}
			key := client.ObjectKey{Namespace: pod.Namespace, Name: v.ConfigMap.Name}
			deadline := time.Now().Add(30 * time.Second)
			for {
				err := c.Get(ctx, key, cm)
				if err == nil {
					break
				}
				if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
					return objs, fmt.Errorf("ConfigMap %s, which the operator delivers for the pod: %w", key, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			fmt.Fprintf(os.Stderr, "    ConfigMap %s, written by the operator: %d lines of proxy configuration in %s\n",
				key.Name, strings.Count(cm.Data[renderer.ConfigKey], "\n"), renderer.ConfigKey)
			objs.ConfigMaps[cm.Name] = cm
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.Secret == nil {
					continue
				}
				s := &corev1.Secret{}
				if err := c.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: src.Secret.Name}, s); err != nil {
					return objs, fmt.Errorf("Secret %s, which the pod mounts: %w", src.Secret.Name, err)
				}
				objs.Secrets[s.Name] = s
			}
		}
	}
	return objs, nil
}

// localArgs are the sidecar's args for a process on this machine: the same flags, with container
// paths moved under the pod's root directory, and the listeners on free 127.0.0.1 ports (in a
// pod, 127.0.0.1:8787 and :9787 belong to the pod's own network namespace; here they are the
// machine's, and the metrics listener, on all interfaces in a pod for the kubelet's probes, stays
// on loopback).
func localArgs(orig []string, mounts *kubeletfs.Mounts) (args []string, apiAddr, metricsAddr string, err error) {
	if apiAddr, err = freeAddr(); err != nil {
		return nil, "", "", err
	}
	if metricsAddr, err = freeAddr(); err != nil {
		return nil, "", "", err
	}
	listen := map[string]string{"--listen": apiAddr, "--metrics-listen": metricsAddr}
	for i := 0; i < len(orig); i++ {
		name, _, inline := strings.Cut(orig[i], "=")
		to, ok := listen[name]
		switch {
		case !ok:
			args = append(args, mounts.RewritePaths(orig[i]))
		case inline:
			args = append(args, name+"="+to)
		default:
			args = append(args, name, to)
			i++
		}
	}
	return args, apiAddr, metricsAddr, nil
}

func sidecarOf(pod *corev1.Pod) (corev1.Container, bool) {
	i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == renderer.ContainerName })
	if i < 0 {
		return corev1.Container{}, false
	}
	return pod.Spec.InitContainers[i], true
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

// waitForTLS waits until addr accepts TLS connections, or the process behind it exits.
func waitForTLS(ctx context.Context, addr string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a readiness check only
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("the process exited")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitForReady waits until url answers 200 (a startup probe), or the process behind it exits.
func waitForReady(ctx context.Context, url string, exited <-chan struct{}, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s answered %s", url, resp.Status)
		}
		if time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited before it was ready")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// freeAddr is a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// process is a command running in the background with its output in a log file.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
}

// startProcess starts cmd with stdout and stderr in logPath; name says what it is in messages.
func startProcess(name string, cmd *exec.Cmd, logPath string) (*process, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); logFile.Close(); close(p.exited) }()
	return p, nil
}

// stop sends SIGTERM and waits for the process to exit.
func (p *process) stop() {
	step("stopping " + p.name)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
}

// logText is what the process wrote so far.
func (p *process) logText() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
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
