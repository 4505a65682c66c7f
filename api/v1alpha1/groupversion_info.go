// Package v1alpha1 contains the llm.mosaic.dev/v1alpha1 API: LLMProvider, one upstream LLM API with its
// key held in a Secret, and RateLimitPolicy, limits attached to LLMProviders through targetRefs.
//
// +kubebuilder:object:generate=true
// +groupName=llm.mosaic.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "llm.mosaic.dev", Version: "v1alpha1"}

	// SchemeBuilder adds this API's types to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds this API's types to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
