package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// report renders every round as a markdown table, one column per target,
// plus a mosaic-proxy / minproxy column when both were measured.
func (r *run) report() string {
	var b strings.Builder
	names := make([]string, 0, len(r.targets))
	for _, t := range r.targets {
		names = append(names, t.name)
	}
	compare := slices.Contains(names, targetMosaic) && slices.Contains(names, targetMinProxy)
	hasDirect := slices.Contains(names, targetDirect)
	for i, res := range r.results {
		fmt.Fprintf(&b, "\n### Round %d of %d\n\n", i+1, len(r.results))
		fmt.Fprintf(&b, "Upstream: fakeopenai, latency 0, %d chunks %v apart when streaming. Fixed rate: %v measured after %v warm-up, "+
			"~1 KB prompt, max_tokens 64. Closed loop: %d concurrent for %v. Streams: %d at %d concurrent. mosaic-proxy: all detectors (Redact), "+
			"prompt limits, rate limit (refuses nothing), retry, metrics; log level %s.\n\n",
			r.s.chunks, r.s.chunkDelay, r.s.duration, r.s.warmup, r.s.closedC, r.s.closedDuration, r.s.streamN, r.s.streamC, r.s.logLevel)
		head := "| |"
		sep := "|---|"
		for _, n := range names {
			head += " " + n + " |"
			sep += "---|"
		}
		if compare {
			head += " mosaic-proxy vs minproxy |"
			sep += "---|"
		}
		b.WriteString(head + "\n" + sep + "\n")
		row := func(label string, cell func(name string) string, cmp string) {
			b.WriteString("| " + label + " |")
			for _, n := range names {
				b.WriteString(" " + cell(n) + " |")
			}
			if compare {
				b.WriteString(" " + cmp + " |")
			}
			b.WriteString("\n")
		}
		for ri, rate := range r.s.rates {
			get := func(n string) rateResult { return res.rates[n][ri] }
			row(fmt.Sprintf("p50 / p99 at %d req/s", rate), func(n string) string {
				return fmt.Sprintf("%s / %s ms", ms(get(n).p50), ms(get(n).p99))
			}, "")
			if hasDirect {
				added := func(n string) (time.Duration, time.Duration) {
					return get(n).p50 - get(targetDirect).p50, get(n).p99 - get(targetDirect).p99
				}
				cmp := ""
				if compare {
					m50, m99 := added(targetMosaic)
					b50, b99 := added(targetMinProxy)
					cmp = ratio(m50, b50) + " / " + ratio(m99, b99)
				}
				row(fmt.Sprintf("added p50 / p99 at %d req/s", rate), func(n string) string {
					if n == targetDirect {
						return "–"
					}
					a50, a99 := added(n)
					return fmt.Sprintf("%s / %s ms", signedMs(a50), signedMs(a99))
				}, cmp)
			}
			row(fmt.Sprintf("success, achieved rate at %d req/s", rate), func(n string) string {
				g := get(n)
				return fmt.Sprintf("%.2f%%, %.0f/s", 100*float64(g.ok)/float64(max(1, g.sent)), g.achieved)
			}, "")
			cmp := ""
			if compare {
				cmp = ratioF(cpuPerRequest(get(targetMosaic).cpuSeconds, get(targetMosaic).sent), cpuPerRequest(get(targetMinProxy).cpuSeconds, get(targetMinProxy).sent))
			}
			row(fmt.Sprintf("CPU per request at %d req/s", rate), func(n string) string {
				return cpuCell(get(n).cpuSeconds, get(n).sent)
			}, cmp)
		}
		if r.s.closedC > 0 {
			cmp := ""
			if compare {
				cmp = ratioF(res.closed[targetMosaic].rps, res.closed[targetMinProxy].rps)
			}
			row(fmt.Sprintf("max throughput, %d concurrent", r.s.closedC), func(n string) string {
				c := res.closed[n]
				s := fmt.Sprintf("%.0f req/s", c.rps)
				if c.ok != c.requests {
					s += fmt.Sprintf(" (%d/%d ok)", c.ok, c.requests)
				}
				return s
			}, cmp)
			if compare {
				cmp = ratioF(cpuPerRequest(res.closed[targetMosaic].cpuSeconds, res.closed[targetMosaic].requests),
					cpuPerRequest(res.closed[targetMinProxy].cpuSeconds, res.closed[targetMinProxy].requests))
			}
			row(fmt.Sprintf("CPU per request, %d concurrent", r.s.closedC), func(n string) string {
				return cpuCell(res.closed[n].cpuSeconds, res.closed[n].requests)
			}, cmp)
		}
		peak := func(n string) int64 {
			p := int64(-1)
			for _, rr := range res.rates[n] {
				p = max(p, rr.peakRSSKiB)
			}
			if c, ok := res.closed[n]; ok {
				p = max(p, c.peakRSSKiB)
			}
			if s, ok := res.stream[n]; ok {
				p = max(p, s.peakRSSKiB)
			}
			return p
		}
		row("RSS idle / peak", func(n string) string {
			if res.idleRSSKiB[n] < 0 {
				return "–"
			}
			return fmt.Sprintf("%s / %s MiB", mib(res.idleRSSKiB[n]), mib(peak(n)))
		}, "")
		if r.s.streamN > 0 {
			st := func(n string) streamResult { return res.stream[n] }
			cmp := ""
			if compare {
				cmp = signedMs(st(targetMosaic).ttfbP50-st(targetMinProxy).ttfbP50) + " / " + signedMs(st(targetMosaic).ttfbP99-st(targetMinProxy).ttfbP99) + " ms"
			}
			row("streaming TTFB p50 / p99", func(n string) string {
				return fmt.Sprintf("%s / %s ms", ms(st(n).ttfbP50), ms(st(n).ttfbP99))
			}, cmp)
			row("streaming total p50 / p99", func(n string) string {
				return fmt.Sprintf("%s / %s ms", ms(st(n).totalP50), ms(st(n).totalP99))
			}, "")
			row("streams complete, data events", func(n string) string {
				return fmt.Sprintf("%d/%d, %d..%d", st(n).ok, st(n).n, st(n).eventsMin, st(n).eventsMax)
			}, "")
		}
		if len(r.startup) > 0 {
			sorted := slices.Clone(r.startup)
			slices.Sort(sorted)
			row(fmt.Sprintf("startup to ready, median / max of %d", len(sorted)), func(n string) string {
				if n != targetMosaic {
					return "–"
				}
				return fmt.Sprintf("%s / %s ms", ms(sorted[len(sorted)/2]), ms(sorted[len(sorted)-1]))
			}, "")
		}
		b.WriteString(r.errorNotes(res, names))
	}
	return b.String()
}

// errorNotes lists the failures of each phase below the table.
func (r *run) errorNotes(res roundResult, names []string) string {
	var b strings.Builder
	for _, n := range names {
		for _, rr := range res.rates[n] {
			if rr.ok < rr.sent {
				fmt.Fprintf(&b, "- %s at %d req/s: %d of %d failed; first: %s\n", n, rr.rate, rr.sent-rr.ok, rr.sent, rr.firstError)
			}
		}
		if c, ok := res.closed[n]; ok && c.ok < c.requests {
			fmt.Fprintf(&b, "- %s closed loop: %d of %d failed; first: %s\n", n, c.requests-c.ok, c.requests, c.firstError)
		}
		if s, ok := res.stream[n]; ok && s.ok < s.n {
			fmt.Fprintf(&b, "- %s streams: %d of %d failed; first: %s\n", n, s.n-s.ok, s.n, s.firstError)
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return "\nFailures:\n" + b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d.Microseconds())/1000) }

func signedMs(d time.Duration) string { return fmt.Sprintf("%+.2f", float64(d.Microseconds())/1000) }

func mib(kib int64) string { return fmt.Sprintf("%.1f", float64(kib)/1024) }

// cpuPerRequest is CPU milliseconds per request, or -1 when unmeasured.
func cpuPerRequest(cpuSeconds float64, requests int) float64 {
	if cpuSeconds < 0 || requests == 0 {
		return -1
	}
	return 1000 * cpuSeconds / float64(requests)
}

func cpuCell(cpuSeconds float64, requests int) string {
	v := cpuPerRequest(cpuSeconds, requests)
	if v < 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f ms", v)
}

// ratio is a/b for added latencies, "n/a" when the floor added nothing.
func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

func ratioF(a, b float64) string {
	if a < 0 || b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2fx", a/b)
}
