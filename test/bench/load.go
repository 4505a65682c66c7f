package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// target is one base URL under measurement.
type target struct {
	// name labels the target in the report ("direct", "minproxy", "mosaic-proxy").
	name string
	// base is the OpenAI base URL, ending in /v1.
	base string
	// auth is the Authorization header value the client sends.
	auth string
	// pid is the process whose CPU and RSS are measured (0: none).
	pid int
}

// chatBody is the non-streaming request of the fixed-rate and closed-loop
// phases: a ~1 KB prompt, as ../shared/bench/bench.sh sends.
func chatBody(model string) []byte {
	var prompt strings.Builder
	prompt.WriteString("You are reviewing a service log. Summarise the following notes in two sentences. ")
	for i := 1; i <= 11; i++ {
		fmt.Fprintf(&prompt, "Note %d: the gateway forwarded a request to the upstream model and recorded latency. ", i)
	}
	return mustJSON(map[string]any{"model": model, "max_tokens": 64, "temperature": 0, "messages": []any{
		map[string]any{"role": "system", "content": "You are a concise assistant."},
		map[string]any{"role": "user", "content": strings.TrimSpace(prompt.String())},
	}})
}

// streamBody is the streaming request of the TTFB phase.
func streamBody(model string) []byte {
	return mustJSON(map[string]any{"model": model, "stream": true, "stream_options": map[string]any{"include_usage": true},
		"messages": []any{map[string]any{"role": "user", "content": "Stream a short answer, please."}}})
}

func newRequest(ctx context.Context, t target, body []byte, stream bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if stream {
		req.Header.Set("Accept", "text/event-stream")
	}
	if t.auth != "" {
		req.Header.Set("Authorization", t.auth)
	}
	return req, nil
}

// hit is one request's outcome.
type hit struct {
	latency time.Duration
	ok      bool
	err     string
}

// do sends one non-streaming request and reads the whole answer.
func do(ctx context.Context, client *http.Client, t target, body []byte) hit {
	req, err := newRequest(ctx, t, body, false)
	if err != nil {
		return hit{err: err.Error()}
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return hit{latency: time.Since(start), err: err.Error()}
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h := hit{latency: time.Since(start), ok: resp.StatusCode == http.StatusOK && err == nil}
	switch {
	case err != nil:
		h.err = err.Error()
	case !h.ok:
		h.err = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	return h
}

// loadClient is an HTTP client like vegeta's: keep-alive, many idle
// connections per host, a per-request timeout.
func loadClient(timeout time.Duration, idle int) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		MaxIdleConns: idle, MaxIdleConnsPerHost: idle, IdleConnTimeout: 90 * time.Second}}
}

// rateResult is one fixed-rate phase.
type rateResult struct {
	rate            int
	sent, ok        int
	achieved        float64 // requests per second actually sent
	p50, p90, p99   time.Duration
	max             time.Duration
	cpuSeconds      float64 // -1: not measured
	peakRSSKiB      int64   // -1: not measured
	firstError      string
	errorsByMessage map[string]int
}

// openLoop sends rate requests per second for d, each at its scheduled time
// whatever the answers do (open loop, as vegeta does): a worker pool grows up
// to maxWorkers; latency runs from when a request is sent.
func openLoop(ctx context.Context, t target, body []byte, rate int, d, timeout time.Duration, maxWorkers int) ([]hit, float64) {
	client := loadClient(timeout, 10000)
	defer client.CloseIdleConnections()
	total := int(float64(rate) * d.Seconds())
	hits := make([]hit, total)
	ticks := make(chan int)
	var workers sync.WaitGroup
	var nWorkers atomic.Int64
	spawn := func() {
		nWorkers.Add(1)
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := range ticks {
				hits[i] = do(ctx, client, t, body)
			}
		}()
	}
	for range min(10, maxWorkers) {
		spawn()
	}
	interval := time.Second / time.Duration(rate)
	began := time.Now()
	sent := 0
	for i := range total {
		if wait := time.Until(began.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case ticks <- i:
		default:
			if nWorkers.Load() < int64(maxWorkers) {
				spawn()
			}
			ticks <- i
		}
		sent++
	}
	elapsed := time.Since(began)
	close(ticks)
	workers.Wait()
	return hits[:sent], float64(sent) / elapsed.Seconds()
}

// summarizeRate computes latency percentiles and success of a phase.
func summarizeRate(rate int, hits []hit, achieved float64) rateResult {
	r := rateResult{rate: rate, sent: len(hits), achieved: achieved, errorsByMessage: map[string]int{}}
	lat := make([]time.Duration, 0, len(hits))
	for _, h := range hits {
		lat = append(lat, h.latency)
		if h.ok {
			r.ok++
			continue
		}
		if r.firstError == "" {
			r.firstError = h.err
		}
		r.errorsByMessage[h.err]++
	}
	slices.Sort(lat)
	r.p50, r.p90, r.p99, r.max = percentile(lat, .50), percentile(lat, .90), percentile(lat, .99), percentile(lat, 1)
	return r
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// closedResult is one closed-loop (max throughput) phase.
type closedResult struct {
	concurrency int
	requests    int
	ok          int
	rps         float64
	cpuSeconds  float64
	peakRSSKiB  int64
	firstError  string
}

// closedLoop runs c workers that each send the next request as soon as the
// previous one is answered, for d (as hey -c C -z D does).
func closedLoop(ctx context.Context, t target, body []byte, c int, d, timeout time.Duration) closedResult {
	client := loadClient(timeout, min(c, 500))
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	res := closedResult{concurrency: c}
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, ok, firstErr := 0, 0, ""
			for ctx.Err() == nil {
				h := do(context.Background(), client, t, body)
				n++
				if h.ok {
					ok++
				} else if firstErr == "" {
					firstErr = h.err
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.requests += n
			res.ok += ok
			if res.firstError == "" {
				res.firstError = firstErr
			}
		}()
	}
	wg.Wait()
	res.rps = float64(res.requests) / time.Since(start).Seconds()
	return res
}

// streamResult is one streaming phase.
type streamResult struct {
	n, ok                int
	ttfbP50, ttfbP99     time.Duration
	totalP50, totalP99   time.Duration
	eventsMin, eventsMax int
	peakRSSKiB           int64
	firstError           string
}

// oneStream reads a streamed chat completion: the time to the first SSE data
// event, the total time, and whether it ended with [DONE].
func oneStream(client *http.Client, t target, body []byte) (ttfb, total time.Duration, events int, err error) {
	req, err := newRequest(context.Background(), t, body, true)
	if err != nil {
		return 0, 0, 0, err
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return 0, 0, 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		if events == 0 {
			ttfb = time.Since(start)
		}
		if strings.TrimSpace(data) == "[DONE]" {
			total = time.Since(start)
			_, _ = io.Copy(io.Discard, resp.Body)
			return ttfb, total, events, nil
		}
		events++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, events, err
	}
	return 0, 0, events, fmt.Errorf("stream ended without [DONE] after %d events", events)
}

// streams runs warmup unmeasured streams, then n measured ones, c at a time.
func streams(t target, body []byte, n, c, warmup int, timeout time.Duration) streamResult {
	client := loadClient(timeout, c*2)
	defer client.CloseIdleConnections()
	type one struct {
		ttfb, total time.Duration
		events      int
		err         error
	}
	run := func(count int) []one {
		out := make([]one, count)
		next := make(chan int)
		var wg sync.WaitGroup
		for range max(1, c) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					o := &out[i]
					o.ttfb, o.total, o.events, o.err = oneStream(client, t, body)
				}
			}()
		}
		for i := range count {
			next <- i
		}
		close(next)
		wg.Wait()
		return out
	}
	run(warmup)
	res := streamResult{n: n, eventsMin: -1}
	var ttfb, total []time.Duration
	for _, o := range run(n) {
		if o.err != nil {
			if res.firstError == "" {
				res.firstError = o.err.Error()
			}
			continue
		}
		res.ok++
		ttfb, total = append(ttfb, o.ttfb), append(total, o.total)
		if res.eventsMin < 0 || o.events < res.eventsMin {
			res.eventsMin = o.events
		}
		res.eventsMax = max(res.eventsMax, o.events)
	}
	slices.Sort(ttfb)
	slices.Sort(total)
	res.ttfbP50, res.ttfbP99 = percentile(ttfb, .50), percentile(ttfb, .99)
	res.totalP50, res.totalP99 = percentile(total, .50), percentile(total, .99)
	return res
}
