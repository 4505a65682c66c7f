package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	"github.com/mosaic-dev/mosaic/internal/provider"
	"github.com/mosaic-dev/mosaic/internal/ratelimit"
)

// exchange is one client request on its way through sanitize -> limit -> route ->
// retry/fallback -> respond.
type exchange struct {
	s     *Server
	rt    *runtimeConfig
	w     http.ResponseWriter
	r     *http.Request
	op    operation
	id    string
	start time.Time

	in     *bodyBuffer // the client's body, read once
	f      requestFields
	route  *route // the route answering now (changes on fallback)
	asked  *route // the route the client's model named
	out    []byte // the body sent upstream
	owner  *bodyBuffer
	inject bool // stream_options.include_usage was added by the proxy
	emb    *embeddingsPlan

	res       *ratelimit.Reservation
	estimated int64

	// Per-upstream context: cancelled when the request ends, the client leaves, or the
	// provider's timeout passes before the response is committed.
	ctx         context.Context
	cancel      context.CancelFunc
	deadline    *time.Timer
	deadlineHit *atomic.Bool
	deadlineAt  time.Time
	tryCancel   context.CancelFunc

	// The last upstream error answer, passed on when no retry or fallback answers instead.
	errStatus int
	errHeader http.Header
	errBody   []byte

	status       int
	usage        usage
	attempts     int
	retries      int
	failure      failure
	fallback     string
	upstreamTime time.Duration
	waited       time.Duration
	committedAt  time.Duration
	ttft         time.Duration
	upstreamID   string
	errMessage   string
	abort        bool
	// reached is set once an attempt was sent upstream; answered once the upstream answered 2xx
	// (it may bill from then on, whatever happens to the response).
	reached  bool
	answered bool
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

// handle serves one POST of an OpenAI operation.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, op operation) {
	x := exchangePool.Get().(*exchange)
	*x = exchange{s: s, rt: s.cfg.Load(), w: w, r: r, op: op, start: time.Now(), id: s.requestID(r)}
	s.metrics.inFlight.Inc()
	w.Header()["X-Mosaic-Request-Id"] = []string{x.id}
	x.serve()
	s.metrics.inFlight.Dec()
	abort := x.abort
	*x = exchange{}
	exchangePool.Put(x)
	if abort {
		// The client must see a broken response, not a clean end of a truncated stream.
		panic(http.ErrAbortHandler)
	}
}

// serve runs the exchange and finishes it. A panic on the way still ends the upstream work and
// the rate-limit reservation (a leaked reservation would hold a concurrency slot forever) and is
// answered with a 500 when nothing was answered yet, or by aborting the response.
func (x *exchange) serve() {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		x.endUpstream()
		x.settle()
		x.s.log.Error("panic while serving a request", slog.String("request_id", x.id), slog.Any("panic", v))
		x.abort = true
		if x.status == 0 {
			x.abort = false
			(&apiError{status: http.StatusInternalServerError, typ: typeServer, code: "internal_error",
				message: "The proxy failed while handling the request (request id " + x.id + ")."}).write(x.w)
		}
	}()
	if err := x.run(); err != nil {
		x.fail(err)
	}
	x.finish()
}

// run takes the request from its body to a response; an *apiError it returns has not been
// written yet.
func (x *exchange) run() *apiError {
	if err := x.readBody(); err != nil {
		return err
	}
	f, err := scanRequest(x.in.b)
	if err != nil {
		return err
	}
	x.f = f
	if f.modelName == "" {
		x.asked = x.rt.defaultRoute
	} else {
		x.asked = x.rt.routes[f.modelName]
	}
	if x.asked == nil {
		return modelNotFound(f.modelName)
	}
	if x.asked.urls[x.op] == nil {
		return badRequest("The model `"+x.asked.model+"` does not support "+x.op.path()+".", "model", "unsupported_operation")
	}
	if err := x.prepare(x.asked); err != nil {
		return err
	}
	if x.emb != nil && x.emb.complete() {
		x.respondEmbeddingsFromCache()
		return nil
	}
	if err := x.admit(x.route.up); err != nil {
		return err
	}
	return x.send()
}

func (x *exchange) readBody() *apiError {
	limit := x.rt.maxRequestBytes
	if x.r.ContentLength > limit {
		return tooLarge(x.r.ContentLength, limit)
	}
	n := x.r.ContentLength + 1
	if n <= 0 {
		n = 4 << 10
	}
	x.in = getBuffer(int(min(n, limit+1)))
	over, err := x.in.readAll(x.r.Body, limit)
	if over {
		return tooLarge(-1, limit)
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(-1, limit)
		}
		return badRequest("Could not read the request body: "+err.Error(), "", "invalid_body")
	}
	return nil
}

func tooLarge(size, limit int64) *apiError {
	msg := "The request body is larger than the proxy's limit of " + strconv.FormatInt(limit, 10) + " bytes (server.maxRequestBytes)."
	if size > 0 {
		msg = "The request body is " + strconv.FormatInt(size, 10) + " bytes, larger than the proxy's limit of " + strconv.FormatInt(limit, 10) + " bytes (server.maxRequestBytes)."
	}
	return &apiError{status: http.StatusRequestEntityTooLarge, typ: typeInvalidRequest, code: "request_too_large", message: msg}
}

// prepare builds the upstream body for rt: model rewrite, include_usage injection, then
// sanitization with the provider's policy and the embeddings cache lookup.
func (x *exchange) prepare(rt *route) *apiError {
	x.route = rt
	x.inject = x.f.stream && !x.f.includeUsage && (x.op == opChat || x.op == opCompletions)
	model := rt.targetJSON
	if model == nil && (!x.f.model.ok() || x.f.modelName != rt.target) {
		model = appendJSONString(nil, rt.target)
	}
	x.owner.release()
	x.owner = nil
	x.out = x.in.b
	if model != nil || x.inject {
		x.owner = getBuffer(len(x.in.b) + len(model) + 48)
		x.owner.b = rewriteBody(x.owner.b, x.in.b, &x.f, model, x.inject)
		x.out = x.owner.b
	}
	if x.owner == nil {
		x.owner = x.in
		x.in.hold()
	}
	if san := rt.up.sanitizer; san != nil {
		out, est, err := san.sanitize(x.s, x.op, x.out)
		if err != nil {
			return err
		}
		x.out = out
		x.estimated = est
	} else {
		x.estimated = estimateTokens(x.out)
	}
	x.emb = nil
	if x.op == opEmbeddings && x.rt.cache != nil {
		x.emb = x.planEmbeddings(rt)
	}
	return nil
}

// estimateTokens is the prompt estimate used without a sanitizer: about 4 bytes per token.
func estimateTokens(body []byte) int64 { return int64(len(body)+3) / 4 }

// admit reserves capacity under up's rate limits.
func (x *exchange) admit(up *upstream) *apiError {
	if up.limiter == nil {
		return nil
	}
	tokens := x.estimated
	if x.op != opEmbeddings {
		if x.f.maxTokens > 0 {
			tokens += x.f.maxTokens
		} else {
			tokens += x.rt.defaultMaxTokens
		}
	}
	t0 := time.Now()
	res, err := up.limiter.Admit(x.r.Context(), tokens)
	if res != nil {
		if qw := res.QueueWait(); qw > 0 {
			x.waited += qw
			x.s.metrics.queueWait.WithLabelValues(up.name).Observe(qw.Seconds())
		}
	}
	if err == nil {
		x.res = res
		return nil
	}
	x.waited += time.Since(t0)
	var le *ratelimit.LimitedError
	var tl *ratelimit.RequestTooLargeError
	switch {
	case errors.As(err, &le):
		x.s.metrics.rateLimited.WithLabelValues(up.name, string(le.Limit)).Inc()
		typ := "requests"
		if le.Limit == ratelimit.LimitTokensPerMinute || le.Limit == ratelimit.LimitTokensPerDay {
			typ = "tokens"
		}
		return &apiError{status: http.StatusTooManyRequests, typ: typ, code: "rate_limit_exceeded", retryAfter: le.RetryAfterSeconds(),
			message: "Rate limit reached for provider " + up.name + " on " + string(le.Limit) + ": limit " + strconv.FormatInt(le.Max, 10) +
				", used " + strconv.FormatInt(le.Used, 10) + ", requested " + strconv.FormatInt(le.Requested, 10) +
				". Please try again in " + le.RetryAfter.Round(time.Millisecond).String() + "."}
	case errors.As(err, &tl):
		x.s.metrics.rateLimited.WithLabelValues(up.name, string(tl.Limit)).Inc()
		return &apiError{status: http.StatusTooManyRequests, typ: "tokens", code: "rate_limit_exceeded",
			message: "Request too large for provider " + up.name + " on " + string(tl.Limit) + ": limit " + strconv.FormatInt(tl.Max, 10) +
				", requested " + strconv.FormatInt(tl.Requested, 10) + ". The input or max_tokens must be reduced in order to run successfully."}
	case x.r.Context().Err() != nil:
		x.failure = failCanceled
		return &apiError{status: 499, typ: typeInvalidRequest, code: "client_closed_request", message: "The client closed the request."}
	}
	return &apiError{status: http.StatusInternalServerError, typ: typeServer, code: "rate_limiter_error", message: "The rate limiter failed: " + err.Error()}
}

// send runs the attempts at the current route, then its fallbacks, and answers.
func (x *exchange) send() *apiError {
	for {
		resp, fail := x.attempt()
		if fail == failNone {
			x.respond(resp)
			return nil
		}
		if fail == failCanceled {
			return &apiError{status: 499, typ: typeInvalidRequest, code: "client_closed_request", message: "The client closed the request."}
		}
		if !fail.fallsBack() {
			return x.upstreamError(fail)
		}
		up := x.route.up
		if up.static != nil && (x.op == opChat) {
			x.endUpstream()
			x.settle()
			x.s.metrics.fallbacks.WithLabelValues(up.name, "static").Inc()
			x.fallback = "static"
			x.respondStatic(up.static.Content)
			return nil
		}
		fb := up.fallback
		if fb == nil {
			return x.upstreamError(fail)
		}
		next := fb.routes[x.route.model]
		if next == nil {
			next = fb.routes[fb.defaultModel]
		}
		if next == nil || next.urls[x.op] == nil {
			return x.upstreamError(fail)
		}
		x.endUpstream()
		x.settle()
		if err := x.prepare(next); err != nil {
			// The fallback's own policy refuses the request: answer the original failure.
			return x.upstreamError(fail)
		}
		if err := x.admit(fb); err != nil {
			return err
		}
		x.s.metrics.fallbacks.WithLabelValues(up.name, fb.name).Inc()
		x.fallback = fb.name
		x.w.Header().Set("X-Mosaic-Fallback", fb.name)
		if x.emb != nil && x.emb.complete() {
			x.respondEmbeddingsFromCache()
			return nil
		}
	}
}

// attempt sends the request to x.route's provider, retrying as its policy allows. It returns
// a 2xx response whose body is still to be read, or the failure that ended the attempts
// (with the last upstream error answer in x.err*).
func (x *exchange) attempt() (*http.Response, failure) {
	up := x.route.up
	x.ctx, x.cancel = context.WithCancel(x.r.Context())
	x.deadlineAt = time.Now().Add(up.timeout)
	cancel := x.cancel
	hit := new(atomic.Bool)
	x.deadlineHit = hit
	x.deadline = time.AfterFunc(up.timeout, func() { hit.Store(true); cancel() })
	up.budget.request()
	pol := &up.retry
	for n := 1; ; n++ {
		resp, fail := x.try()
		if fail == failNone {
			return resp, failNone
		}
		x.failure = fail
		if fail != failCanceled {
			x.s.metrics.upstreamErrors.WithLabelValues(up.name, fail.label()).Inc()
		}
		if n >= pol.maxAttempts || !pol.retryOn[fail] {
			return nil, fail
		}
		wait := pol.backoff(n)
		if (fail == failRateLimited || fail == failServer) && pol.respectRetryAfter && x.errHeader != nil {
			if ra, ok := provider.ParseRetryAfter(x.errHeader, time.Now()); ok {
				if ra > pol.maxRetryAfter {
					return nil, fail
				}
				wait = ra
			}
		}
		if time.Until(x.deadlineAt) <= wait {
			return nil, fail
		}
		if !up.budget.tryRetry(pol.budgetPercent) {
			x.s.metrics.budgetExhausted.WithLabelValues(up.name).Inc()
			return nil, fail
		}
		x.retries++
		x.s.metrics.retries.WithLabelValues(up.name, string(fail.condition())).Inc()
		if !x.sleep(wait) {
			if x.deadlineHit.Load() {
				return nil, failDeadline
			}
			return nil, failCanceled
		}
	}
}

func (x *exchange) sleep(d time.Duration) bool {
	if d <= 0 {
		return x.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	x.waited += d
	select {
	case <-t.C:
		return true
	case <-x.ctx.Done():
		return false
	}
}

// try makes one upstream attempt.
func (x *exchange) try() (*http.Response, failure) {
	up, rt := x.route.up, x.route
	x.attempts++
	ctx := x.ctx
	var perTry *time.Timer
	var timedOut atomic.Bool
	if d := up.retry.perTryTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(x.ctx)
		if x.tryCancel != nil {
			x.tryCancel()
		}
		x.tryCancel = cancel
		perTry = time.AfterFunc(d, func() { timedOut.Store(true); cancel() })
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "", nil)
	if err != nil {
		return nil, failConnect
	}
	u := rt.urls[x.op]
	req.URL, req.Host = u, u.Host
	req.Header = x.upstreamHeader(up)
	owner := x.owner
	if x.emb != nil && x.emb.body != nil {
		owner = nil // the rewritten embeddings body is not pooled
	}
	out := x.out
	req.Body = newRequestBody(out, owner)
	req.ContentLength = int64(len(out))
	req.GetBody = func() (io.ReadCloser, error) { return newRequestBody(out, owner), nil }
	t0 := time.Now()
	resp, err := up.transport.RoundTrip(req)
	x.upstreamTime += time.Since(t0)
	if perTry != nil && !perTry.Stop() && err == nil {
		// The per-try timeout fired as the headers arrived: the body would fail to read, and
		// nothing went to the client yet, so it counts as a timed-out attempt.
		resp.Body.Close()
		resp, err = nil, context.DeadlineExceeded
	}
	x.reached = true
	if err != nil {
		switch {
		case timedOut.Load():
			return nil, failTimeout
		case x.deadlineHit.Load():
			return nil, failDeadline
		case x.r.Context().Err() != nil:
			return nil, failCanceled
		}
		return nil, failConnect
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		x.answered = true
		return resp, failNone
	}
	x.errStatus, x.errHeader = resp.StatusCode, resp.Header
	x.errBody, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		if gjson.GetBytes(x.errBody, "error.code").Str == "insufficient_quota" || gjson.GetBytes(x.errBody, "error.type").Str == "insufficient_quota" {
			return nil, failQuota
		}
		return nil, failRateLimited
	case 500, 502, 503, 504, 529:
		return nil, failServer
	}
	return nil, failClient
}

// isHopHeader reports the headers never forwarded in either direction (hop-by-hop headers and
// the framing the proxy sets itself). A switch on the canonical key costs no hashing.
func isHopHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length", "Host":
		return true
	}
	return false
}

// isDroppedRequestHeader reports the client headers never sent upstream: every credential
// header any provider reads (see provider.Provider.Authorize), Accept-Encoding, cookies, and
// the request id the proxy sets itself.
func isDroppedRequestHeader(k string) bool {
	switch k {
	case "Authorization", "Api-Key", "X-Api-Key", "X-Goog-Api-Key", "Accept-Encoding", "Cookie", "X-Request-Id":
		return true
	}
	return false
}

// upstreamHeader is the header of an upstream request: the client's headers minus hop-by-hop
// headers, credentials and Accept-Encoding (the transport negotiates compression itself and
// decompresses, so the proxy can read usage), plus the provider's own credential, which
// compile rendered once with the adapter's Authorize (up.authHeader).
func (x *exchange) upstreamHeader(up *upstream) http.Header {
	h := make(http.Header, len(x.r.Header)+2+len(up.authHeader))
	for k, v := range x.r.Header {
		if isHopHeader(k) || isDroppedRequestHeader(k) {
			continue
		}
		h[k] = v
	}
	h["Content-Type"] = jsonContentType
	h["X-Request-Id"] = []string{x.id}
	for k, v := range up.authHeader {
		h[k] = v
	}
	return h
}

var jsonContentType = []string{"application/json"}

// respond forwards a 2xx upstream answer: streamed event by event, or read whole (to find the
// usage and check it) and sent at once.
func (x *exchange) respond(resp *http.Response) {
	x.upstreamID = resp.Header.Get("X-Request-Id")
	ct := resp.Header.Get("Content-Type")
	if x.f.stream && len(ct) >= 17 && ct[:17] == "text/event-stream" {
		x.streamResponse(resp)
		return
	}
	size := int(resp.ContentLength)
	if size < 0 || size > 64<<20 {
		size = 16 << 10
	}
	buf := getBuffer(size + 1)
	defer buf.release()
	t0 := time.Now()
	_, err := buf.readAll(resp.Body, 256<<20)
	resp.Body.Close()
	x.upstreamTime += time.Since(t0)
	x.endUpstream()
	if err != nil || !gjson.ValidBytes(buf.b) {
		x.failure = failBadResponse
		x.s.metrics.upstreamErrors.WithLabelValues(x.route.up.name, failBadResponse.label()).Inc()
		x.settle()
		msg := "The upstream provider " + x.route.up.name + " returned a malformed response."
		if err != nil {
			msg = "The upstream provider " + x.route.up.name + " broke the connection while answering."
			if x.deadlineHit != nil && x.deadlineHit.Load() {
				x.fail(upstreamTimeout(x.route.up, x.route.up.timeout.String()+"."))
				return
			}
		}
		x.fail(&apiError{status: http.StatusBadGateway, typ: typeUpstream, code: "bad_upstream_response", message: msg})
		return
	}
	body := buf.b
	x.usage = parseUsage(gjson.GetBytes(body, "usage"))
	if x.emb != nil {
		merged, ok := x.finishEmbeddings(body)
		switch {
		case ok:
			body = merged
		case x.emb.body != nil:
			// The upstream saw only the cache misses: its answer cannot be passed on as it is.
			x.failure = failBadResponse
			x.s.metrics.upstreamErrors.WithLabelValues(x.route.up.name, failBadResponse.label()).Inc()
			x.fail(&apiError{status: http.StatusBadGateway, typ: typeUpstream, code: "bad_upstream_response",
				message: "The upstream provider " + x.route.up.name + " returned an embeddings answer that does not match the inputs sent."})
			return
		}
	}
	if of := newOutputFilter(x.route.up.sanitizer, x.op); of != nil {
		filtered, err := of.filterBody(body)
		of.record(x.s.metrics)
		if err != nil {
			x.settle()
			x.fail(err)
			return
		}
		body = filtered
	}
	x.settle()
	h := x.w.Header()
	copyResponseHeader(h, resp.Header)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	x.status = resp.StatusCode
	x.commit()
	x.w.WriteHeader(resp.StatusCode)
	_, _ = x.w.Write(body)
}

func copyResponseHeader(dst, src http.Header) {
	for k, v := range src {
		if isHopHeader(k) {
			continue
		}
		dst[k] = v
	}
}

// streamResponse forwards an SSE answer event by event, flushing each, counting usage and
// hiding the usage chunk the proxy asked for.
func (x *exchange) streamResponse(resp *http.Response) {
	up := x.route.up
	if !x.deadline.Stop() {
		// The overall timeout fired as the headers arrived; nothing went to the client yet.
		resp.Body.Close()
		x.failure = failDeadline
		x.fail(upstreamTimeout(up, up.timeout.String()+"."))
		return
	}
	// Committed: the stream is now bounded by the idle timeout.
	h := x.w.Header()
	copyResponseHeader(h, resp.Header)
	h.Del("Content-Length")
	x.status = resp.StatusCode
	x.commit()
	x.w.WriteHeader(resp.StatusCode)
	flusher, _ := x.w.(http.Flusher)

	var idleHit atomic.Bool
	idle := x.rt.streamIdleTimeout
	var idleTimer *time.Timer
	if idle > 0 {
		cancel := x.cancel
		idleTimer = time.AfterFunc(idle, func() { idleHit.Store(true); cancel() })
		defer idleTimer.Stop()
	}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(resp.Body)
	sr := sseReader{r: br, buf: getScratch()}
	scratch := getScratch()
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
		putScratch(sr.buf)
		putScratch(scratch)
		resp.Body.Close()
	}()
	first := true
	of := newOutputFilter(up.sanitizer, x.op)
	if of != nil {
		defer of.record(x.s.metrics)
	}
	for {
		ev, err := sr.next()
		if idleTimer != nil {
			idleTimer.Reset(idle)
		}
		if len(ev) > 0 {
			kind := inspectEvent(ev, scratch[:0], x.op, x.inject, &x.usage)
			if of != nil && kind == eventForward {
				filtered, ferr := of.filterEvent(ev)
				if ferr != nil {
					x.failure = failBadResponse
					x.errMessage = ferr.message
					_, _ = x.w.Write(errorEvent(ferr.message, ferr.code))
					if flusher != nil {
						flusher.Flush()
					}
					x.abort = true
					break
				}
				ev = filtered
			}
			if kind != eventUsageOnly {
				if _, werr := x.w.Write(ev); werr != nil {
					x.failure = failCanceled
					break
				}
				if flusher != nil {
					flusher.Flush()
				}
				if first {
					first = false
					x.ttft = time.Since(x.start)
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			switch {
			case x.r.Context().Err() != nil:
				x.failure = failCanceled
			case idleHit.Load():
				x.failure = failTimeout
				x.s.metrics.upstreamErrors.WithLabelValues(up.name, "stream_idle_timeout").Inc()
				_, _ = x.w.Write(errorEvent("The upstream provider "+up.name+" sent nothing for "+idle.String()+" (server.streamIdleTimeout).", "stream_idle_timeout"))
				x.abort = true
			default:
				x.failure = failBadResponse
				x.s.metrics.upstreamErrors.WithLabelValues(up.name, "stream_interrupted").Inc()
				_, _ = x.w.Write(errorEvent("The upstream provider "+up.name+" broke the stream.", "stream_interrupted"))
				x.abort = true
			}
			if flusher != nil && x.failure != failCanceled {
				flusher.Flush()
			}
			break
		}
	}
	x.settle()
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 16<<10) }}

var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

func getScratch() []byte { return (*scratchPool.Get().(*[]byte))[:0] }

func putScratch(b []byte) {
	if cap(b) <= maxPooledBuffer {
		scratchPool.Put(&b)
	}
}

// commit records the moment the proxy starts answering.
func (x *exchange) commit() { x.committedAt = time.Since(x.start) }

// endUpstream ends the current provider's context and timers.
func (x *exchange) endUpstream() {
	if x.deadline != nil {
		x.deadline.Stop()
		x.deadline = nil
	}
	if x.tryCancel != nil {
		x.tryCancel()
		x.tryCancel = nil
	}
	if x.cancel != nil {
		x.cancel()
		x.cancel = nil
	}
}

// settle ends the rate-limit reservation: the real usage when known, the estimate when the
// upstream answered 2xx without one (it may have billed), nothing for error answers, a full
// refund when nothing was sent upstream.
func (x *exchange) settle() {
	if x.res == nil {
		return
	}
	switch {
	case x.usage.known:
		_ = x.res.Settle(x.usage.total)
	case !x.reached:
		_ = x.res.Release()
	case x.answered || x.failure == failBadResponse:
		_ = x.res.Settle(x.res.EstimatedTokens())
	default:
		_ = x.res.Settle(0)
	}
	x.res = nil
}

// upstreamError answers the failure that ended the attempts: the provider's own error answer
// when it is OpenAI-shaped, else one of the proxy's.
func (x *exchange) upstreamError(fail failure) *apiError {
	name := x.route.up.name
	switch fail {
	case failDeadline:
		return upstreamTimeout(x.route.up, x.route.up.timeout.String()+" ("+strconv.Itoa(x.attempts)+" attempts).")
	case failTimeout:
		return upstreamTimeout(x.route.up, "the per-try timeout ("+strconv.Itoa(x.attempts)+" attempts).")
	case failConnect:
		return &apiError{status: http.StatusBadGateway, typ: typeUpstream, code: "upstream_unreachable",
			message: "The upstream provider " + name + " could not be reached (" + strconv.Itoa(x.attempts) + " attempts)."}
	}
	if x.errStatus == 0 {
		return &apiError{status: http.StatusBadGateway, typ: typeUpstream, code: "upstream_error", message: "The upstream provider " + name + " failed."}
	}
	if gjson.GetBytes(x.errBody, "error").IsObject() {
		x.passThroughError()
		return nil
	}
	return &apiError{status: x.errStatus, typ: typeUpstream, code: "upstream_error", retryAfter: x.upstreamRetryAfter(),
		message: "The upstream provider " + name + " answered HTTP " + strconv.Itoa(x.errStatus) + " " + http.StatusText(x.errStatus) + "."}
}

// upstreamTimeout is the 504 for an upstream that did not answer within limit (its end, e.g.
// "30s.").
func upstreamTimeout(up *upstream, limit string) *apiError {
	return &apiError{status: http.StatusGatewayTimeout, typ: typeTimeout, code: "upstream_timeout",
		message: "The upstream provider " + up.name + " did not answer within " + limit}
}

// upstreamRetryAfter is the Retry-After (whole seconds) to send with a passed-on upstream 429:
// the provider's own, rounded up, or one second when it sent none, so that every 429 the proxy
// answers carries the header. It is 0 (no header) for other statuses.
func (x *exchange) upstreamRetryAfter() int64 {
	if x.errStatus != http.StatusTooManyRequests {
		return 0
	}
	if d, ok := provider.ParseRetryAfter(x.errHeader, time.Now()); ok {
		return max(int64((d+time.Second-1)/time.Second), 1)
	}
	return 1
}

// passThroughError forwards the provider's OpenAI-shaped error answer as it came, except that
// the provider key is cut out should the provider have echoed it.
func (x *exchange) passThroughError() {
	x.endUpstream()
	x.settle()
	if key := x.route.up.key; len(key) >= 8 && bytes.Contains(x.errBody, []byte(key)) {
		x.errBody = bytes.ReplaceAll(x.errBody, []byte(key), []byte("[REDACTED]"))
	}
	h := x.w.Header()
	copyResponseHeader(h, x.errHeader)
	h.Set("Content-Length", strconv.Itoa(len(x.errBody)))
	if ra := x.upstreamRetryAfter(); ra > 0 && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.FormatInt(ra, 10))
	}
	x.status = x.errStatus
	x.upstreamID = x.errHeader.Get("X-Request-Id")
	x.commit()
	x.w.WriteHeader(x.errStatus)
	_, _ = x.w.Write(x.errBody)
}

// fail answers err (when not nil) and ends the upstream work.
func (x *exchange) fail(err *apiError) {
	x.endUpstream()
	x.settle()
	if err == nil {
		return
	}
	x.status = err.status
	x.errMessage = err.message
	x.commit()
	if err.status == 499 {
		return // nobody is listening
	}
	err.write(x.w)
}

// finish records metrics and the access log line, and returns pooled buffers.
func (x *exchange) finish() {
	x.endUpstream()
	x.settle()
	end := time.Now()
	total := end.Sub(x.start)
	rm := x.s.unrouted
	providerName, model := "", ""
	if x.route != nil {
		rm, providerName, model = x.route.metrics, x.route.up.name, x.route.model
		if x.fallback == "static" {
			rm = x.asked.metrics
		}
	}
	if x.status == 0 {
		x.status = 499
	}
	if class := x.status / 100; class >= 1 && class <= 5 {
		rm.requests[class].Inc()
	}
	rm.duration.Observe(total.Seconds())
	if x.ttft > 0 {
		rm.ttft.Observe(x.ttft.Seconds())
	}
	if x.usage.known {
		rm.input.Observe(float64(x.usage.prompt))
		if x.op != opEmbeddings {
			rm.output.Observe(float64(x.usage.completion))
		}
	}
	overhead := total - x.upstreamTime - x.waited
	if x.f.stream && x.committedAt > 0 && x.status < 300 {
		overhead = x.committedAt - x.upstreamTime - x.waited
	}
	if overhead > 0 {
		x.s.metrics.overhead.Observe(overhead.Seconds())
	}
	level := slog.LevelInfo
	if x.status >= 500 {
		level = slog.LevelWarn
	}
	if h := x.s.log.Handler(); h.Enabled(x.r.Context(), level) {
		// The record is built here rather than with Logger.LogAttrs, which would also capture
		// the caller's program counter (runtime.Callers) for a source the handler does not log.
		rec := slog.NewRecord(end, level, "request", 0)
		rec.AddAttrs(
			slog.String("request_id", x.id),
			slog.String("operation", x.op.path()),
			slog.String("provider", providerName),
			slog.String("model", model),
			slog.Int("status", x.status),
			slog.Bool("stream", x.f.stream),
			slog.Float64("duration_ms", float64(total.Microseconds())/1000),
			slog.Int("attempts", x.attempts),
		)
		if x.usage.known {
			rec.AddAttrs(slog.Int64("prompt_tokens", x.usage.prompt), slog.Int64("completion_tokens", x.usage.completion))
		}
		if x.fallback != "" {
			rec.AddAttrs(slog.String("fallback", x.fallback))
		}
		if x.failure != failNone {
			rec.AddAttrs(slog.String("upstream_failure", x.failure.label()))
		}
		if x.upstreamID != "" {
			rec.AddAttrs(slog.String("upstream_request_id", x.upstreamID))
		}
		if x.errMessage != "" {
			rec.AddAttrs(slog.String("error", x.errMessage))
		}
		_ = h.Handle(x.r.Context(), rec)
	}
	x.owner.release()
	x.in.release()
}
