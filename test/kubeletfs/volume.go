package kubeletfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Names the atomic writer reserves in a volume's directory.
const (
	// DataDirName is the symlink to the current timestamped directory.
	DataDirName = "..data"
	// NewDataDirName is the symlink renamed over DataDirName to publish a new timestamped directory.
	NewDataDirName = "..data_tmp"
	// timestampLayout prefixes the timestamped directories (os.MkdirTemp adds a random suffix).
	timestampLayout = "..2006_01_02_15_04_05."
)

// Limits the kubelet puts on payload paths.
const (
	maxFileNameLength = 255
	maxPathLength     = 4096
)

// File is one file of a volume's payload (the kubelet's FileProjection).
type File struct {
	// Data is the file's content.
	Data []byte
	// Mode is the file's permission bits, applied whatever the umask.
	Mode os.FileMode
}

// Volume is the target directory of one volume, written with the kubelet's atomic writer.
// Like the kubelet's, it is not safe for concurrent Writes.
type Volume struct {
	// Dir is the volume's directory (its mount point); Write creates it when missing.
	Dir string
	// Now stamps the names of timestamped directories; nil means time.Now.
	Now func() time.Time
}

// Write projects payload into v.Dir as the kubelet does (see the package documentation) and
// reports whether anything on disk changed. Payload paths are relative, slash-separated, without
// ".." elements, and must not start with "..".
func (v *Volume) Write(payload map[string]File) (bool, error) {
	clean, err := validatePayload(payload)
	if err != nil {
		return false, fmt.Errorf("volume %s: %w", v.Dir, err)
	}
	if err := os.MkdirAll(v.Dir, 0o755); err != nil {
		return false, err
	}
	dataDir := filepath.Join(v.Dir, DataDirName)
	oldTs, err := os.Readlink(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("reading %s: %w", dataDir, err)
	}
	oldTsPath := ""
	if oldTs != "" {
		oldTsPath = filepath.Join(v.Dir, oldTs)
	}

	var stale []string
	write := true
	if oldTsPath != "" {
		if stale, err = stalePaths(clean, oldTsPath); err != nil {
			return false, err
		}
		changed, err := payloadDiffers(clean, oldTsPath)
		if err != nil {
			return false, err
		}
		if !changed && len(stale) == 0 {
			// Up to date; the kubelet still makes sure the visible links exist, and keeps the
			// current timestamped directory.
			write, oldTsPath = false, ""
		}
	}

	if write {
		tsDir, err := v.newTimestampDir()
		if err != nil {
			return false, err
		}
		if err := writeFiles(clean, tsDir); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, err
		}
		tmpLink := filepath.Join(v.Dir, NewDataDirName)
		if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
			_ = os.RemoveAll(tsDir)
			return false, fmt.Errorf("linking %s: %w", tmpLink, err)
		}
		if err := os.Rename(tmpLink, dataDir); err != nil {
			_ = os.Remove(tmpLink)
			_ = os.RemoveAll(tsDir)
			return false, fmt.Errorf("renaming %s over %s: %w", tmpLink, dataDir, err)
		}
	}

	if err := v.linkVisibleNames(clean); err != nil {
		return false, err
	}
	for _, p := range stale {
		// Only top-level names are links; nested stale paths went with the old directory.
		if strings.Contains(p, "/") {
			continue
		}
		if err := os.Remove(filepath.Join(v.Dir, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("removing stale %s: %w", p, err)
		}
	}
	if oldTsPath != "" {
		if err := os.RemoveAll(oldTsPath); err != nil {
			return false, fmt.Errorf("removing %s: %w", oldTsPath, err)
		}
	}
	return write, nil
}

// validatePayload checks every path as the kubelet does and returns the payload keyed by
// cleaned paths.
func validatePayload(payload map[string]File) (map[string]File, error) {
	clean := make(map[string]File, len(payload))
	for p, f := range payload {
		if err := validatePath(p); err != nil {
			return nil, err
		}
		clean[filepath.ToSlash(filepath.Clean(p))] = f
	}
	return clean, nil
}

func validatePath(p string) error {
	switch {
	case p == "":
		return errors.New("payload path is empty")
	case filepath.IsAbs(p) || strings.HasPrefix(p, "/"):
		return fmt.Errorf("payload path %q is absolute; it must be relative to the volume", p)
	case len(p) > maxPathLength:
		return fmt.Errorf("payload path %.40q... is longer than %d characters", p, maxPathLength)
	}
	parts := strings.Split(p, "/")
	for _, part := range parts {
		if part == ".." {
			return fmt.Errorf("payload path %q has a '..' element", p)
		}
		if len(part) > maxFileNameLength {
			return fmt.Errorf("payload path %q has a name longer than %d characters", p, maxFileNameLength)
		}
	}
	if strings.HasPrefix(parts[0], "..") && len(parts[0]) > 2 {
		return fmt.Errorf("payload path %q starts with '..', which the kubelet reserves", p)
	}
	return nil
}

// payloadDiffers reports whether any payload file is missing from oldTsDir or has other content.
func payloadDiffers(payload map[string]File, oldTsDir string) (bool, error) {
	for p, f := range payload {
		onDisk, err := os.ReadFile(filepath.Join(oldTsDir, filepath.FromSlash(p)))
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if !bytes.Equal(onDisk, f.Data) {
			return true, nil
		}
	}
	return false, nil
}

// stalePaths lists the paths (files and directories, relative, slash-separated) under oldTsDir
// that are neither in payload nor a parent directory of a payload path.
func stalePaths(payload map[string]File, oldTsDir string) ([]string, error) {
	keep := map[string]bool{}
	for p := range payload {
		for sub := p; sub != "." && sub != ""; sub = filepath.ToSlash(filepath.Dir(sub)) {
			keep[sub] = true
		}
	}
	var stale []string
	err := filepath.WalkDir(oldTsDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(oldTsDir, path)
		if err != nil || rel == "." {
			return err
		}
		if rel = filepath.ToSlash(rel); !keep[rel] {
			stale = append(stale, rel)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return stale, err
}

// newTimestampDir creates "..<UTC timestamp>.<random>" with mode 0755 whatever the umask.
func (v *Volume) newTimestampDir() (string, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	dir, err := os.MkdirTemp(v.Dir, now().UTC().Format(timestampLayout))
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// writeFiles writes every payload file under dir, creating parent directories, with its exact mode.
func writeFiles(payload map[string]File, dir string) error {
	for p, f := range payload {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), os.ModePerm); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

// linkVisibleNames creates "name -> ..data/name" for every top-level name of the payload that has
// no link yet.
func (v *Volume) linkVisibleNames(payload map[string]File) error {
	for p := range payload {
		name, _, _ := strings.Cut(p, "/")
		link := filepath.Join(v.Dir, name)
		// As the kubelet, leave whatever already exists under that name alone.
		if _, err := os.Readlink(link); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Symlink(filepath.Join(DataDirName, name), link); err != nil {
			return fmt.Errorf("linking %s: %w", link, err)
		}
	}
	return nil
}
