package main

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func TestLengthBoundBody(t *testing.T) {
	tests := map[string]struct {
		// body is what the inner reader holds; length is the Content-Length.
		body   string
		length int64
		// want is what reading to EOF yields.
		want string
	}{
		"exact":              {body: "hello", length: 5, want: "hello"},
		"more than declared": {body: "hello world", length: 5, want: "hello"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			b := &lengthBoundBody{ReadCloser: io.NopCloser(strings.NewReader(tc.body)), remaining: tc.length}
			got, err := io.ReadAll(b)
			if err != nil || string(got) != tc.want {
				t.Errorf("read %q, %v; want %q", got, err, tc.want)
			}
			if n, err := b.Read(make([]byte, 4)); n != 0 || err != io.EOF {
				t.Errorf("read after the end: %d, %v; want 0, EOF", n, err)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i)*time.Millisecond)
	}
	tests := map[string]struct {
		// p is the percentile as a fraction; want its value.
		p    float64
		want time.Duration
	}{
		"p50": {p: .50, want: 51 * time.Millisecond},
		"p99": {p: .99, want: 100 * time.Millisecond},
		"max": {p: 1, want: 100 * time.Millisecond},
	}
	for name, tc := range tests {
		if got := percentile(sorted, tc.p); got != tc.want {
			t.Errorf("%s: %v, want %v", name, got, tc.want)
		}
	}
	if got := percentile(nil, .5); got != 0 {
		t.Errorf("empty: %v, want 0", got)
	}
}

func TestProcReaders(t *testing.T) {
	pid := os.Getpid()
	if _, err := cpuSeconds(pid); err != nil {
		t.Errorf("cpuSeconds of this process: %v", err)
	}
	if rss, err := rssKiB(pid); err != nil || rss <= 0 {
		t.Errorf("rssKiB of this process: %d, %v", rss, err)
	}
}

func TestParseSettings(t *testing.T) {
	tests := map[string]struct {
		// args are the flags; wantErr is a substring of the expected error ("" = none).
		args    []string
		wantErr string
	}{
		"defaults":       {},
		"unknown target": {args: []string{"-targets", "direct,envoy"}, wantErr: `unknown target "envoy"`},
		"bad rate":       {args: []string{"-rates", "500,fast"}, wantErr: `"fast" is not a positive integer`},
		"zero rounds":    {args: []string{"-rounds", "0"}, wantErr: "-rounds"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseSettings(tc.args)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
