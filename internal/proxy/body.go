package proxy

import (
	"bytes"
	"io"
	"sync"
	"sync/atomic"
)

// bodyBuffer is a pooled byte buffer shared by the handler and the transport, which may still
// read a request body after RoundTrip returned: it goes back to the pool when the last holder
// releases it.
type bodyBuffer struct {
	b    []byte
	refs atomic.Int32
}

// maxPooledBuffer keeps unusually large buffers out of the pool.
const maxPooledBuffer = 1 << 20

var bodyPool = sync.Pool{New: func() any { return &bodyBuffer{b: make([]byte, 0, 8<<10)} }}

// getBuffer returns a buffer with capacity for at least n bytes, held once.
func getBuffer(n int) *bodyBuffer {
	bb := bodyPool.Get().(*bodyBuffer)
	if cap(bb.b) < n {
		bb.b = make([]byte, 0, n)
	}
	bb.b = bb.b[:0]
	bb.refs.Store(1)
	return bb
}

func (bb *bodyBuffer) hold() { bb.refs.Add(1) }

func (bb *bodyBuffer) release() {
	if bb == nil || bb.refs.Add(-1) != 0 {
		return
	}
	if cap(bb.b) <= maxPooledBuffer {
		bodyPool.Put(bb)
	}
}

// readAll appends r to bb until EOF or limit bytes (reading one more byte to detect an overrun).
// It reports whether the limit was exceeded.
func (bb *bodyBuffer) readAll(r io.Reader, limit int64) (over bool, err error) {
	for {
		if len(bb.b) == cap(bb.b) {
			if int64(len(bb.b)) > limit {
				return true, nil
			}
			bb.b = append(bb.b, 0)[:len(bb.b)]
		}
		n, err := r.Read(bb.b[len(bb.b):cap(bb.b)])
		bb.b = bb.b[:len(bb.b)+n]
		if int64(len(bb.b)) > limit {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// requestBody is one attempt's upstream request body: a reader over a (possibly pooled) byte
// slice that releases its hold on the buffer when the transport closes it.
type requestBody struct {
	bytes.Reader
	owner  *bodyBuffer
	closed atomic.Bool
}

func newRequestBody(b []byte, owner *bodyBuffer) *requestBody {
	rb := &requestBody{owner: owner}
	rb.Reset(b)
	if owner != nil {
		owner.hold()
	}
	return rb
}

// Close releases the body's hold on its buffer; the transport calls it once it is done.
func (rb *requestBody) Close() error {
	if rb.closed.CompareAndSwap(false, true) && rb.owner != nil {
		rb.owner.release()
	}
	return nil
}
