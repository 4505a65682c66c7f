package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mosaic-dev/mosaic/test/fakeopenai"
)

// runUpstream is the "upstream" subcommand: a fakeopenai server that prints
// its base URL on stdout and serves until it is signalled.
func runUpstream(args []string) int {
	fs := flag.NewFlagSet("upstream", flag.ContinueOnError)
	chunks := fs.Int("chunks", 20, "content chunks per reply (streamed and plain)")
	chunkDelay := fs.Duration("chunk-delay", 5*time.Millisecond, "pause before each streamed content chunk")
	keyEnv := fs.String("key-env", "", "environment variable holding the API key the upstream requires (empty: any)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	key := ""
	if *keyEnv != "" {
		key = os.Getenv(*keyEnv)
	}
	s := fakeopenai.New(fakeopenai.Options{APIKey: key, Chunks: *chunks, ChunkDelay: *chunkDelay, NoRecord: true})
	defer s.Close()
	fmt.Println(s.URL())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return 0
}
