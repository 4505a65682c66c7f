package kubeletfs

import (
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
)

// Objects are the ConfigMaps and Secrets of a pod's namespace that its volumes may name, by name.
// A name missing from the map is an object that does not exist.
type Objects struct {
	// ConfigMaps by name.
	ConfigMaps map[string]*corev1.ConfigMap
	// Secrets by name.
	Secrets map[string]*corev1.Secret
}

// Payload is what the kubelet writes for a ConfigMap, Secret or projected (Secret and ConfigMap
// sources) volume source: with no items every key of the object is a file named after the key,
// with items only the listed keys at their paths; modes come from the item, else the source's
// defaultMode, else the API server's default 0644. A missing object or key is an error naming it,
// unless the source is optional (then it contributes nothing), as the kubelet refuses to mount
// the volume and the pod waits.
func Payload(src corev1.VolumeSource, objs Objects) (map[string]File, error) {
	switch {
	case src.ConfigMap != nil:
		s := src.ConfigMap
		return configMapPayload(s.Name, s.Items, modeOr(s.DefaultMode, corev1.ConfigMapVolumeSourceDefaultMode), optional(s.Optional), objs)
	case src.Secret != nil:
		s := src.Secret
		return secretPayload(s.SecretName, s.Items, modeOr(s.DefaultMode, corev1.SecretVolumeSourceDefaultMode), optional(s.Optional), objs)
	case src.Projected != nil:
		mode := modeOr(src.Projected.DefaultMode, corev1.ProjectedVolumeSourceDefaultMode)
		payload := map[string]File{}
		for i, p := range src.Projected.Sources {
			var part map[string]File
			var err error
			switch {
			case p.Secret != nil:
				part, err = secretPayload(p.Secret.Name, p.Secret.Items, mode, optional(p.Secret.Optional), objs)
			case p.ConfigMap != nil:
				part, err = configMapPayload(p.ConfigMap.Name, p.ConfigMap.Items, mode, optional(p.ConfigMap.Optional), objs)
			default:
				err = fmt.Errorf("projected source %d: only secret and configMap sources are supported by kubeletfs", i)
			}
			if err != nil {
				return nil, err
			}
			for path, f := range part {
				payload[path] = f
			}
		}
		return payload, nil
	}
	return nil, fmt.Errorf("volume source is not a configMap, secret or projected volume")
}

func configMapPayload(name string, items []corev1.KeyToPath, mode os.FileMode, opt bool, objs Objects) (map[string]File, error) {
	cm, ok := objs.ConfigMaps[name]
	if !ok {
		if opt {
			return map[string]File{}, nil
		}
		return nil, fmt.Errorf("ConfigMap %q not found", name)
	}
	lookup := func(key string) ([]byte, bool) {
		if s, ok := cm.Data[key]; ok {
			return []byte(s), true
		}
		b, ok := cm.BinaryData[key]
		return b, ok
	}
	all := make([]string, 0, len(cm.Data)+len(cm.BinaryData))
	for k := range cm.Data {
		all = append(all, k)
	}
	for k := range cm.BinaryData {
		all = append(all, k)
	}
	return project("ConfigMap", name, items, all, lookup, mode, opt)
}

func secretPayload(name string, items []corev1.KeyToPath, mode os.FileMode, opt bool, objs Objects) (map[string]File, error) {
	s, ok := objs.Secrets[name]
	if !ok {
		if opt {
			return map[string]File{}, nil
		}
		return nil, fmt.Errorf("Secret %q not found", name)
	}
	all := make([]string, 0, len(s.Data))
	for k := range s.Data {
		all = append(all, k)
	}
	return project("Secret", name, items, all, func(key string) ([]byte, bool) {
		b, ok := s.Data[key]
		return b, ok
	}, mode, opt)
}

// project builds one object's payload from its items (or all its keys when there are none).
func project(kind, name string, items []corev1.KeyToPath, all []string, lookup func(string) ([]byte, bool), mode os.FileMode, opt bool) (map[string]File, error) {
	payload := map[string]File{}
	if len(items) == 0 {
		for _, k := range all {
			data, _ := lookup(k)
			payload[k] = File{Data: data, Mode: mode}
		}
		return payload, nil
	}
	for _, it := range items {
		data, ok := lookup(it.Key)
		if !ok {
			if opt {
				continue
			}
			return nil, fmt.Errorf("%s %q has no key %q", kind, name, it.Key)
		}
		payload[it.Path] = File{Data: data, Mode: modeOr(it.Mode, int32(mode))}
	}
	return payload, nil
}

func modeOr(m *int32, def int32) os.FileMode {
	if m != nil {
		return os.FileMode(*m)
	}
	return os.FileMode(def)
}

func optional(b *bool) bool { return b != nil && *b }
