package main

import (
	"strings"
	"testing"
)

func TestMemoryLimit(t *testing.T) {
	tests := map[string]struct {
		// flag is the --memory-limit value, gomemlimit the GOMEMLIMIT variable and cgroup the
		// container's memory limit in bytes (0: none).
		flag, gomemlimit string
		cgroup           int64
		// wantLimit, wantSource and wantSet are the decision; wantErr a substring of the error.
		wantLimit  int64
		wantSource string
		wantSet    bool
		wantErr    string
	}{
		"auto without a container limit":  {flag: "auto", wantSource: "none"},
		"auto under a container limit":    {flag: "auto", cgroup: 256 << 20, wantLimit: 256 << 20 / 10 * 9, wantSource: "90% of the container memory limit", wantSet: true},
		"GOMEMLIMIT wins over auto":       {flag: "auto", cgroup: 256 << 20, gomemlimit: "100MiB", wantSource: "GOMEMLIMIT"},
		"off keeps the runtime's setting": {flag: "off", wantSource: "off"},
		"explicit size wins":              {flag: "48MiB", gomemlimit: "100MiB", wantLimit: 48 << 20, wantSource: "--memory-limit", wantSet: true},
		"bytes without a unit":            {flag: "1000000", wantLimit: 1000000, wantSource: "--memory-limit", wantSet: true},
		"GiB":                             {flag: "1GiB", wantLimit: 1 << 30, wantSource: "--memory-limit", wantSet: true},
		"decimal units are refused":       {flag: "48MB", wantErr: `--memory-limit "48MB": want a positive size`},
		"zero is refused":                 {flag: "0", wantErr: "want a positive size"},
		"overflow is refused":             {flag: "9999999999TiB", wantErr: "too large"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			limit, source, set, err := memoryLimit(tc.flag, tc.gomemlimit, tc.cgroup)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if limit != tc.wantLimit || source != tc.wantSource || set != tc.wantSet {
				t.Errorf("got %d, %q, %t; want %d, %q, %t", limit, source, set, tc.wantLimit, tc.wantSource, tc.wantSet)
			}
		})
	}
}
