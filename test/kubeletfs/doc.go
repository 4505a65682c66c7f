// Package kubeletfs lays out ConfigMap, Secret and projected volumes on disk exactly as the
// kubelet does, so that a test can run a pod's container as a local process against the very
// files (and the very kind of updates) it would see in a pod.
//
// Volume.Write is the kubelet's atomic writer (k8s.io/kubernetes pkg/volume/util/atomic_writer.go
// in its current form, which makes the visible links after the swap and checks them even when
// the payload is unchanged, kubernetes/kubernetes#121472): the files live in a hidden timestamped
// directory "..2006_01_02_15_04_05.NNNN", the symlink "..data" points at it, and every top-level
// entry of the payload is a symlink "name -> ..data/name" (for a nested path such as
// "openai/api-key", the link is "openai -> ..data/openai"). An update writes a new timestamped
// directory, points a new symlink "..data_tmp" at it, renames "..data_tmp" over "..data" (the one
// atomic step), creates links for new top-level names, removes links of names no longer in the
// payload, and deletes the previous timestamped directory. A payload equal to what is on disk
// changes nothing.
//
// Payload turns a ConfigMap, Secret or projected volume source and the objects it names into the
// payload the kubelet would write (items, paths, modes, optional sources and keys), and Mounts
// does it for every volume one container mounts, under a root directory standing for the
// container's filesystem: Mounts.Sync is the kubelet's periodic volume sync, Mounts.HostPath and
// Mounts.RewritePaths map container paths to the host.
package kubeletfs
