package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mosaic-dev/mosaic/test/fakeopenai"
)

// keyRingUpstream is a provider account behind the fake OpenAI API. The keys it accepts form a
// key ring, as on a provider's API-key page: a new key works from the moment it is created, the
// old one until it is revoked, which is how a rotation without downtime is done (create, deploy,
// revoke). Requests with an accepted key are answered by api (a fakeopenai.Server that takes
// any key), all others by refuse (a fakeopenai.Server whose only key nobody holds), so both get
// OpenAI's own bodies and headers, 401 invalid_api_key included. It serves HTTPS on 127.0.0.1,
// as the LLMProvider CRD requires https endpoints for OpenAI; caFile trusts its certificate.
type keyRingUpstream struct {
	// api answers accepted requests and records them (unless its Options.NoRecord).
	api *fakeopenai.Server
	// caFile is a PEM file holding the server's certificate, for SSL_CERT_FILE.
	caFile string

	srv    *httptest.Server
	refuse *fakeopenai.Server

	mu      sync.Mutex
	labels  map[string]string // key -> label; keys never leave this struct
	active  map[string]bool   // label -> accepted
	uses    map[string]*keyUse
	unknown int
}

// keyUse is what the upstream saw of one key.
type keyUse struct {
	// accepted and refused count the requests that carried the key.
	accepted, refused int
	// first and last are the arrival times of the first and last of them.
	first, last time.Time
}

func newKeyRingUpstream(t *testing.T, opts fakeopenai.Options) *keyRingUpstream {
	t.Helper()
	opts.APIKey = ""
	nobody := make([]byte, 24)
	_, _ = rand.Read(nobody)
	u := &keyRingUpstream{
		api:    fakeopenai.New(opts),
		refuse: fakeopenai.New(fakeopenai.Options{APIKey: "sk-nobody-" + hex.EncodeToString(nobody), NoRecord: true}),
		labels: map[string]string{}, active: map[string]bool{}, uses: map[string]*keyUse{},
	}
	u.srv = httptest.NewTLSServer(http.HandlerFunc(u.serve))
	u.caFile = filepath.Join(t.TempDir(), "upstream-ca.pem")
	if err := os.WriteFile(u.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: u.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		u.srv.CloseClientConnections()
		u.srv.Close()
		u.api.Close()
		u.refuse.Close()
	})
	return u
}

// URL is the API base URL, https://127.0.0.1:PORT/v1.
func (u *keyRingUpstream) URL() string { return u.srv.URL + "/v1" }

// create adds key to the ring under label (the name tests and logs use; the key is never printed).
func (u *keyRingUpstream) create(label, key string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.labels[key] = label
	u.active[label] = true
}

// revoke stops accepting the key labelled label.
func (u *keyRingUpstream) revoke(label string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.active[label] = false
}

// use returns what the upstream saw of the key labelled label.
func (u *keyRingUpstream) use(label string) keyUse {
	u.mu.Lock()
	defer u.mu.Unlock()
	if k := u.uses[label]; k != nil {
		return *k
	}
	return keyUse{}
}

// unknownKeys counts requests that carried no key, or one never in the ring (a placeholder).
func (u *keyRingUpstream) unknownKeys() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.unknown
}

func (u *keyRingUpstream) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	u.mu.Lock()
	label, known := u.labels[strings.TrimSpace(key)]
	ok := known && u.active[label]
	if known {
		k := u.uses[label]
		if k == nil {
			k = &keyUse{first: now}
			u.uses[label] = k
		}
		k.last = now
		if ok {
			k.accepted++
		} else {
			k.refused++
		}
	} else {
		u.unknown++
	}
	u.mu.Unlock()
	if ok {
		u.api.ServeHTTP(w, r)
		return
	}
	u.refuse.ServeHTTP(w, r)
}

// newAPIKey returns a fresh key in OpenAI's project-key format.
func newAPIKey() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return "sk-proj-" + hex.EncodeToString(b)
}
