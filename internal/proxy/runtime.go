package proxy

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/mosaic-dev/mosaic/internal/provider"
	"github.com/mosaic-dev/mosaic/internal/proxyconfig"
	"github.com/mosaic-dev/mosaic/internal/ratelimit"
)

// operation is one OpenAI API operation the proxy forwards.
type operation uint8

const (
	opChat operation = iota
	opCompletions
	opEmbeddings
	opResponses
	numOperations
)

// path is the operation's path below the API base URL, as internal/provider names it.
func (o operation) path() string {
	switch o {
	case opChat:
		return provider.OperationChatCompletions
	case opCompletions:
		return provider.OperationCompletions
	case opEmbeddings:
		return provider.OperationEmbeddings
	default:
		return provider.OperationResponses
	}
}

// runtimeConfig is one compiled, immutable configuration. The Server swaps it atomically on
// reload; a request keeps the one it started with until it ends.
type runtimeConfig struct {
	source *proxyconfig.Config
	// routes maps every configured model name (aliases included) to the first provider serving it.
	routes map[string]*route
	// defaultRoute serves requests that name no model: the first provider's default model.
	defaultRoute *route
	upstreams    []*upstream
	// modelList is the prebuilt GET /v1/models answer; modelObjects the GET /v1/models/{id} ones.
	modelList    []byte
	modelObjects map[string][]byte

	maxRequestBytes   int64
	streamIdleTimeout time.Duration
	defaultMaxTokens  int64
	cache             *embeddingsCache
}

// upstream is one compiled provider.
type upstream struct {
	name     string
	typ      proxyconfig.ProviderType
	adapter  provider.Provider
	endpoint provider.Endpoint
	// key is the resolved API key. It is only ever passed to adapter.Authorize.
	key string
	// authHeader is the credential header adapter.Authorize sets for key, rendered once at
	// compile time and added to every upstream request (its values are shared, never mutated).
	authHeader http.Header
	transport  http.RoundTripper
	timeout    time.Duration
	retry      retryPolicy
	budget     *retryBudget
	limiter    ratelimit.Limiter
	sanitizer  promptSanitizer
	// routes are this provider's own models, for fallback lookups.
	routes       map[string]*route
	defaultModel string
	fallback     *upstream
	static       *proxyconfig.StaticResponse
}

// route is where requests for one model name go.
type route struct {
	up *upstream
	// model is the name the client used; target the name sent upstream.
	model, target string
	// targetJSON is target as a JSON string when the body must be rewritten (an alias), else nil.
	targetJSON []byte
	// urls are the upstream URLs of each operation for target; nil when unsupported.
	urls    [numOperations]*url.URL
	urlErrs [numOperations]error
	metrics *routeMetrics
}

// compile turns a validated configuration into a runtimeConfig, resolving keys from env and
// files. State that must survive reloads (limiters, retry budgets, the embeddings cache) comes
// from s and is updated only when compilation succeeds up to that point.
func (s *Server) compile(cfg *proxyconfig.Config) (*runtimeConfig, error) {
	rt := &runtimeConfig{
		source:            cfg,
		routes:            map[string]*route{},
		modelObjects:      map[string][]byte{},
		maxRequestBytes:   cfg.Server.MaxRequestBytes,
		streamIdleTimeout: cfg.Server.StreamIdleTimeout.D(),
		defaultMaxTokens:  cfg.Server.DefaultMaxTokens,
	}
	byName := map[string]*upstream{}
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		adapter, err := s.registry.Get(provider.Type(p.Type))
		if err != nil {
			return nil, fmt.Errorf("providers[%d].type: %w", i, err)
		}
		key, err := p.APIKey.Resolve(s.env)
		if err != nil {
			return nil, fmt.Errorf("providers[%d].apiKey: %w", i, err)
		}
		up := &upstream{
			name:         p.Name,
			typ:          p.Type,
			adapter:      adapter,
			key:          key,
			transport:    s.transport,
			timeout:      p.Timeout.D(),
			retry:        compileRetry(p.Retry),
			routes:       map[string]*route{},
			defaultModel: p.DefaultModel,
			endpoint:     provider.Endpoint{BaseURL: p.Endpoint},
		}
		if p.Azure != nil {
			up.endpoint.APIVersion = p.Azure.APIVersion
		}
		// The client's credential headers never reach the upstream header (see
		// isDroppedRequestHeader), so Authorize's result is the same for every request.
		up.authHeader = http.Header{}
		adapter.Authorize(up.authHeader, key)
		if ip, ok := adapter.(provider.InProcess); ok {
			up.transport = ip.RoundTripper()
		}
		if p.Sanitization != nil {
			san, err := newPromptSanitizer(p.Sanitization)
			if err != nil {
				return nil, fmt.Errorf("providers[%d].sanitization: %w", i, err)
			}
			up.sanitizer = san
		}
		for j, m := range p.Models {
			r := &route{up: up, model: m.Name, target: m.Name}
			if m.Target != "" && m.Target != m.Name {
				r.target = m.Target
				r.targetJSON = appendJSONString(nil, m.Target)
			}
			for op := operation(0); op < numOperations; op++ {
				raw, err := adapter.RequestURL(up.endpoint, op.path(), r.target)
				if err == nil {
					r.urls[op], err = url.Parse(raw)
				}
				r.urlErrs[op] = err
			}
			if r.urls[opChat] == nil && r.urls[opEmbeddings] == nil && r.urls[opResponses] == nil && r.urls[opCompletions] == nil {
				return nil, fmt.Errorf("providers[%d].models[%d]: %w", i, j, r.urlErrs[opChat])
			}
			r.metrics = s.metrics.forRoute(p.Name, m.Name)
			up.routes[m.Name] = r
			if _, taken := rt.routes[m.Name]; !taken {
				rt.routes[m.Name] = r
			}
		}
		byName[p.Name] = up
		rt.upstreams = append(rt.upstreams, up)
	}
	for i := range cfg.Providers {
		up := rt.upstreams[i]
		if fb := cfg.Providers[i].Fallback; fb != nil {
			up.fallback = byName[fb.Provider]
			up.static = fb.StaticResponse
		}
	}
	if len(rt.upstreams) > 0 {
		first := rt.upstreams[0]
		rt.defaultRoute = first.routes[first.defaultModel]
	}
	rt.buildModelList()

	// State that outlives this configuration: nothing below can fail on a validated config.
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	limiters := map[string]*ratelimit.Local{}
	perProvider := map[string][]ratelimit.Limiter{}
	for i := range cfg.RateLimits {
		l := &cfg.RateLimits[i]
		lim := ratelimit.Limits{RequestsPerMinute: l.RequestsPerMinute, TokensPerMinute: l.TokensPerMinute, TokensPerDay: l.TokensPerDay, MaxConcurrent: l.MaxConcurrentRequests}
		on := ratelimit.OnLimit{Queue: l.OnLimit.Action == proxyconfig.LimitQueue, MaxWait: l.OnLimit.MaxWait.D()}
		local, ok := s.limiters[l.Name]
		var err error
		if ok {
			err = local.Reconfigure(lim, on)
		} else {
			local, err = ratelimit.NewLocal(lim, on, nil)
		}
		if err != nil {
			return nil, fmt.Errorf("rateLimits[%d]: %w", i, err)
		}
		limiters[l.Name] = local
		for _, name := range l.Providers {
			perProvider[name] = append(perProvider[name], local)
		}
	}
	s.limiters = limiters
	budgets := map[string]*retryBudget{}
	for _, up := range rt.upstreams {
		if ls := perProvider[up.name]; len(ls) == 1 {
			up.limiter = ls[0]
		} else if len(ls) > 1 {
			up.limiter = ratelimit.Chain(ls...)
		}
		b, ok := s.budgets[up.name]
		if !ok {
			b = newRetryBudget(time.Now)
		}
		budgets[up.name] = b
		up.budget = b
	}
	s.budgets = budgets
	ec := cfg.EmbeddingsCache
	if ec.MaxEntries != nil && *ec.MaxEntries > 0 {
		if s.cache == nil {
			s.cache = newEmbeddingsCache(*ec.MaxEntries, ec.MaxBytes, ec.TTL.D(), time.Now)
		} else {
			s.cache.resize(*ec.MaxEntries, ec.MaxBytes, ec.TTL.D())
		}
		rt.cache = s.cache
	} else {
		s.cache = nil
	}
	return rt, nil
}

// modelObject is one entry of GET /v1/models.
type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (rt *runtimeConfig) buildModelList() {
	list := struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{Object: "list", Data: []modelObject{}}
	names := make([]string, 0, len(rt.routes))
	for name := range rt.routes {
		names = append(names, name)
	}
	// Configuration order: providers in routing order, then each provider's models.
	order := map[string]int{}
	n := 0
	for _, up := range rt.upstreams {
		for _, p := range rt.source.Providers {
			if p.Name != up.name {
				continue
			}
			for _, m := range p.Models {
				if _, seen := order[m.Name]; !seen {
					order[m.Name] = n
					n++
				}
			}
		}
	}
	slices.SortFunc(names, func(a, b string) int { return order[a] - order[b] })
	for _, name := range names {
		m := modelObject{ID: name, Object: "model", OwnedBy: rt.routes[name].up.name}
		list.Data = append(list.Data, m)
		b, _ := json.Marshal(m)
		rt.modelObjects[name] = b
	}
	rt.modelList, _ = json.Marshal(list)
}
