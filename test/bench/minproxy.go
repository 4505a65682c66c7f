package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

// runMinProxy is the "minproxy" subcommand: the floor any Go proxy is
// compared with, a bare httputil.ReverseProxy to one upstream that parses
// nothing.
func runMinProxy(args []string) int {
	fs := flag.NewFlagSet("minproxy", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:18001", "listen address")
	upstream := fs.String("upstream", "", "upstream origin, e.g. http://127.0.0.1:18000 (request paths are kept)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	target, err := url.Parse(*upstream)
	if err != nil || target.Host == "" {
		fmt.Fprintf(os.Stderr, "minproxy: --upstream %q is not an absolute URL\n", *upstream)
		return 2
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// The default two idle connections per host make a loaded proxy dial constantly.
	transport.MaxIdleConns, transport.MaxIdleConnsPerHost = 4096, 4096
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = target.Host
			if r.In.ContentLength > 0 {
				r.Out.Body = &lengthBoundBody{ReadCloser: r.In.Body, remaining: r.In.ContentLength}
			}
		},
		Transport:     transport,
		FlushInterval: -1,
	}
	srv := &http.Server{Addr: *listen, Handler: rp, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintf(os.Stderr, "minproxy: %v\n", err)
		return 1
	}
	return 0
}

// lengthBoundBody ends a request body with io.EOF once Content-Length bytes
// were read, so the Transport never makes the extra read that races with the
// server closing the inbound body when response headers go out; that race
// drops the upstream connection and cuts SSE streams (golang/go#40747).
type lengthBoundBody struct {
	io.ReadCloser
	remaining int64
}

func (b *lengthBoundBody) Read(p []byte) (int, error) {
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.ReadCloser.Read(p)
	b.remaining -= int64(n)
	if b.remaining <= 0 && err == nil {
		err = io.EOF
	}
	return n, err
}
