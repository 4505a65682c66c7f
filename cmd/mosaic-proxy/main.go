// Command mosaic-proxy is Mosaic's sidecar data plane: it listens on 127.0.0.1, speaks the
// OpenAI HTTP API to the application, adds the real provider key, and enforces the sanitization,
// rate-limit, retry and fallback policy of its ProxyConfig file (see internal/proxyconfig).
//
// Usage:
//
//	mosaic-proxy --config proxy.yaml [--listen 127.0.0.1:8787] [--metrics-listen 127.0.0.1:9090]
//	             [--log-level info] [--env-file .env] [--memory-limit auto]
//
// A configuration error at start exits with status 1 and a message naming the field. The
// configuration, the .env file and key files are reloaded when they change.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/mosaic-dev/mosaic/internal/provider"
	"github.com/mosaic-dev/mosaic/internal/proxy"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stderr))
}

// run is main without the exit, for tests: it returns the process exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	start := time.Now()
	fs := flag.NewFlagSet("mosaic-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "ProxyConfig file (required)")
	listen := fs.String("listen", "127.0.0.1:8787", "address of the OpenAI API listener")
	metricsListen := fs.String("metrics-listen", "127.0.0.1:9090", "address of the /metrics, /healthz and /readyz listener (\"\" disables it)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	envFile := fs.String("env-file", "", "a .env file of KEY=value lines for apiKey.env sources (default: ./.env when it exists)")
	shutdownGrace := fs.Duration("shutdown-grace", 30*time.Second, "how long in-flight requests may run after SIGTERM")
	memLimit := fs.String("memory-limit", "auto", "the Go runtime's soft memory limit: a size such as 48MiB, \"off\", or \"auto\" "+
		"(90% of the container's memory limit when it has one and GOMEMLIMIT is not set)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	limit, limitSource, setLimit, err := memoryLimit(*memLimit, os.Getenv("GOMEMLIMIT"), cgroupMemoryLimit())
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-proxy: %v\n", err)
		return 2
	}
	if setLimit {
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(limit))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "mosaic-proxy: --log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "mosaic-proxy: --config is required")
		return 2
	}
	logOut := newLogWriter(stderr, 200*time.Millisecond)
	defer logOut.Close()
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))

	reloader := &proxy.Reloader{ConfigPath: *configPath, EnvFile: *envFile, EnvRequired: *envFile != ""}
	if reloader.EnvFile == "" {
		reloader.EnvFile = ".env"
	}
	cfg, env, err := reloader.Load()
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-proxy: %v\n", err)
		return 1
	}
	srv, err := proxy.New(cfg, proxy.Options{Registry: provider.Default(), Logger: log, Env: env})
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-proxy: %s: %v\n", *configPath, err)
		return 1
	}
	reloader.Server = srv

	apiLn, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "mosaic-proxy: --listen: %v\n", err)
		return 1
	}
	if host, _, _ := net.SplitHostPort(*listen); host != "127.0.0.1" && host != "localhost" && host != "::1" {
		log.Warn("the API listener is not on loopback: anyone who can reach it can use the provider keys", slog.String("listen", *listen))
	}
	api := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	servers := []*http.Server{api}
	errc := make(chan error, 2)
	go func() { errc <- api.Serve(apiLn) }()
	if *metricsListen != "" {
		mln, err := net.Listen("tcp", *metricsListen)
		if err != nil {
			fmt.Fprintf(stderr, "mosaic-proxy: --metrics-listen: %v\n", err)
			return 1
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", srv.Metrics().Handler())
		mux.Handle("/healthz", srv)
		mux.Handle("/readyz", srv)
		ms := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, ms)
		go func() { errc <- ms.Serve(mln) }()
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		if err := reloader.Run(ctx); err != nil {
			log.Error("configuration watch stopped; changes are no longer reloaded", slog.String("error", err.Error()))
		}
	}()
	log.Info("mosaic-proxy ready", slog.String("listen", apiLn.Addr().String()), slog.String("metrics_listen", *metricsListen),
		slog.String("config", *configPath), slog.Int("providers", len(cfg.Providers)),
		slog.Int64("memory_limit_bytes", debug.SetMemoryLimit(-1)), slog.String("memory_limit_source", limitSource),
		slog.Float64("startup_ms", float64(time.Since(start).Microseconds())/1000))

	status := 0
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("listener failed", slog.String("error", err.Error()))
			status = 1
		}
	}
	srv.SetReady(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownGrace)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(shutdownCtx); err != nil && !strings.Contains(err.Error(), "closed") {
			log.Warn("shutdown did not finish in time", slog.String("error", err.Error()))
		}
	}
	log.Info("mosaic-proxy stopped")
	return status
}
