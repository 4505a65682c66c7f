package kubeletfs

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Mounts are the volumes one container of a pod mounts, laid out under Root, a directory that
// stands for the container's filesystem: the volume mounted at the container path /etc/x is the
// directory Root/etc/x. ConfigMap, Secret and projected volumes are written with Volume (the
// atomic writer) from Objects by Sync; other volume types get an empty directory.
type Mounts struct {
	// Root is the host directory standing for the container's "/".
	Root string

	volumes []*mountedVolume
}

type mountedVolume struct {
	name      string
	mountPath string
	source    corev1.VolumeSource
	dir       *Volume // nil for volume types whose content the kubelet does not project
}

// NewMounts resolves the volume mounts of the container (an init container or a container)
// called container in pod. A mount of an undeclared volume, or a subPath mount (which the kubelet
// never updates, so it cannot stand for a live volume), is an error. Nothing is written before
// Sync.
func NewMounts(root string, pod *corev1.Pod, container string) (*Mounts, error) {
	all := slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers)
	i := slices.IndexFunc(all, func(c corev1.Container) bool { return c.Name == container })
	if i < 0 {
		return nil, fmt.Errorf("pod %s has no container %q", pod.Name, container)
	}
	m := &Mounts{Root: root}
	for _, vm := range all[i].VolumeMounts {
		j := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if j < 0 {
			return nil, fmt.Errorf("container %q mounts volume %q, which the pod does not declare", container, vm.Name)
		}
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			return nil, fmt.Errorf("container %q mounts volume %q with a subPath, which the kubelet never updates", container, vm.Name)
		}
		if !path.IsAbs(vm.MountPath) {
			return nil, fmt.Errorf("container %q mounts volume %q at %q, which is not an absolute path", container, vm.Name, vm.MountPath)
		}
		v := pod.Spec.Volumes[j]
		mv := &mountedVolume{name: v.Name, mountPath: path.Clean(vm.MountPath), source: v.VolumeSource}
		if v.ConfigMap != nil || v.Secret != nil || v.Projected != nil {
			mv.dir = &Volume{Dir: m.HostPath(mv.mountPath)}
		}
		m.volumes = append(m.volumes, mv)
	}
	return m, nil
}

// HostPath is the host path of the container path p.
func (m *Mounts) HostPath(p string) string {
	return filepath.Join(m.Root, filepath.FromSlash(path.Clean("/"+p)))
}

// Sync projects every mounted volume from objs, as the kubelet's periodic sync of a running pod
// does (the first call is the mount), and returns the names of the volumes whose files changed.
// A volume whose object or key is missing fails the whole sync, naming it.
func (m *Mounts) Sync(objs Objects) ([]string, error) {
	var changed []string
	for _, mv := range m.volumes {
		if mv.dir == nil {
			if err := os.MkdirAll(m.HostPath(mv.mountPath), 0o755); err != nil {
				return changed, err
			}
			continue
		}
		payload, err := Payload(mv.source, objs)
		if err != nil {
			return changed, fmt.Errorf("volume %q: %w", mv.name, err)
		}
		did, err := mv.dir.Write(payload)
		if err != nil {
			return changed, fmt.Errorf("volume %q: %w", mv.name, err)
		}
		if did {
			changed = append(changed, mv.name)
		}
	}
	return changed, nil
}

// RewritePaths replaces, in s (a command-line argument, or a configuration file's text), every
// container path at or under a mount path with its host path. A mount path matches only as whole
// path elements: at the start of s or after a character that cannot be part of a path, and
// followed by "/", the end of s, or such a character. Longer mount paths win over their parents.
func (m *Mounts) RewritePaths(s string) string {
	mounts := make([]string, 0, len(m.volumes))
	for _, mv := range m.volumes {
		mounts = append(mounts, mv.mountPath)
	}
	slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
	var out strings.Builder
	for i := 0; i < len(s); {
		matched := ""
		if i == 0 || !pathChar(s[i-1]) {
			for _, mp := range mounts {
				end := i + len(mp)
				if strings.HasPrefix(s[i:], mp) && (end == len(s) || s[end] == '/' || !pathChar(s[end])) {
					matched = mp
					break
				}
			}
		}
		if matched != "" {
			out.WriteString(m.HostPath(matched))
			i += len(matched)
			continue
		}
		out.WriteByte(s[i])
		i++
	}
	return out.String()
}

// pathChar reports whether c can be part of a path in an argument or a YAML or JSON value.
func pathChar(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', '=', ':', ',', '{', '}', '[', ']':
		return false
	}
	return true
}
