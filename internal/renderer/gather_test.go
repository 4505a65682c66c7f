package renderer

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestGather reads each fixture's objects back through a client and renders them: the result must
// be exactly what rendering the fixture directly gives, so the webhook and the reconciler (which
// both Gather) render what the golden files show.
func TestGather(t *testing.T) {
	for _, name := range []string{"fallback-chain", "fallback-missing", "policies-overlap", "secrets-missing", "keyless-and-fake", "provider-missing"} {
		t.Run(name, func(t *testing.T) {
			f := loadFixture(t, filepath.Join("testdata", name+".yaml"))
			var objs []client.Object
			for i := range f.providers {
				objs = append(objs, &f.providers[i])
			}
			for i := range f.policies {
				objs = append(objs, &f.policies[i])
			}
			for i := range f.secrets {
				s := f.secrets[i].DeepCopy()
				// The API server turns stringData into data.
				s.Data = map[string][]byte{}
				for k, v := range s.StringData {
					s.Data[k] = []byte(v)
				}
				s.StringData = nil
				objs = append(objs, s)
			}
			c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).Build()
			want := f.input(t)

			in, err := Gather(context.Background(), c, want.Namespace, want.ProviderNames)
			if name == "provider-missing" {
				var nf *ProviderNotFoundError
				if !errors.As(err, &nf) || nf.Name != "typo" || !errors.Is(err, ErrProviderNotFound) {
					t.Fatalf("got %v, want a ProviderNotFoundError for typo", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, exp := renderGolden(in), renderGolden(want); !bytes.Equal(got, exp) {
				t.Errorf("rendering what Gather read differs from rendering the fixture:\n--- gathered\n%s\n--- fixture\n%s", got, exp)
			}
			// Only the providers the configuration needs are read, and no Secret value is kept.
			var read []string
			for _, p := range in.Providers {
				read = append(read, p.Name)
			}
			slices.Sort(read)
			if slices.Contains(read, "unrelated") {
				t.Errorf("Gather read an LLMProvider outside the fallback chains: %v", read)
			}
			for _, s := range in.Secrets {
				for _, k := range s.Keys {
					if slices.Contains(f.secretValues(), k) {
						t.Errorf("Gather kept a Secret value")
					}
				}
			}
		})
	}
}
