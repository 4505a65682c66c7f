package proxy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
)

// Reloader re-reads the configuration file, the .env file and every apiKey.file when one of
// them changes on disk, and swaps the new configuration into the Server. It watches the
// directories holding those files, not the files themselves, so Kubernetes' atomic update of
// ConfigMap and Secret volumes (a new timestamped directory, then a rename of the "..data"
// symlink) is seen like an ordinary write. An invalid new configuration, or an unreadable key,
// is refused with a log line and mosaic_proxy_config_reloads_total{result="failure"}; the
// configuration in force stays.
type Reloader struct {
	// ConfigPath is the ProxyConfig file.
	ConfigPath string
	// EnvFile is the .env file ("" for none); EnvRequired makes its absence an error.
	EnvFile     string
	EnvRequired bool
	// Server receives the new configurations.
	Server *Server
	// Log receives reload errors; default the Server's logger.
	Log *slog.Logger
	// Debounce coalesces the burst of events one update makes; default 100ms.
	Debounce time.Duration

	mu          sync.Mutex
	fingerprint [32]byte
}

// Load reads the configuration and the environment as a reload would, without applying them.
func (r *Reloader) Load() (*proxyconfig.Config, proxyconfig.Environment, error) {
	env := proxyconfig.Environment{}
	if r.EnvFile != "" {
		var err error
		if env, err = proxyconfig.LoadEnvironment(r.EnvFile, r.EnvRequired); err != nil {
			return nil, env, err
		}
	}
	cfg, err := proxyconfig.Load(r.ConfigPath)
	return cfg, env, err
}

// ReloadNow re-reads everything and applies it when anything changed. It reports whether a
// new configuration was swapped in.
func (r *Reloader) ReloadNow() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fp, err := r.currentFingerprint()
	if err == nil && fp == r.fingerprint {
		return false, nil
	}
	cfg, env, lerr := r.Load()
	if lerr != nil {
		err = lerr
	}
	if err != nil {
		r.Server.recordReload(err)
		return false, err
	}
	if err := r.Server.Reload(cfg, &env); err != nil {
		return false, err
	}
	r.fingerprint = fp
	return true, nil
}

// currentFingerprint hashes the content of every watched file, so that events which change
// nothing (another key of the same Secret, a touch) do not reload.
func (r *Reloader) currentFingerprint() ([32]byte, error) {
	h := sha256.New()
	files := []string{r.ConfigPath}
	if r.EnvFile != "" {
		files = append(files, r.EnvFile)
	}
	if rt := r.Server.cfg.Load(); rt != nil {
		files = append(files, keyFiles(rt.source)...)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil && !(errors.Is(err, os.ErrNotExist) && f == r.EnvFile && !r.EnvRequired) {
			return [32]byte{}, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(data))
		h.Write(data)
	}
	var fp [32]byte
	copy(fp[:], h.Sum(nil))
	return fp, nil
}

func keyFiles(cfg *proxyconfig.Config) []string {
	var out []string
	for _, p := range cfg.Providers {
		if p.APIKey != nil && p.APIKey.File != "" {
			out = append(out, p.APIKey.File)
		}
	}
	return out
}

// Run watches until ctx ends. The configuration in force when it starts counts as loaded.
func (r *Reloader) Run(ctx context.Context) error {
	if r.Log == nil {
		r.Log = r.Server.log
	}
	if r.Debounce <= 0 {
		r.Debounce = 100 * time.Millisecond
	}
	r.mu.Lock()
	r.fingerprint, _ = r.currentFingerprint()
	r.mu.Unlock()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching the configuration: %w", err)
	}
	defer w.Close()
	watched := map[string]bool{}
	watch := func() {
		dirs := []string{filepath.Dir(r.ConfigPath)}
		if r.EnvFile != "" {
			dirs = append(dirs, filepath.Dir(r.EnvFile))
		}
		if rt := r.Server.cfg.Load(); rt != nil {
			for _, f := range keyFiles(rt.source) {
				dirs = append(dirs, filepath.Dir(f))
			}
		}
		// A key at SECRETS/<secret>/<key> in a projected volume sits in a directory reached
		// through the ..data link: the kubelet deletes it (and the watch on it) at the next
		// update. The volume's own directory, where ..data is swapped, outlives every update.
		for _, d := range dirs {
			if root := volumeRoot(d); root != "" {
				dirs = append(dirs, root)
			}
		}
		for _, d := range dirs {
			if watched[d] {
				continue
			}
			if err := w.Add(d); err != nil {
				r.Log.Warn("cannot watch directory; changes there are not reloaded", slog.String("dir", d), slog.String("error", err.Error()))
				continue
			}
			watched[d] = true
		}
	}
	watch()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			timer.Reset(r.Debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			r.Log.Warn("configuration watch error", slog.String("error", err.Error()))
		case <-timer.C:
			if changed, err := r.ReloadNow(); err == nil && changed {
				watch()
			}
		}
	}
}

// volumeRoot is the nearest directory at or above dir that holds a kubelet "..data" link, or "".
func volumeRoot(dir string) string {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if fi, err := os.Lstat(filepath.Join(d, "..data")); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return d
		}
		if parent := filepath.Dir(d); parent == d {
			return ""
		}
	}
}
