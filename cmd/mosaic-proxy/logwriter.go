package main

import (
	"io"
	"sync"
	"time"
)

// logWriter batches log lines into few write system calls: one access line per request would
// otherwise cost a system call per request. Lines are written at least every interval, when
// 64 KiB accumulate, and on Close; a line is never split.
type logWriter struct {
	mu   sync.Mutex
	out  io.Writer
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

const logWriterLimit = 64 << 10

func newLogWriter(out io.Writer, interval time.Duration) *logWriter {
	w := &logWriter{out: out, buf: make([]byte, 0, logWriterLimit), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.flush()
			case <-w.stop:
				w.flush()
				return
			}
		}
	}()
	return w
}

// Write buffers p (one log record from slog).
func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf)+len(p) > logWriterLimit {
		if err := w.flushLocked(); err != nil {
			return 0, err
		}
	}
	if len(p) > logWriterLimit {
		return w.out.Write(p)
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

func (w *logWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.flushLocked()
}

func (w *logWriter) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// Close writes what is buffered and stops the flusher.
func (w *logWriter) Close() error {
	close(w.stop)
	<-w.done
	return nil
}
