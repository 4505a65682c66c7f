package proxy

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are mosaic-proxy's Prometheus series, in their own registry (see the package doc for
// the list). Labels are bounded: provider and model come from the configuration (a request for
// an unknown model is counted under model ""), never from free request text.
type Metrics struct {
	// Registry holds every series below plus the Go runtime and process collectors.
	Registry *prometheus.Registry

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	tokens          *prometheus.HistogramVec
	ttft            *prometheus.HistogramVec
	retries         *prometheus.CounterVec
	budgetExhausted *prometheus.CounterVec
	fallbacks       *prometheus.CounterVec
	rateLimited     *prometheus.CounterVec
	queueWait       *prometheus.HistogramVec
	sanitizerHits   *prometheus.CounterVec
	embeddingsCache *prometheus.CounterVec
	upstreamErrors  *prometheus.CounterVec
	overhead        prometheus.Histogram
	configReloads   *prometheus.CounterVec
	inFlight        prometheus.Gauge
}

// NewMetrics creates the series in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_proxy_requests_total",
			Help: "Requests answered, by provider, model and HTTP status class (2xx, 4xx, 5xx).",
		}, []string{"provider", "model", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mosaic_proxy_request_duration_seconds",
			Help:    "Time from request arrival to the end of the response, streams included.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300},
		}, []string{"provider", "model"}),
		tokens: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gen_ai_client_token_usage",
			Help:    "Tokens used per request as the provider reported them (OpenTelemetry GenAI gen_ai.client.token.usage).",
			Buckets: []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304},
		}, []string{"provider", "model", "gen_ai_token_type"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gen_ai_server_time_to_first_token_seconds",
			Help:    "Time from request arrival to the first streamed chunk sent to the client (OpenTelemetry GenAI).",
			Buckets: []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10},
		}, []string{"provider", "model"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_proxy_retries_total",
			Help: "Upstream retries, by provider and the failure that caused them (RateLimited, ServerError, ConnectError, Timeout).",
		}, []string{"provider", "reason"}),
		budgetExhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_proxy_retry_budget_exhausted_total",
			Help: "Retries not made because the provider's retry budget was spent.",
		}, []string{"provider"}),
		fallbacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_proxy_fallbacks_total",
			Help: "Requests answered by a fallback, by the provider that failed and the fallback (a provider name or \"static\").",
		}, []string{"provider", "fallback"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_proxy_rate_limited_total",
			Help: "Requests refused with 429 by a proxy rate limit, by provider and limit (requestsPerMinute, tokensPerMinute, tokensPerDay, maxConcurrentRequests).",
		}, []string{"provider", "limit"}),
		queueWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mosaic_proxy_queue_wait_seconds",
			Help:    "Time admitted requests waited in a rate-limit queue.",
			Buckets: []float64{0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"provider"}),
		sanitizerHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_proxy_sanitizer_hits_total",
			Help: "Sanitizer matches, by detector (a built-in detector or a configured pattern name) and action (Redact, Block, Limit).",
		}, []string{"detector", "action"}),
		embeddingsCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_proxy_embeddings_cache_total",
			Help: "Embedding inputs looked up in the cache, by result (hit, miss).",
		}, []string{"result"}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_proxy_upstream_errors_total",
			Help: "Failed upstream attempts, by provider and class (rate_limited, quota_exhausted, server_error, client_error, connect_error, timeout, bad_response, stream_interrupted, stream_idle_timeout).",
		}, []string{"provider", "class"}),
		overhead: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "mosaic_proxy_overhead_seconds",
			Help:    "Time a request spent in the proxy itself: its whole duration minus upstream time, retry backoff and rate-limit queueing.",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1},
		}),
		configReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mosaic_proxy_config_reloads_total",
			Help: "Configuration (and key file) reloads, by result (success, failure). A failed reload keeps the previous configuration.",
		}, []string{"result"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mosaic_proxy_requests_in_flight",
			Help: "Requests being handled now.",
		}),
	}
	m.Registry.MustRegister(m.requests, m.duration, m.tokens, m.ttft, m.retries, m.budgetExhausted, m.fallbacks,
		m.rateLimited, m.queueWait, m.sanitizerHits, m.embeddingsCache, m.upstreamErrors, m.overhead,
		m.configReloads, m.inFlight,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.configReloads.WithLabelValues("success")
	m.configReloads.WithLabelValues("failure")
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// routeMetrics are one route's series, bound once when the configuration is compiled so the
// request path does no label lookups.
type routeMetrics struct {
	requests [6]prometheus.Counter // by status class: index status/100
	duration prometheus.Observer
	ttft     prometheus.Observer
	input    prometheus.Observer
	output   prometheus.Observer
}

func (m *Metrics) forRoute(providerName, model string) *routeMetrics {
	rm := &routeMetrics{
		duration: m.duration.WithLabelValues(providerName, model),
		ttft:     m.ttft.WithLabelValues(providerName, model),
		input:    m.tokens.WithLabelValues(providerName, model, "input"),
		output:   m.tokens.WithLabelValues(providerName, model, "output"),
	}
	for class := 1; class <= 5; class++ {
		rm.requests[class] = m.requests.WithLabelValues(providerName, model, string(rune('0'+class))+"xx")
	}
	return rm
}

// partialDeleter is a metric vector whose series can be deleted by a subset of their labels.
type partialDeleter interface {
	DeletePartialMatch(labels prometheus.Labels) int
}

// forgetRemoved deletes the series of providers and models that a reload removed, so that
// dashboards do not show them forever.
func (m *Metrics) forgetRemoved(old, cur *runtimeConfig) {
	if old == nil || cur == nil {
		return
	}
	providers := map[string]bool{}
	routes := map[[2]string]bool{}
	for _, up := range cur.upstreams {
		providers[up.name] = true
		for model := range up.routes {
			routes[[2]string{up.name, model}] = true
		}
	}
	perRoute := []partialDeleter{m.requests, m.duration, m.tokens, m.ttft}
	perProvider := append(perRoute, m.retries, m.budgetExhausted, m.fallbacks, m.rateLimited, m.queueWait, m.upstreamErrors)
	for _, up := range old.upstreams {
		if !providers[up.name] {
			for _, v := range perProvider {
				v.DeletePartialMatch(prometheus.Labels{"provider": up.name})
			}
			continue
		}
		for model := range up.routes {
			if !routes[[2]string{up.name, model}] {
				for _, v := range perRoute {
					v.DeletePartialMatch(prometheus.Labels{"provider": up.name, "model": model})
				}
			}
		}
	}
}
