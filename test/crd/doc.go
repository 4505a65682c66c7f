// Package crd proves the wall: its tests apply bad LLMProvider and RateLimitPolicy objects to a
// real kube-apiserver (envtest, CRDs from config/crd/bases) and check each is rejected with a
// message naming the offending field, and that good objects are accepted with defaults applied.
package crd
