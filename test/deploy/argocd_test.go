package deploy

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

var updateArgoCD = flag.Bool("update-argocd", false, "rewrite config/argocd/argocd-cm.yaml from the health.lua files")

// argoCDDir holds Argo CD's resource customizations, in the layout of Argo CD's own repository.
var argoCDDir = filepath.Join(repoRoot, "config", "argocd")

// healthCheck is one resource_customizations/<group>/<kind> directory.
type healthCheck struct {
	group, kind, dir string
}

func healthChecks(t *testing.T) []healthCheck {
	t.Helper()
	scripts, err := filepath.Glob(filepath.Join(argoCDDir, "resource_customizations", "*", "*", "health.lua"))
	if err != nil {
		t.Fatal(err)
	}
	var out []healthCheck
	for _, s := range scripts {
		dir := filepath.Dir(s)
		out = append(out, healthCheck{group: filepath.Base(filepath.Dir(dir)), kind: filepath.Base(dir), dir: dir})
	}
	want := []string{"llm.mosaic.dev/LLMProvider", "llm.mosaic.dev/RateLimitPolicy"}
	var got []string
	for _, hc := range out {
		got = append(got, hc.group+"/"+hc.kind)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("health checks for %v, want %v", got, want)
	}
	return out
}

// healthTests is health_test.yaml, as Argo CD's repository writes it.
type healthTests struct {
	Tests []struct {
		HealthStatus struct {
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"healthStatus"`
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

// TestArgoCDHealthChecks runs every health.lua on each of its test objects, the way Argo CD does
// (the object as the global obj, numbers as Lua numbers, the base, table, string and math
// libraries), and checks the status and message health_test.yaml expects.
func TestArgoCDHealthChecks(t *testing.T) {
	for _, hc := range healthChecks(t) {
		script, err := os.ReadFile(filepath.Join(hc.dir, "health.lua"))
		if err != nil {
			t.Fatal(err)
		}
		var tests healthTests
		readYAML(t, filepath.Join(hc.dir, "health_test.yaml"), &tests)
		covered := map[string]bool{}
		used := map[string]bool{}
		for _, tc := range tests.Tests {
			t.Run(hc.kind+"/"+tc.InputPath, func(t *testing.T) {
				used[filepath.Clean(tc.InputPath)] = true
				var obj map[string]any
				readYAML(t, filepath.Join(hc.dir, tc.InputPath), &obj)
				if obj["kind"] != hc.kind {
					t.Fatalf("%s is a %v, want a %s", tc.InputPath, obj["kind"], hc.kind)
				}
				status, message, err := runHealthScript(string(script), obj)
				if err != nil {
					t.Fatal(err)
				}
				if status != tc.HealthStatus.Status || message != tc.HealthStatus.Message {
					t.Errorf("health = %s %q, want %s %q", status, message, tc.HealthStatus.Status, tc.HealthStatus.Message)
				}
				covered[status] = true
			})
		}
		for _, s := range []string{"Healthy", "Progressing", "Degraded"} {
			if !covered[s] {
				t.Errorf("%s: no test yields %s", hc.kind, s)
			}
		}
		files, err := filepath.Glob(filepath.Join(hc.dir, "testdata", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if rel, _ := filepath.Rel(hc.dir, f); !used[rel] {
				t.Errorf("%s: %s is in no test of health_test.yaml", hc.kind, rel)
			}
		}
	}
}

// runHealthScript runs an Argo CD health script on obj and returns the status and message it sets.
func runHealthScript(script string, obj map[string]any) (status, message string, err error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return "", "", fmt.Errorf("opening Lua library %s: %w", lib.name, err)
		}
	}
	// Argo CD hands the script the object as JSON decodes it: numbers are float64.
	data, err := json.Marshal(obj)
	if err != nil {
		return "", "", err
	}
	var decoded any
	if err := json.Unmarshal(data, &decoded); err != nil {
		return "", "", err
	}
	l.SetGlobal("obj", luaValue(l, decoded))
	if err := l.DoString(script); err != nil {
		return "", "", fmt.Errorf("health.lua: %w", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("health.lua returned %s, want a table", l.Get(-1).Type())
	}
	s, ok := ret.RawGetString("status").(lua.LString)
	if !ok {
		return "", "", fmt.Errorf("health.lua returned status %v, want a string", ret.RawGetString("status"))
	}
	switch s {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		return "", "", fmt.Errorf("health.lua returned status %q, which Argo CD does not know", s)
	}
	m, ok := ret.RawGetString("message").(lua.LString)
	if !ok && ret.RawGetString("message") != lua.LNil {
		return "", "", fmt.Errorf("health.lua returned message %v, want a string", ret.RawGetString("message"))
	}
	return string(s), string(m), nil
}

// luaValue converts a decoded JSON value to Lua: objects and arrays to tables.
func luaValue(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := l.NewTable()
		for k, e := range v {
			t.RawSetString(k, luaValue(l, e))
		}
		return t
	case []any:
		t := l.NewTable()
		for _, e := range v {
			t.Append(luaValue(l, e))
		}
		return t
	case string:
		return lua.LString(v)
	case float64:
		return lua.LNumber(v)
	case bool:
		return lua.LBool(v)
	default:
		return lua.LNil
	}
}

// TestArgoCDTestdataIsValid admits every test object to the API server (the status through the
// status subresource, dry run), so the health checks are tested on objects the CRDs accept.
func TestArgoCDTestdataIsValid(t *testing.T) {
	const namespace = "argocd-testdata"
	c := kubeClient(t)
	ensureNamespace(t, c, namespace)
	ctx := context.Background()
	for _, hc := range healthChecks(t) {
		files, err := filepath.Glob(filepath.Join(hc.dir, "testdata", "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			t.Run(hc.kind+"/"+filepath.Base(f), func(t *testing.T) {
				u := &unstructured.Unstructured{}
				readYAML(t, f, &u.Object)
				status, hasStatus := u.Object["status"]
				u.SetNamespace(namespace)
				u.SetName(strings.ReplaceAll(strings.TrimSuffix(filepath.Base(f), ".yaml"), "_", "-"))
				unstructured.RemoveNestedField(u.Object, "metadata", "generation")
				delete(u.Object, "status")
				if err := c.Create(ctx, u, client.FieldValidation("Strict")); err != nil {
					t.Fatalf("the API server refuses %s: %v", f, err)
				}
				t.Cleanup(func() { _ = c.Delete(ctx, u) })
				if !hasStatus {
					return
				}
				u.Object["status"] = status
				if err := c.Status().Update(ctx, u, client.DryRunAll, client.FieldValidation("Strict")); err != nil {
					t.Errorf("the API server refuses the status of %s: %v", f, err)
				}
			})
		}
	}
}

// TestArgoCDConfigMapSnippet checks that argocd-cm.yaml carries each health.lua unchanged under
// Argo CD's key, resource.customizations.health.<group>_<kind>. With -update-argocd it rewrites
// the file instead.
func TestArgoCDConfigMapSnippet(t *testing.T) {
	checks := healthChecks(t)
	path := filepath.Join(argoCDDir, "argocd-cm.yaml")
	data := map[string]string{}
	for _, hc := range checks {
		script, err := os.ReadFile(filepath.Join(hc.dir, "health.lua"))
		if err != nil {
			t.Fatal(err)
		}
		data["resource.customizations.health."+hc.group+"_"+hc.kind] = string(script)
	}
	if *updateArgoCD {
		var b strings.Builder
		b.WriteString(argoCDConfigMapHeader)
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: |\n", k)
			for _, line := range strings.SplitAfter(strings.TrimSuffix(data[k], "\n"), "\n") {
				b.WriteString("    " + line)
			}
			b.WriteString("\n")
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var cm struct {
		Kind     string            `json:"kind"`
		Metadata map[string]any    `json:"metadata"`
		Data     map[string]string `json:"data"`
	}
	readYAML(t, path, &cm)
	if cm.Kind != "ConfigMap" || cm.Metadata["name"] != "argocd-cm" {
		t.Errorf("%s is a %s named %v, want the ConfigMap argocd-cm", path, cm.Kind, cm.Metadata["name"])
	}
	if diff := cmp.Diff(data, cm.Data); diff != "" {
		t.Errorf("%s drifted from the health.lua files (-health.lua +argocd-cm.yaml); run go test ./test/deploy -run ArgoCDConfigMap -update-argocd:\n%s", path, diff)
	}
}

const argoCDConfigMapHeader = `# Argo CD health checks for Mosaic's CRDs, for Argo CD's argocd-cm ConfigMap. Merge it into yours:
#
#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file config/argocd/argocd-cm.yaml
#
# or list it under patches in the kustomization that installs Argo CD. Generated from
# resource_customizations/*/*/health.lua (go test ./test/deploy -run ArgoCDConfigMap -update-argocd);
# those directories follow the layout of Argo CD's own repository, with test data.
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels:
    app.kubernetes.io/name: argocd-cm
    app.kubernetes.io/part-of: argocd
data:
`

// readYAML reads a YAML file into out.
func readYAML(t *testing.T, path string, out any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
