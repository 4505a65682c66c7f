package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	header := "apiVersion: proxy.llm.mosaic.dev/v1alpha1\nkind: ProxyConfig\nproviders:\n"
	tests := map[string]struct {
		// args are the command-line arguments; want the exit status and a substring of stderr.
		args       []string
		wantStatus int
		want       string
	}{
		"no config flag": {args: nil, wantStatus: 2, want: "--config is required"},
		"invalid field is named": {
			args:       []string{"--config", write("bad.yaml", header+"- name: a\n  type: Fake\n  models: [{name: m}]\n- name: b\n  type: Fake\n  models: [{name: m}]\n  retry: {maxAttempts: 0, backoff: {initial: 1s, max: 1ms}}\n")},
			wantStatus: 1, want: "providers[1].retry.backoff.max: must be at least backoff.initial",
		},
		"unknown field is named": {
			args:       []string{"--config", write("unknown.yaml", header+"- name: a\n  type: Fake\n  modles: [{name: m}]\n")},
			wantStatus: 1, want: "providers[0].modles: unknown field",
		},
		"missing key variable is named, not echoed": {
			args:       []string{"--config", write("key.yaml", header+"- name: a\n  type: OpenAI\n  apiKey: {env: MOSAIC_TEST_NO_SUCH_KEY}\n  models: [{name: m}]\n"), "--env-file", write("empty.env", "# nothing\n")},
			wantStatus: 1, want: "providers[0].apiKey: environment variable MOSAIC_TEST_NO_SUCH_KEY is not set",
		},
		"missing file":  {args: []string{"--config", filepath.Join(dir, "nope.yaml")}, wantStatus: 1, want: "no such file"},
		"bad log level": {args: []string{"--config", "x", "--log-level", "loud"}, wantStatus: 2, want: "--log-level"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			status := run(context.Background(), tc.args, &stderr)
			if status != tc.wantStatus || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("status %d, stderr %q; want %d and %q", status, stderr.String(), tc.wantStatus, tc.want)
			}
		})
	}
}

// TestServesAndStops starts the binary's run loop on free ports and stops it with its context.
func TestServesAndStops(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(cfg, []byte("apiVersion: proxy.llm.mosaic.dev/v1alpha1\nkind: ProxyConfig\nproviders:\n- name: demo\n  type: Fake\n  models: [{name: gpt-4o-mini}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncWriter
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--config", cfg, "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"}, &stderr)
	}()
	for !strings.Contains(stderr.String(), "mosaic-proxy ready") {
		select {
		case status := <-done:
			t.Fatalf("exited with %d: %s", status, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if status := <-done; status != 0 {
		t.Errorf("exit status %d: %s", status, stderr.String())
	}
}
