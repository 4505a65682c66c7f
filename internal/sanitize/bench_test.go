package sanitize

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// benchTurns are realistic chat turns: prose with numbers, dates, versions, prices, URLs and code,
// and none of the detected formats.
var benchTurns = []string{
	"You are a helpful support assistant for Acme Cloud. Answer concisely, cite the docs at https://docs.acme.example/api/v2 when relevant, and never promise refunds over $1,299.99 without a ticket.",
	"Hi! Since the upgrade to version 1.24.3 on 2024-03-15 our nightly export job fails after about 45 minutes with \"context deadline exceeded\". We run 3 replicas with 2 GiB each. Order #48213, account tier Gold. Can you help?",
	"Sure. That error usually means the export request timed out on the client side. Could you share the job configuration? In particular the values of `timeoutSeconds`, `batchSize` and `parallelism`, and roughly how many rows (e.g. 12,500,000) the table holds.",
	"Here it is:\n```yaml\nexport:\n  timeoutSeconds: 2700\n  batchSize: 50000\n  parallelism: 8\n  destination: s3://acme-exports/nightly/\n```\nThe table has about 38.2 million rows and grows by 1.5% per week. It worked fine on 1.23.9 until March 14th.",
	"Thanks. In 1.24 the default page size changed from 10000 to 2000 rows, so with 38.2M rows the job now makes 19,100 requests instead of 3,820. At roughly 140 ms each that is about 44.6 minutes, just under your 45 minute timeout. Set `pageSize: 10000` or raise `timeoutSeconds` to 5400.",
	"That makes sense, the numbers match. If we move to pageSize 10000, will memory use per replica go up? We are at 71% of the 2 GiB limit during peak hours (09:00-11:30 UTC).",
	"A little: each page is held in memory while it is written, so expect about 4-5 times the per-page memory, roughly 180 MB more per replica at 10000 rows of 3.6 KB average. You would be near 80%; consider 3 GiB or parallelism 6 to keep headroom.",
	"Great, we'll try parallelism 6 with pageSize 10000 tonight and report back tomorrow. One more thing: the release notes mention a new `--resume` flag in 1.24.2; does it work with S3 multipart uploads larger than 5 TB?",
}

// benchSecrets are detected values mixed into the "matches" prompts.
var benchSecrets = []string{
	"My card is 4111 1111 1111 1111 and the backup card 5500-0000-0000-0004.",
	"Reach me at jane.doe@example.com or call (555) 123-4567.",
	"The service key is sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z and my SSN is 123-45-6789.",
}

// benchBody builds a chat completions body of about size bytes.
func benchBody(size int, withMatches bool) []byte {
	type msg struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	req := struct {
		Model       string  `json:"model"`
		Messages    []msg   `json:"messages"`
		Temperature float64 `json:"temperature"`
		Stream      bool    `json:"stream"`
	}{Model: "gpt-4o-mini", Temperature: 0.2, Stream: true}
	for i := 0; ; i++ {
		role := "user"
		switch {
		case i == 0:
			role = "system"
		case i%2 == 0:
			role = "assistant"
		}
		content := benchTurns[i%len(benchTurns)]
		if withMatches && i%3 == 1 {
			content += " " + benchSecrets[(i/3)%len(benchSecrets)]
		}
		req.Messages = append(req.Messages, msg{Role: role, Content: content})
		b, err := json.Marshal(req)
		if err != nil {
			panic(err)
		}
		if len(b) >= size {
			return b
		}
	}
}

func benchSanitizer(b *testing.B, patterns ...Pattern) *Sanitizer {
	s, err := New(Policy{
		Detectors: []Detector{CreditCard, USSSN, Email, PhoneNumber, SecretKey},
		Patterns:  patterns,
	})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// reportBest adds the throughput of the fastest iteration as best-MB/s. On a machine shared with
// other jobs (CI, or several builds on two cores) the mean MB/s mostly measures the contention; the
// fastest of many iterations is what the code does when it has a core.
func reportBest(b *testing.B, size int, best time.Duration) {
	if best > 0 && best < time.Duration(math.MaxInt64) {
		b.ReportMetric(float64(size)/best.Seconds()/1e6, "best-MB/s")
	}
}

// BenchmarkSanitizeRequest measures a realistic chat request of about 2 KB and 32 KB with every
// built-in detector on, with nothing to redact and with a few matches.
func BenchmarkSanitizeRequest(b *testing.B) {
	for _, size := range []int{2 << 10, 32 << 10} {
		for _, withMatches := range []bool{false, true} {
			name := fmt.Sprintf("%dKB/no-match", size>>10)
			if withMatches {
				name = fmt.Sprintf("%dKB/matches", size>>10)
			}
			b.Run(name, func(b *testing.B) {
				s := benchSanitizer(b)
				body := benchBody(size, withMatches)
				_, res, err := s.SanitizeRequest(OperationChatCompletions, body)
				if err != nil {
					b.Fatal(err)
				}
				if got := len(res.Hits) > 0; got != withMatches {
					b.Fatalf("hits %v, want matches %v", res.Hits, withMatches)
				}
				b.SetBytes(int64(len(body)))
				b.ReportAllocs()
				b.ResetTimer()
				best := time.Duration(math.MaxInt64)
				for b.Loop() {
					start := time.Now()
					if _, _, err := s.SanitizeRequest(OperationChatCompletions, body); err != nil {
						b.Fatal(err)
					}
					best = min(best, time.Since(start))
				}
				reportBest(b, len(body), best)
			})
		}
	}
}

// BenchmarkSanitizeRequestPatterns adds two user patterns, which run on Go's regexp engine.
func BenchmarkSanitizeRequestPatterns(b *testing.B) {
	s := benchSanitizer(b,
		Pattern{Name: "employeeId", Regex: `\bEMP-\d{6}\b`},
		Pattern{Name: "projectCodename", Regex: `(?i)\bproject (?:falcon|osprey)\b`})
	body := benchBody(32<<10, false)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	best := time.Duration(math.MaxInt64)
	for b.Loop() {
		start := time.Now()
		if _, _, err := s.SanitizeRequest(OperationChatCompletions, body); err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(start))
	}
	reportBest(b, len(body), best)
}

func BenchmarkSanitizeText(b *testing.B) {
	s := benchSanitizer(b)
	text := strings.Repeat(strings.Join(benchTurns, "\n\n"), 16)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	best := time.Duration(math.MaxInt64)
	for b.Loop() {
		start := time.Now()
		if _, _, err := s.SanitizeText(text); err != nil {
			b.Fatal(err)
		}
		best = min(best, time.Since(start))
	}
	reportBest(b, len(text), best)
}

func BenchmarkStreamFilter(b *testing.B) {
	s := benchSanitizer(b)
	text := strings.Join(benchTurns, "\n\n") + " " + strings.Join(benchSecrets, " ")
	// Deltas of about 4 bytes, as an LLM streams tokens.
	var deltas []string
	for i := 0; i < len(text); i += 4 {
		deltas = append(deltas, text[i:min(i+4, len(text))])
	}
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	best := time.Duration(math.MaxInt64)
	for b.Loop() {
		start := time.Now()
		f := s.NewStreamFilter()
		for _, d := range deltas {
			f.Write(d)
		}
		f.Flush()
		best = min(best, time.Since(start))
	}
	reportBest(b, len(text), best)
}
