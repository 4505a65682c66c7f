// Command bench is Mosaic's load harness. It starts, as separate processes
// on 127.0.0.1, a fake OpenAI upstream (test/fakeopenai, 20 chunks 5 ms
// apart when streaming, no added latency), a bare httputil.ReverseProxy
// ("minproxy", the floor for any Go proxy) and mosaic-proxy with every policy
// on (all sanitization detectors, a rate limit generous enough to refuse
// nothing, retries, metrics), and measures each the same way, interleaved in
// one run:
//
//   - fixed-rate open-loop load (500 and 2000 req/s by default) of ~1 KB
//     non-streaming chat completions: latency p50/p90/p99/max and the added
//     latency over the upstream reached directly;
//   - maximum throughput with 64 concurrent closed-loop clients;
//   - CPU seconds per request (utime+stime from /proc/PID/stat) and RSS
//     idle and peak (VmRSS from /proc/PID/status, sampled every 100 ms);
//   - streaming time to first byte (first SSE data event) over 300 streams,
//     8 at a time;
//   - mosaic-proxy's startup-to-ready time (process start to /readyz 200).
//
// It prints a markdown table. It is the project's own code but measures as
// ../shared/bench does, so figures compare. Run it from the module root:
//
//	go run ./test/bench                      # builds ./cmd/mosaic-proxy, ~2-3 minutes
//	go run ./test/bench -proxy-bin /path/to/mosaic-proxy -rounds 2
//	go run ./test/bench -targets direct,minproxy   # without mosaic-proxy
//
// The load generator shares the machine's cores with the processes it
// measures: compare ratios within one run, not absolute figures across runs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "upstream":
			os.Exit(runUpstream(os.Args[2:]))
		case "minproxy":
			os.Exit(runMinProxy(os.Args[2:]))
		}
	}
	os.Exit(runBench(os.Args[1:]))
}

// settings are the harness's flags.
type settings struct {
	proxyBin       string
	targets        []string
	rates          []int
	warmup         time.Duration
	duration       time.Duration
	timeout        time.Duration
	maxWorkers     int
	closedC        int
	closedDuration time.Duration
	streamN        int
	streamC        int
	streamWarmup   int
	chunks         int
	chunkDelay     time.Duration
	rounds         int
	startupRuns    int
	model          string
	logLevel       string
	scanResponses  bool
	keepDir        bool
}

// Target names.
const (
	targetDirect   = "direct"
	targetMinProxy = "minproxy"
	targetMosaic   = "mosaic-proxy"
)

// benchKeyEnv holds the upstream's API key in the child processes' environment.
const benchKeyEnv = "MOSAIC_BENCH_UPSTREAM_KEY"

func parseSettings(args []string) (settings, error) {
	var s settings
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&s.proxyBin, "proxy-bin", "", "mosaic-proxy binary (default: go build ./cmd/mosaic-proxy into a temporary directory)")
	targets := fs.String("targets", "direct,minproxy,mosaic-proxy", "targets to measure, in order: direct, minproxy, mosaic-proxy")
	rates := fs.String("rates", "500,2000", "fixed request rates (req/s), comma-separated")
	fs.DurationVar(&s.warmup, "warmup", 2*time.Second, "unmeasured load before each fixed-rate phase")
	fs.DurationVar(&s.duration, "duration", 8*time.Second, "measured duration of each fixed-rate phase")
	fs.DurationVar(&s.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.IntVar(&s.maxWorkers, "max-workers", 4000, "open-loop worker cap")
	fs.IntVar(&s.closedC, "closed-c", 64, "closed-loop (max throughput) concurrency; 0 skips the phase")
	fs.DurationVar(&s.closedDuration, "closed-duration", 8*time.Second, "closed-loop duration")
	fs.IntVar(&s.streamN, "stream-n", 300, "measured streams; 0 skips the phase")
	fs.IntVar(&s.streamC, "stream-c", 8, "concurrent streams")
	fs.IntVar(&s.streamWarmup, "stream-warmup", 20, "unmeasured streams first")
	fs.IntVar(&s.chunks, "chunks", 20, "upstream content chunks per reply")
	fs.DurationVar(&s.chunkDelay, "chunk-delay", 5*time.Millisecond, "upstream pause before each streamed chunk")
	fs.IntVar(&s.rounds, "rounds", 1, "times to repeat the whole interleaved set")
	fs.IntVar(&s.startupRuns, "startup-runs", 5, "mosaic-proxy starts timed to ready")
	fs.StringVar(&s.model, "model", "gpt-4o-mini", "model of every request")
	fs.StringVar(&s.logLevel, "proxy-log-level", "info", "mosaic-proxy --log-level (its log goes to a file)")
	fs.BoolVar(&s.scanResponses, "scan-responses", false, "also enable mosaic-proxy's response sanitization")
	fs.BoolVar(&s.keepDir, "keep", false, "keep the working directory (configs, process logs)")
	if err := fs.Parse(args); err != nil {
		return s, err
	}
	for _, t := range strings.Split(*targets, ",") {
		t = strings.TrimSpace(t)
		if t != targetDirect && t != targetMinProxy && t != targetMosaic {
			return s, fmt.Errorf("-targets: unknown target %q (want direct, minproxy, mosaic-proxy)", t)
		}
		s.targets = append(s.targets, t)
	}
	for _, r := range strings.Split(*rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			return s, fmt.Errorf("-rates: %q is not a positive integer", r)
		}
		s.rates = append(s.rates, n)
	}
	switch {
	case s.duration <= 0 || s.timeout <= 0:
		return s, errors.New("-duration and -timeout must be positive")
	case s.rounds < 1:
		return s, errors.New("-rounds must be at least 1")
	case s.streamN > 0 && s.streamC < 1:
		return s, errors.New("-stream-c must be at least 1")
	}
	return s, nil
}

func runBench(args []string) int {
	s, err := parseSettings(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, s); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// run holds one harness run's processes and results.
type run struct {
	s        settings
	dir      string
	self     string
	key      string
	upstream *process
	origin   string // upstream scheme://host:port
	procs    []*process
	targets  []target
	startup  []time.Duration
	results  []roundResult
}

// roundResult is everything measured for each target in one round.
type roundResult struct {
	idleRSSKiB map[string]int64
	rates      map[string][]rateResult
	closed     map[string]closedResult
	stream     map[string]streamResult
}

func bench(ctx context.Context, s settings) error {
	dir, err := os.MkdirTemp("", "mosaic-bench-")
	if err != nil {
		return err
	}
	if s.keepDir {
		fmt.Fprintln(os.Stderr, "working directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	r := &run{s: s, dir: dir, self: self, key: "sk-bench-upstream-" + strconv.FormatInt(time.Now().UnixNano(), 36)}
	defer r.stopAll()

	if slices.Contains(s.targets, targetMosaic) && s.proxyBin == "" {
		fmt.Fprintln(os.Stderr, "building ./cmd/mosaic-proxy ...")
		s.proxyBin = filepath.Join(dir, "mosaic-proxy")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", s.proxyBin, "github.com/mosaic-dev/mosaic/cmd/mosaic-proxy")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building mosaic-proxy: %w", err)
		}
		r.s.proxyBin = s.proxyBin
	}
	if err := r.startUpstream(); err != nil {
		return err
	}
	for _, name := range s.targets {
		t, err := r.startTarget(ctx, name)
		if err != nil {
			return err
		}
		if err := probe(ctx, t, s.model); err != nil {
			return fmt.Errorf("%s: probe: %w", name, err)
		}
		r.targets = append(r.targets, t)
	}
	if slices.Contains(s.targets, targetMosaic) && s.startupRuns > 0 {
		fmt.Fprintf(os.Stderr, "timing %d mosaic-proxy starts ...\n", s.startupRuns)
		for range s.startupRuns {
			d, err := r.timeStartup(ctx)
			if err != nil {
				return err
			}
			r.startup = append(r.startup, d)
		}
	}
	for round := range s.rounds {
		res, err := r.round(ctx, round)
		if err != nil {
			return err
		}
		r.results = append(r.results, res)
	}
	fmt.Print(r.report())
	return nil
}

func (r *run) stopAll() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		r.procs[i].stop()
	}
}

func (r *run) startUpstream() error {
	p, out, err := startProcess("upstream", r.dir, r.self, []string{"upstream",
		"-chunks", strconv.Itoa(r.s.chunks), "-chunk-delay", r.s.chunkDelay.String(), "-key-env", benchKeyEnv},
		[]string{benchKeyEnv + "=" + r.key}, true)
	if err != nil {
		return err
	}
	r.procs = append(r.procs, p)
	line, err := out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("upstream did not print its URL: %s", p.logTail())
	}
	r.upstream = p
	base := strings.TrimSpace(line)
	r.origin = strings.TrimSuffix(base, "/v1")
	return nil
}

// startTarget starts the process behind a target (none for direct) and
// waits until it serves.
func (r *run) startTarget(ctx context.Context, name string) (target, error) {
	switch name {
	case targetDirect:
		return target{name: name, base: r.origin + "/v1", auth: "Bearer " + r.key}, nil
	case targetMinProxy:
		addr, err := freeAddr()
		if err != nil {
			return target{}, err
		}
		p, _, err := startProcess("minproxy", r.dir, r.self, []string{"minproxy", "-listen", addr, "-upstream", r.origin}, nil, false)
		if err != nil {
			return target{}, err
		}
		r.procs = append(r.procs, p)
		t := target{name: name, base: "http://" + addr + "/v1", auth: "Bearer " + r.key, pid: p.pid()}
		// The upstream answers GET /v1/models; through minproxy that proves it serves.
		if _, err := p.waitHTTP(ctx, t.base+"/models", t.auth, 10*time.Second); err != nil {
			return target{}, err
		}
		return t, nil
	default:
		p, addr, _, err := r.startMosaic(ctx, "mosaic-proxy")
		if err != nil {
			return target{}, err
		}
		r.procs = append(r.procs, p)
		// The client sends a placeholder; mosaic-proxy must replace it with the real key.
		return target{name: name, base: "http://" + addr + "/v1", auth: "Bearer sk-placeholder", pid: p.pid()}, nil
	}
}

// mosaicConfig is a ProxyConfig with every policy on: all built-in detectors
// and a user pattern (Redact), a prompt size limit, a rate limit that
// refuses nothing at the harness's rates, retries, and (via the metrics
// listener) metrics.
func (r *run) mosaicConfig() string {
	return fmt.Sprintf(`apiVersion: proxy.llm.mosaic.dev/v1alpha1
kind: ProxyConfig
server: {streamIdleTimeout: 30s}
providers:
- name: upstream
  type: OpenAI
  endpoint: %s/v1
  apiKey: {env: %s}
  models: [{name: %s}, {name: bench-alias, target: %s}, {name: text-embedding-3-small}]
  timeout: 30s
  retry:
    maxAttempts: 3
    backoff: {initial: 50ms, max: 1s}
    retryOn: [RateLimited, ServerError, ConnectError, Timeout]
    budgetPercent: 20
  sanitization:
    maxPromptChars: 200000
    maxPromptTokens: 50000
    detectors: [CreditCard, USSSN, Email, PhoneNumber, SecretKey]
    patterns: [{name: ticket, regex: 'TKT-[0-9]{6}'}]
    action: Redact
    scanResponses: %t
rateLimits:
- name: bench/generous
  providers: [upstream]
  requestsPerMinute: 60000000
  tokensPerMinute: 100000000000
  tokensPerDay: 1000000000000
  maxConcurrentRequests: 100000
  onLimit: {action: Reject}
`, r.origin, benchKeyEnv, r.s.model, r.s.model, r.s.scanResponses)
}

// startMosaic starts one mosaic-proxy and waits for /readyz; it returns the
// process, its API address and the time from start to ready.
func (r *run) startMosaic(ctx context.Context, name string) (*process, string, time.Duration, error) {
	cfg := filepath.Join(r.dir, "proxy.yaml")
	if err := os.WriteFile(cfg, []byte(r.mosaicConfig()), 0o600); err != nil {
		return nil, "", 0, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, "", 0, err
	}
	maddr, err := freeAddr()
	if err != nil {
		return nil, "", 0, err
	}
	start := time.Now()
	p, _, err := startProcess(name, r.dir, r.s.proxyBin, []string{"--config", cfg, "--listen", addr, "--metrics-listen", maddr,
		"--log-level", r.s.logLevel}, []string{benchKeyEnv + "=" + r.key}, false)
	if err != nil {
		return nil, "", 0, err
	}
	ready, err := p.waitHTTP(ctx, "http://"+maddr+"/readyz", "", 10*time.Second)
	if err != nil {
		p.stop()
		return nil, "", 0, err
	}
	return p, addr, ready.Sub(start), nil
}

// timeStartup starts and stops a separate mosaic-proxy, returning its
// startup-to-ready time.
func (r *run) timeStartup(ctx context.Context) (time.Duration, error) {
	p, _, d, err := r.startMosaic(ctx, "mosaic-proxy-startup")
	if err != nil {
		return 0, err
	}
	p.stop()
	return d, nil
}

// probe sends one request and refuses to measure a target that does not answer 200.
func probe(ctx context.Context, t target, model string) error {
	h := do(ctx, loadClient(10*time.Second, 1), t, chatBody(model))
	if !h.ok {
		return errors.New(h.err)
	}
	return nil
}

// round measures every target once, phase by phase, targets interleaved
// within each phase.
func (r *run) round(ctx context.Context, n int) (roundResult, error) {
	res := roundResult{idleRSSKiB: map[string]int64{}, rates: map[string][]rateResult{}, closed: map[string]closedResult{}, stream: map[string]streamResult{}}
	body, sbody := chatBody(r.s.model), streamBody(r.s.model)
	for _, t := range r.targets {
		res.idleRSSKiB[t.name] = -1
		if t.pid != 0 {
			if v, err := rssKiB(t.pid); err == nil {
				res.idleRSSKiB[t.name] = v
			}
		}
	}
	for _, rate := range r.s.rates {
		for _, t := range r.targets {
			fmt.Fprintf(os.Stderr, "round %d: %s at %d req/s ...\n", n+1, t.name, rate)
			openLoop(ctx, t, body, rate, r.s.warmup, r.s.timeout, r.s.maxWorkers)
			u := startUsage(t.pid)
			hits, achieved := openLoop(ctx, t, body, rate, r.s.duration, r.s.timeout, r.s.maxWorkers)
			rr := summarizeRate(rate, hits, achieved)
			rr.cpuSeconds, rr.peakRSSKiB = u.stop()
			res.rates[t.name] = append(res.rates[t.name], rr)
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	if r.s.closedC > 0 {
		for _, t := range r.targets {
			fmt.Fprintf(os.Stderr, "round %d: %s closed loop c=%d ...\n", n+1, t.name, r.s.closedC)
			u := startUsage(t.pid)
			c := closedLoop(ctx, t, body, r.s.closedC, r.s.closedDuration, r.s.timeout)
			c.cpuSeconds, c.peakRSSKiB = u.stop()
			res.closed[t.name] = c
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	if r.s.streamN > 0 {
		for _, t := range r.targets {
			fmt.Fprintf(os.Stderr, "round %d: %s %d streams c=%d ...\n", n+1, t.name, r.s.streamN, r.s.streamC)
			u := startUsage(t.pid)
			st := streams(t, sbody, r.s.streamN, r.s.streamC, r.s.streamWarmup, r.s.timeout)
			_, st.peakRSSKiB = u.stop()
			res.stream[t.name] = st
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
	}
	return res, nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
