package provider

import (
	"fmt"
	"slices"
	"strings"
)

// Registry holds one adapter per provider type. It is built once in main and read
// concurrently afterwards.
type Registry struct {
	byType map[Type]Provider
}

// NewRegistry returns a registry of ps. It panics on a nil adapter or two adapters of the
// same type: both are programming errors in main.
func NewRegistry(ps ...Provider) *Registry {
	r := &Registry{byType: make(map[Type]Provider, len(ps))}
	for _, p := range ps {
		if p == nil {
			panic("provider: NewRegistry given a nil Provider")
		}
		if _, dup := r.byType[p.Type()]; dup {
			panic(fmt.Sprintf("provider: NewRegistry given two adapters of type %s", p.Type()))
		}
		r.byType[p.Type()] = p
	}
	return r
}

// Default returns a registry of every adapter Mosaic ships: OpenAI, AzureOpenAI, Anthropic,
// Gemini, OpenAICompatible and Fake.
func Default() *Registry {
	return NewRegistry(&OpenAI{}, &AzureOpenAI{}, &Anthropic{}, &Gemini{}, &OpenAICompatible{}, &Fake{})
}

// Get returns the adapter of t, or an error wrapping ErrUnknownType that names t and the
// known types.
func (r *Registry) Get(t Type) (Provider, error) {
	if p, ok := r.byType[t]; ok {
		return p, nil
	}
	known := make([]string, 0, len(r.byType))
	for _, k := range r.Types() {
		known = append(known, string(k))
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownType, t, strings.Join(known, ", "))
}

// Types returns the registered types, sorted.
func (r *Registry) Types() []Type {
	ts := make([]Type, 0, len(r.byType))
	for t := range r.byType {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}
