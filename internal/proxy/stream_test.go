package proxy

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestSSEReader(t *testing.T) {
	tests := map[string]struct {
		// in is the stream; want its events as next returns them.
		in   string
		want []string
	}{
		"LF events": {
			in:   "data: {\"a\":1}\n\ndata: [DONE]\n\n",
			want: []string{"data: {\"a\":1}\n\n", "data: [DONE]\n\n"},
		},
		"CRLF, named event, comment": {
			in:   ": keep-alive\r\n\r\nevent: response.completed\r\ndata: {}\r\n\r\n",
			want: []string{": keep-alive\r\n\r\n", "event: response.completed\r\ndata: {}\r\n\r\n"},
		},
		"unterminated tail is returned with EOF": {
			in:   "data: x\n\ndata: partial",
			want: []string{"data: x\n\n", "data: partial"},
		},
		"a line longer than the read buffer": {
			in:   "data: " + strings.Repeat("y", 100) + "\n\n",
			want: []string{"data: " + strings.Repeat("y", 100) + "\n\n"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := sseReader{r: bufio.NewReaderSize(strings.NewReader(tc.in), 16)}
			var got []string
			for {
				ev, err := r.next()
				if len(ev) > 0 {
					got = append(got, string(ev))
				}
				if err != nil {
					break
				}
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("events:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestInspectEvent(t *testing.T) {
	tests := map[string]struct {
		// event is one raw SSE event; op the operation; strip whether the proxy injected include_usage.
		event string
		op    operation
		strip bool
		// want is the verdict; wantTotal the usage total read (0 = none).
		want      streamEventKind
		wantTotal int64
	}{
		"content chunk": {
			event: `data: {"choices":[{"index":0,"delta":{"content":"hi"}}],"usage":null}` + "\n\n", op: opChat, strip: true,
			want: eventForward,
		},
		"injected usage chunk is hidden": {
			event: `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}` + "\n\n", op: opChat, strip: true,
			want: eventUsageOnly, wantTotal: 8,
		},
		"usage chunk the client asked for is kept": {
			event: `data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}` + "\n\n", op: opChat, strip: false,
			want: eventForward, wantTotal: 8,
		},
		"usage on a content chunk (some servers) is kept": {
			event: `data: {"choices":[{"index":0,"delta":{"content":"x"}}], "usage": {"prompt_tokens":1,"completion_tokens":1}}` + "\n\n", op: opChat, strip: true,
			want: eventForward, wantTotal: 2,
		},
		"responses completed event": {
			event: "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":4,\"output_tokens\":6,\"total_tokens\":10}}}\n\n", op: opResponses,
			want: eventForward, wantTotal: 10,
		},
		"done": {
			event: "data: [DONE]\n\n", op: opChat, want: eventDone,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var u usage
			if got := inspectEvent([]byte(tc.event), nil, tc.op, tc.strip, &u); got != tc.want {
				t.Errorf("kind %d, want %d", got, tc.want)
			}
			if u.total != tc.wantTotal {
				t.Errorf("usage total %d, want %d", u.total, tc.wantTotal)
			}
		})
	}
}

// FuzzSSEReader feeds arbitrary streams through the SSE reader and the event inspection: the
// events concatenate back to the input exactly (the proxy forwards bytes unchanged), and
// nothing panics. The seed corpus is in testdata/fuzz/FuzzSSEReader.
func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\ndata: [DONE]\n\n"), uint8(0))
	f.Add([]byte("event: response.completed\r\ndata: {\"response\":{\"usage\":{\"input_tokens\":1}}}\r\n\r\n"), uint8(3))
	f.Add([]byte(":\n\ndata\ndata:\ndata: x\n\n\n\ndata: \"usage\""), uint8(1))
	f.Fuzz(func(t *testing.T, stream []byte, opByte uint8) {
		op := operation(opByte % uint8(numOperations))
		r := sseReader{r: bufio.NewReaderSize(bytes.NewReader(stream), 16)}
		var joined []byte
		var u usage
		for i := 0; ; i++ {
			ev, err := r.next()
			joined = append(joined, ev...)
			if len(ev) > 0 {
				inspectEvent(ev, nil, op, i%2 == 0, &u)
				sseData(ev, nil)
			}
			if err != nil {
				if err != io.EOF {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
		}
		if !bytes.Equal(joined, stream) {
			t.Fatalf("events do not concatenate back to the stream:\n in %q\nout %q", stream, joined)
		}
	})
}
