package sanitize

import "unicode/utf8"

// streamPatternWindow is how many bytes of output a StreamFilter holds back for user patterns.
const streamPatternWindow = 128

// emailLookback is how far before a scan position an e-mail match may start (its local part).
const emailLookback = 64

// StreamFilter redacts a completion streamed in deltas. A match may span deltas, so the filter
// holds back the shortest tail that could still become part of a match: while the text is ordinary
// words that is at most the current word (an e-mail's local part) or a few characters of a digit
// group; a candidate is held until it is decided, which takes a bounded number of bytes (about
// 1 KB at most, for a JSON Web Token header; a secret's key run, once recognised, is replaced at
// once and its continuation dropped as it arrives).
//
// For the built-in detectors the concatenation of everything Write and Flush return equals
// SanitizeText of the whole text, however it was split. User patterns see the output through a
// window of 128 bytes held back: a pattern match longer than that may be missed or cut.
//
// A Block match cannot refuse text already sent: it is redacted like Redact, and Err reports it so
// that the caller can end the stream. Deltas should be whole UTF-8 sequences; a split sequence is
// held back until complete.
type StreamFilter struct {
	s *Sanitizer
	// buf holds the original text from absolute offset base on.
	buf  []byte
	base int
	// pos is where scanning resumes, lastEnd the end of the last match, emitted the end of the
	// text already returned (absolute offsets).
	pos, lastEnd, emitted int
	// open is the class of a secret run that the last match goes on over.
	open uint16
	// pending is built-in-redacted output not yet run through the user patterns.
	pending []byte
	out     []byte
	hits    []Hit
	err     *BlockedError
}

// NewStreamFilter starts filtering one streamed completion.
func (s *Sanitizer) NewStreamFilter() *StreamFilter {
	return &StreamFilter{s: s}
}

// Write adds the next delta of the stream and returns the text that is now safe to send.
func (f *StreamFilter) Write(delta string) string {
	if f.s.on == 0 && f.s.patterns == nil {
		return delta
	}
	f.buf = append(f.buf, delta...)
	f.detect(false)
	return f.applyPatterns(false)
}

// Flush ends the stream and returns the rest of the text. The filter can then start a new stream.
func (f *StreamFilter) Flush() string {
	if f.s.on == 0 && f.s.patterns == nil {
		return ""
	}
	f.detect(true)
	out := f.applyPatterns(true)
	f.buf = f.buf[:0]
	f.base, f.pos, f.lastEnd, f.emitted, f.open = 0, 0, 0, 0, 0
	f.pending = f.pending[:0]
	return out
}

// Hits lists the matches so far.
func (f *StreamFilter) Hits() []Hit { return f.hits }

// Err returns a *BlockedError (Field "output") if a detector or pattern with the Block action
// matched, else nil.
func (f *StreamFilter) Err() error {
	if f.err == nil {
		return nil
	}
	return f.err
}

func (f *StreamFilter) redacted(r *rule) {
	addHit(&f.hits, r)
	if r.action == Block && f.err == nil {
		f.err = &BlockedError{Detector: r.name, Field: "output"}
	}
}

// detect runs the built-in detectors over the buffered text and appends what is decided to pending.
func (f *StreamFilter) detect(final bool) {
	b := f.buf
	base := f.base
	if f.open != 0 {
		k := f.pos - base
		for k < len(b) && class[b[k]]&f.open != 0 {
			k++
		}
		f.pos, f.lastEnd, f.emitted = base+k, base+k, base+k
		if k < len(b) || final {
			f.open = 0
		}
	}
	switch {
	case f.open != 0:
		// The secret run goes on to the end of the buffer: nothing to scan yet.
	case f.s.on != 0:
		for {
			m, v := f.s.next(b, f.pos-base, f.lastEnd-base, final)
			if v == vNone {
				f.pos = base + len(b)
				break
			}
			if v == vMore {
				f.pos = base + m.start
				break
			}
			r := &f.s.rules[m.det]
			f.redacted(r)
			f.pending = append(f.pending, b[f.emitted-base:m.start]...)
			f.pending = append(f.pending, r.tag...)
			f.pos, f.lastEnd, f.emitted = base+m.end, base+m.end, base+m.end
			if m.open != 0 {
				f.open = m.open
				break
			}
		}
	default:
		f.pos = base + len(b)
	}
	safe := f.pos - base
	if !final {
		if f.s.enabled(detEmail) {
			// A later '@' may take the local-part characters before pos.
			floor := max(f.lastEnd-base, safe-emailLookback)
			for safe > floor && class[b[safe-1]]&clLocal != 0 {
				safe--
			}
		}
		if safe == len(b) {
			safe = completeRunes(b, f.emitted-base, safe)
		}
	}
	if e := f.emitted - base; safe > e {
		f.pending = append(f.pending, b[e:safe]...)
		f.emitted = base + safe
	}
	// Keep the context the scanner looks back on (e-mail local part, digit boundary).
	keep := min(f.emitted-base, f.pos-base-emailLookback-2)
	if keep > 0 {
		n := copy(b, b[keep:])
		f.buf = b[:n]
		f.base += keep
	}
}

// completeRunes moves end back over an incomplete UTF-8 sequence at the end of b[from:end].
func completeRunes(b []byte, from, end int) int {
	for k := end - 1; k >= from && k >= end-utf8.UTFMax; k-- {
		if utf8.RuneStart(b[k]) {
			if !utf8.FullRune(b[k:end]) {
				return k
			}
			break
		}
	}
	return end
}

// applyPatterns runs the user patterns over pending and returns the text decided.
func (f *StreamFilter) applyPatterns(final bool) string {
	p := f.s.patterns
	if p == nil {
		out := string(f.pending)
		f.pending = f.pending[:0]
		return out
	}
	if !final && len(f.pending) <= streamPatternWindow {
		return ""
	}
	cut := len(f.pending)
	if !final {
		cut -= streamPatternWindow
		for cut > 0 && !utf8.RuneStart(f.pending[cut]) {
			cut--
		}
	}
	out := f.out[:0]
	last := 0
	if f.s.patternsMayMatch(f.pending) && p.Match(f.pending) {
		for _, loc := range p.FindAllSubmatchIndex(f.pending, -1) {
			if loc[0] >= cut {
				break
			}
			if loc[0] == loc[1] {
				continue
			}
			r := &f.s.rules[int(numDetectors)+f.s.whichPattern(loc)]
			f.redacted(r)
			out = append(out, f.pending[last:loc[0]]...)
			out = append(out, r.tag...)
			last = loc[1]
		}
	}
	end := max(cut, last)
	out = append(out, f.pending[last:end]...)
	n := copy(f.pending, f.pending[end:])
	f.pending = f.pending[:n]
	f.out = out
	return string(out)
}
