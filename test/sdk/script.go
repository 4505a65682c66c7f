package sdk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// Script is openai.test.mjs, run by Node with the official `openai` package installed in this
// directory's node_modules.
type Script struct {
	// Node is the node executable.
	Node string
	// Dir is this directory, where the script and node_modules are.
	Dir string
}

// FindScript locates node and the installed `openai` package. Without node_modules the test is
// skipped on a developer machine and fails in CI (CI set), where `make sdk-deps` must have run;
// without node on PATH it fails.
func FindScript(t testing.TB) Script {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("test/sdk/node_modules is missing (make sdk-deps): %v", err)
		}
		t.Skip("test/sdk/node_modules is missing; `make sdk-deps` installs the openai npm package")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH although test/sdk/node_modules is installed: %v", err)
	}
	return Script{Node: node, Dir: dir}
}

// Command is `node --test openai.test.mjs` running the comma-separated cases (MOSAIC_SDK_CASES)
// with the test's environment minus every OPENAI_* and MOSAIC_SDK_* variable, plus env (the
// app's OPENAI_BASE_URL and OPENAI_API_KEY, MOSAIC_SDK_* expectations).
func (s Script) Command(ctx context.Context, cases string, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.Node, "--test", "openai.test.mjs")
	cmd.Dir = s.Dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OPENAI_") && !strings.HasPrefix(kv, "MOSAIC_SDK_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = slices.Concat(cmd.Env, []string{"MOSAIC_SDK_CASES=" + cases}, env)
	return cmd
}

// CheckPassed returns an error unless out, the script's output, reports every one of cases
// passed (node --test exits 0 when it skips cases that are not selected).
func CheckPassed(out []byte, cases string) error {
	want := fmt.Sprintf("# pass %d\n", len(strings.Split(cases, ",")))
	if !strings.Contains(string(out), want) {
		return fmt.Errorf("node --test did not pass every case of %s (want %q in its report)", cases, strings.TrimSpace(want))
	}
	return nil
}
