package proxy

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mosaic-dev/mosaic/internal/provider"
	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
	"github.com/mosaic-dev/mosaic/internal/ratelimit"
)

// Options are a Server's collaborators. Zero fields get defaults.
type Options struct {
	// Registry maps provider types to adapters; default provider.Default().
	Registry *provider.Registry
	// Transport sends upstream requests; default NewTransport().
	Transport http.RoundTripper
	// Logger receives JSON access and error logs; default slog.Default().
	Logger *slog.Logger
	// Metrics receives the Prometheus series; default NewMetrics().
	Metrics *Metrics
	// Env resolves apiKey.env sources (the process environment, then a .env file).
	Env proxyconfig.Environment
}

// Server is the mosaic-proxy HTTP handler: the OpenAI API on the application's side, the
// configured providers on the other. It is safe for concurrent use; Reload swaps its
// configuration atomically while requests run.
type Server struct {
	cfg       atomic.Pointer[runtimeConfig]
	registry  *provider.Registry
	transport http.RoundTripper
	log       *slog.Logger
	metrics   *Metrics
	env       proxyconfig.Environment
	ready     atomic.Bool

	// stateMu guards the state that outlives a configuration.
	stateMu  sync.Mutex
	limiters map[string]*ratelimit.Local
	budgets  map[string]*retryBudget
	cache    *embeddingsCache

	unrouted *routeMetrics

	idPrefix string
	idSeq    atomic.Uint64
}

// New compiles cfg (a configuration from proxyconfig.Parse or Load) and returns a ready Server.
// Errors name the field at fault and never contain a key.
func New(cfg *proxyconfig.Config, opts Options) (*Server, error) {
	s := &Server{
		registry:  opts.Registry,
		transport: opts.Transport,
		log:       opts.Logger,
		metrics:   opts.Metrics,
		env:       opts.Env,
		limiters:  map[string]*ratelimit.Local{},
		budgets:   map[string]*retryBudget{},
	}
	if s.registry == nil {
		s.registry = provider.Default()
	}
	if s.transport == nil {
		s.transport = NewTransport()
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	s.unrouted = s.metrics.forRoute("", "")
	var b [4]byte
	_, _ = rand.Read(b[:])
	s.idPrefix = "mosaic-" + hex.EncodeToString(b[:]) + "-"
	rt, err := s.compile(cfg)
	if err != nil {
		return nil, err
	}
	s.cfg.Store(rt)
	s.ready.Store(true)
	return s, nil
}

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Reload compiles cfg and swaps it in; requests already running finish on the old one. env,
// when not nil, replaces the environment used to resolve keys. On error the old configuration
// stays in force. Either way the outcome is logged and counted in
// mosaic_proxy_config_reloads_total.
func (s *Server) Reload(cfg *proxyconfig.Config, env *proxyconfig.Environment) error {
	err := s.reload(cfg, env)
	s.recordReload(err)
	return err
}

func (s *Server) reload(cfg *proxyconfig.Config, env *proxyconfig.Environment) error {
	if cfg == nil {
		return errors.New("no configuration")
	}
	s.stateMu.Lock()
	if env != nil {
		s.env = *env
	}
	s.stateMu.Unlock()
	rt, err := s.compile(cfg)
	if err != nil {
		return err
	}
	old := s.cfg.Swap(rt)
	s.metrics.forgetRemoved(old, rt)
	return nil
}

func (s *Server) recordReload(err error) {
	if err != nil {
		s.metrics.configReloads.WithLabelValues("failure").Inc()
		s.log.Error("configuration reload refused; the previous configuration stays in force", slog.String("error", err.Error()))
		return
	}
	s.metrics.configReloads.WithLabelValues("success").Inc()
	s.log.Info("configuration reloaded")
}

// SetReady marks the server ready or not (/readyz); a shutting-down proxy reports not ready.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// NewTransport returns the HTTP transport tuned for a sidecar talking to few upstream hosts:
// many idle connections per host (the default of 2 churns connections under load), HTTP/2
// where the upstream offers it, and the standard transparent gzip handling left alone.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   4096,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// ServeHTTP routes the OpenAI API paths, /healthz and /readyz.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch path {
	case "/v1/chat/completions", "/chat/completions":
		s.servePost(w, r, opChat)
	case "/v1/embeddings", "/embeddings":
		s.servePost(w, r, opEmbeddings)
	case "/v1/responses", "/responses":
		s.servePost(w, r, opResponses)
	case "/v1/completions", "/completions":
		s.servePost(w, r, opCompletions)
	case "/v1/models", "/models":
		if !allowMethod(w, r, http.MethodGet) {
			return
		}
		writeJSON(w, http.StatusOK, s.cfg.Load().modelList)
	case "/healthz":
		_, _ = w.Write([]byte("ok\n"))
	case "/readyz":
		if !s.ready.Load() || s.cfg.Load() == nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	default:
		if id, ok := strings.CutPrefix(strings.TrimPrefix(path, "/v1"), "/models/"); ok {
			if !allowMethod(w, r, http.MethodGet) {
				return
			}
			if b, ok := s.cfg.Load().modelObjects[id]; ok {
				writeJSON(w, http.StatusOK, b)
				return
			}
			modelNotFound(id).write(w)
			return
		}
		(&apiError{status: http.StatusNotFound, typ: typeInvalidRequest, code: "unknown_url",
			message: "Invalid URL (" + r.Method + " " + path + ")"}).write(w)
	}
}

func (s *Server) servePost(w http.ResponseWriter, r *http.Request, op operation) {
	if !allowMethod(w, r, http.MethodPost) {
		return
	}
	s.handle(w, r, op)
}

func allowMethod(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	(&apiError{status: http.StatusMethodNotAllowed, typ: typeInvalidRequest, code: "method_not_allowed",
		message: "Method " + r.Method + " is not allowed on " + r.URL.Path + "; use " + method + "."}).write(w)
	return false
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func modelNotFound(model string) *apiError {
	return &apiError{status: http.StatusNotFound, typ: typeInvalidRequest, code: "model_not_found", param: "model",
		message: "The model `" + model + "` does not exist or you do not have access to it."}
}

// requestID is the client's X-Request-Id when it sent a sane one, else a new one.
func (s *Server) requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 && isToken(id) {
		return id
	}
	var b [48]byte
	return string(strconv.AppendUint(append(b[:0], s.idPrefix...), s.idSeq.Add(1), 36))
}

func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
