// Package proxy is mosaic-proxy's data plane: an http.Handler that speaks the OpenAI HTTP API to
// the application on 127.0.0.1 and forwards each request to the configured provider, applying,
// in this order: sanitize -> limit -> route -> retry/fallback -> stream back.
//
// # Requests
//
// POST /v1/chat/completions, /v1/completions, /v1/embeddings and /v1/responses are forwarded;
// GET /v1/models and /v1/models/{id} list the configured models and aliases; /healthz and
// /readyz are probes. The body is read once (at most server.maxRequestBytes, else 413) and only
// its top-level model, stream, stream_options, max_tokens, max_completion_tokens,
// max_output_tokens, input, dimensions and encoding_format fields are located (malformed JSON
// gets a 400 naming the problem and its byte offset). The model picks the first provider that
// lists it (unknown: 404 model_not_found); an alias is rewritten to its target. The request
// sent upstream is a new request with a new body, never the inbound one (golang/go#40747).
// The client's Authorization (and other credential headers) are dropped and the provider's key
// set by its adapter (internal/provider): Bearer for OpenAI-style APIs, api-key and deployment
// URLs for Azure OpenAI. Every error is OpenAI-shaped JSON with the right status.
//
// # Policies
//
// Sanitization (internal/sanitize) redacts or blocks every text field. Rate limits
// (internal/ratelimit) reserve the estimated prompt tokens plus max_tokens (or
// server.defaultMaxTokens) at admission and settle to the real usage when the response ends.
// Retries follow the provider's retry policy: full-jitter backoff, Retry-After honoured up to
// maxRetryAfter, the overall timeout, a retry budget, and never once a byte of the response went
// to the client (an upstream answer that began and then broke is an error for the client, not a
// retry). When the attempts fail for availability reasons (429, 5xx, connect errors, timeouts)
// the provider's fallback answers: another provider (header x-mosaic-fallback: NAME) or a static
// chat.completion (x-mosaic-fallback: static).
//
// Streams are forwarded event by event, each flushed as it arrives. When the client did not ask
// for stream_options.include_usage the proxy asks for it and hides the extra usage chunk, so
// tokens are always counted. A client that goes away cancels the upstream request; an upstream
// silent for server.streamIdleTimeout is cut.
//
// Embeddings are cached per input text (embeddingsCache): a batch with some cached inputs sends
// only the misses upstream and is reassembled in order; usage is what the upstream reported for
// the misses (what was actually spent).
//
// # Metrics
//
// Metrics lives in its own Prometheus registry, served by cmd/mosaic-proxy on --metrics-listen:
//
//	mosaic_proxy_requests_total{provider,model,code_class}         counter: answered requests (code_class 2xx..5xx)
//	mosaic_proxy_request_duration_seconds{provider,model}          histogram: arrival to end of response
//	gen_ai_client_token_usage{provider,model,gen_ai_token_type}    histogram: tokens per request (input, output)
//	gen_ai_server_time_to_first_token_seconds{provider,model}      histogram: arrival to first streamed event
//	mosaic_proxy_retries_total{provider,reason}                    counter: retries by failure (RateLimited, ServerError, ConnectError, Timeout)
//	mosaic_proxy_retry_budget_exhausted_total{provider}            counter: retries refused by the retry budget
//	mosaic_proxy_fallbacks_total{provider,fallback}                counter: fallbacks (to a provider name or "static")
//	mosaic_proxy_rate_limited_total{provider,limit}                counter: 429s from the proxy's own limits
//	mosaic_proxy_queue_wait_seconds{provider}                      histogram: time queued by an onLimit Queue policy
//	mosaic_proxy_sanitizer_hits_total{detector,action}             counter: sanitizer matches (action Redact, Block or Limit)
//	mosaic_proxy_embeddings_cache_total{result}                    counter: embedding inputs by result (hit, miss)
//	mosaic_proxy_upstream_errors_total{provider,class}             counter: failed upstream attempts by class
//	mosaic_proxy_overhead_seconds                                  histogram: time in the proxy itself (total - upstream - backoff - queueing; up to the first byte for streams)
//	mosaic_proxy_config_reloads_total{result}                      counter: reloads (success, failure)
//	mosaic_proxy_requests_in_flight                                gauge
//
// plus the Go runtime and process collectors. Labels come from the configuration, never from
// request text. Requests refused before routing (bad JSON, unknown model) count under
// provider="" and model="".
//
// # Logs
//
// One JSON access line per request (log/slog): request_id (the client's X-Request-Id or a new
// one, returned as X-Mosaic-Request-Id and sent upstream as X-Request-Id), operation, provider,
// model, status, stream, duration_ms, attempts, prompt_tokens, completion_tokens, fallback,
// upstream_failure, upstream_request_id and the proxy's own error message. Never prompt or
// completion text, never a key.
//
// # Configuration
//
// New compiles a proxyconfig.Config into an immutable runtime configuration held in an
// atomic.Pointer; Reload swaps in a new one while requests in flight finish on the old one.
// Rate-limit counters, retry budgets and the embeddings cache survive reloads. Reloader watches
// the configuration, .env and key files (Kubernetes' ..data symlink swaps included).
package proxy
