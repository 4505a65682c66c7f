package kubeletfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// timestampDir matches the name of a timestamped directory: "..2026_11_27_15_04_05." and
// os.MkdirTemp's random digits.
var timestampDir = regexp.MustCompile(`^\.\.\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}\.\d+$`)

func TestVolumeWrite(t *testing.T) {
	tests := map[string]struct {
		// writes are successive payloads written to one volume.
		writes []map[string]File
		// wantChanged is Write's result for each write.
		wantChanged []bool
		// wantFiles are the visible paths (through the links) and their content after the last write.
		wantFiles map[string]string
		// wantLinks are the top-level entries after the last write (besides ..data and the
		// timestamped directory) and their link targets.
		wantLinks map[string]string
		// wantMode is the mode of every file after the last write.
		wantMode os.FileMode
	}{
		"first write": {
			writes:      []map[string]File{{"config.yaml": {Data: []byte("a: 1\n"), Mode: 0o444}}},
			wantChanged: []bool{true},
			wantFiles:   map[string]string{"config.yaml": "a: 1\n"},
			wantLinks:   map[string]string{"config.yaml": "..data/config.yaml"},
			wantMode:    0o444,
		},
		"nested path links its top directory": {
			writes: []map[string]File{{
				"openai/api-key":    {Data: []byte("k1"), Mode: 0o400},
				"anthropic/api-key": {Data: []byte("k2"), Mode: 0o400},
			}},
			wantChanged: []bool{true},
			wantFiles:   map[string]string{"openai/api-key": "k1", "anthropic/api-key": "k2"},
			wantLinks:   map[string]string{"openai": "..data/openai", "anthropic": "..data/anthropic"},
			wantMode:    0o400,
		},
		"update swaps ..data": {
			writes: []map[string]File{
				{"api-key": {Data: []byte("old"), Mode: 0o644}},
				{"api-key": {Data: []byte("new"), Mode: 0o644}},
			},
			wantChanged: []bool{true, true},
			wantFiles:   map[string]string{"api-key": "new"},
			wantLinks:   map[string]string{"api-key": "..data/api-key"},
			wantMode:    0o644,
		},
		"same payload changes nothing": {
			writes: []map[string]File{
				{"api-key": {Data: []byte("same"), Mode: 0o644}},
				{"api-key": {Data: []byte("same"), Mode: 0o644}},
			},
			wantChanged: []bool{true, false},
			wantFiles:   map[string]string{"api-key": "same"},
			wantLinks:   map[string]string{"api-key": "..data/api-key"},
			wantMode:    0o644,
		},
		"removed key loses its link": {
			writes: []map[string]File{
				{"a": {Data: []byte("1"), Mode: 0o644}, "b/c": {Data: []byte("2"), Mode: 0o644}},
				{"a": {Data: []byte("1"), Mode: 0o644}},
			},
			wantChanged: []bool{true, true},
			wantFiles:   map[string]string{"a": "1"},
			wantLinks:   map[string]string{"a": "..data/a"},
			wantMode:    0o644,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := &Volume{Dir: filepath.Join(t.TempDir(), "vol")}
			var previous string
			for i, payload := range tc.writes {
				changed, err := v.Write(payload)
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if changed != tc.wantChanged[i] {
					t.Errorf("write %d changed = %v, want %v", i, changed, tc.wantChanged[i])
				}
				current, err := os.Readlink(filepath.Join(v.Dir, DataDirName))
				if err != nil {
					t.Fatalf("write %d: ..data: %v", i, err)
				}
				if !timestampDir.MatchString(current) {
					t.Errorf("write %d: ..data -> %q, not a timestamped directory", i, current)
				}
				if changed == (current == previous) {
					t.Errorf("write %d: changed=%v but ..data went from %q to %q", i, changed, previous, current)
				}
				previous = current
			}

			entries, err := os.ReadDir(v.Dir)
			if err != nil {
				t.Fatal(err)
			}
			links := map[string]string{}
			var dirs []string
			for _, e := range entries {
				switch {
				case e.Name() == DataDirName:
				case timestampDir.MatchString(e.Name()):
					dirs = append(dirs, e.Name())
				default:
					target, err := os.Readlink(filepath.Join(v.Dir, e.Name()))
					if err != nil {
						t.Errorf("%s is not a link: %v", e.Name(), err)
					}
					links[e.Name()] = target
				}
			}
			if len(dirs) != 1 || dirs[0] != previous {
				t.Errorf("timestamped directories %v, want only %s (the old one removed, no ..data_tmp left)", dirs, previous)
			}
			if !maps.Equal(links, tc.wantLinks) {
				t.Errorf("links %v, want %v", links, tc.wantLinks)
			}
			for p, want := range tc.wantFiles {
				full := filepath.Join(v.Dir, p)
				got, err := os.ReadFile(full)
				if err != nil || string(got) != want {
					t.Errorf("%s = %q (%v), want %q", p, got, err, want)
				}
				if fi, err := os.Stat(full); err == nil && fi.Mode().Perm() != tc.wantMode {
					t.Errorf("%s mode %v, want %v", p, fi.Mode().Perm(), tc.wantMode)
				}
			}
			if fi, err := os.Stat(filepath.Join(v.Dir, previous)); err != nil || fi.Mode().Perm() != 0o755 {
				t.Errorf("timestamped directory mode: %v %v, want 0755", fi.Mode().Perm(), err)
			}
		})
	}
}

func TestVolumeWriteRefusesBadPaths(t *testing.T) {
	tests := map[string]struct {
		// path is the payload path.
		path string
		// wantErr is a fragment of the error.
		wantErr string
	}{
		"empty":             {path: "", wantErr: "empty"},
		"absolute":          {path: "/etc/passwd", wantErr: "absolute"},
		"parent element":    {path: "a/../../b", wantErr: "'..' element"},
		"reserved prefix":   {path: "..data", wantErr: "starts with '..'"},
		"name too long":     {path: strings.Repeat("x", 256), wantErr: "longer than 255"},
		"path too long":     {path: strings.Repeat("abcdefghi/", 410), wantErr: "longer than 4096"},
		"dotdot dir prefix": {path: "..2026_01_01/x", wantErr: "starts with '..'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			v := &Volume{Dir: t.TempDir()}
			_, err := v.Write(map[string]File{tc.path: {Data: []byte("x"), Mode: 0o644}})
			// The error names the volume's directory, whose name holds the test's: look past it.
			if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), v.Dir, ""), tc.wantErr) {
				t.Fatalf("Write(%.30q) = %v, want an error with %q", tc.path, err, tc.wantErr)
			}
			if entries, _ := os.ReadDir(v.Dir); len(entries) != 0 {
				t.Errorf("a refused payload left %d entries", len(entries))
			}
		})
	}
}

// TestVolumeWriteIsAtomicForReaders reads a file through its link while it is rewritten many
// times: every read returns one complete version, never a mix or a truncated file. (A read can
// fail with "no such file" when its path lookup passed through the old ..data target just before
// that directory was removed: the kubelet's writer has the same window.)
func TestVolumeWriteIsAtomicForReaders(t *testing.T) {
	v := &Volume{Dir: t.TempDir()}
	versions := []string{strings.Repeat("a", 4096), strings.Repeat("b", 8192)}
	if _, err := v.Write(map[string]File{"k/v": {Data: []byte(versions[0]), Mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 1)
	go func() {
		defer close(errs)
		for {
			select {
			case <-done:
				return
			default:
			}
			b, err := os.ReadFile(filepath.Join(v.Dir, "k", "v"))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs <- err
				return
			}
			if err == nil && !slices.Contains(versions, string(b)) {
				errs <- fmt.Errorf("a reader saw %d bytes that are neither version", len(b))
				return
			}
		}
	}()
	for i := range 200 {
		if _, err := v.Write(map[string]File{"k/v": {Data: []byte(versions[(i+1)%2]), Mode: 0o644}}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	if err, ok := <-errs; ok {
		t.Error(err)
	}
}

func TestVolumeNowNamesDirectories(t *testing.T) {
	v := &Volume{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 11, 27, 15, 4, 5, 0, time.UTC) }}
	if _, err := v.Write(map[string]File{"f": {Data: []byte("x"), Mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	current, _ := os.Readlink(filepath.Join(v.Dir, DataDirName))
	if !strings.HasPrefix(current, "..2026_11_27_15_04_05.") {
		t.Errorf("..data -> %q, want the injected time", current)
	}
}
