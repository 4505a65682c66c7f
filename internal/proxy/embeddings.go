package proxy

import (
	"crypto/sha256"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tidwall/gjson"
)

// embeddingsCache is an LRU cache of embedding vectors per input text, bounded by entries and
// bytes, with a TTL. Values are the raw JSON of an "embedding" field (a float array or a base64
// string), stored once and never modified. Keys are SHA-256 digests of provider, upstream
// model, dimensions, encoding format and the input's JSON text.
type embeddingsCache struct {
	mu         sync.Mutex
	entries    map[[32]byte]*cacheEntry
	head, tail *cacheEntry // head is the most recently used
	maxEntries int
	maxBytes   int64
	bytes      int64
	ttl        time.Duration
	now        func() time.Time
}

type cacheEntry struct {
	key        [32]byte
	value      []byte
	expires    time.Time
	prev, next *cacheEntry
}

func newEmbeddingsCache(maxEntries int, maxBytes int64, ttl time.Duration, now func() time.Time) *embeddingsCache {
	return &embeddingsCache{entries: map[[32]byte]*cacheEntry{}, maxEntries: maxEntries, maxBytes: maxBytes, ttl: ttl, now: now}
}

// resize applies new bounds, evicting what no longer fits.
func (c *embeddingsCache) resize(maxEntries int, maxBytes int64, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.maxEntries, c.maxBytes, c.ttl = maxEntries, maxBytes, ttl
	c.evict()
}

func (c *embeddingsCache) get(k [32]byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[k]
	if e == nil {
		return nil
	}
	if c.ttl > 0 && c.now().After(e.expires) {
		c.remove(e)
		return nil
	}
	c.unlink(e)
	c.pushFront(e)
	return e.value
}

func (c *embeddingsCache) put(k [32]byte, v []byte) {
	size := int64(len(v)) + 128
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxBytes > 0 && size > c.maxBytes {
		return
	}
	if old := c.entries[k]; old != nil {
		c.remove(old)
	}
	e := &cacheEntry{key: k, value: v, expires: c.now().Add(c.ttl)}
	c.entries[k] = e
	c.pushFront(e)
	c.bytes += size
	c.evict()
}

// len is the number of entries (for tests).
func (c *embeddingsCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *embeddingsCache) evict() {
	for c.tail != nil && (len(c.entries) > c.maxEntries || (c.maxBytes > 0 && c.bytes > c.maxBytes)) {
		c.remove(c.tail)
	}
}

func (c *embeddingsCache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.entries, e.key)
	c.bytes -= int64(len(e.value)) + 128
}

func (c *embeddingsCache) unlink(e *cacheEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else if c.head == e {
		c.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else if c.tail == e {
		c.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

func (c *embeddingsCache) pushFront(e *cacheEntry) {
	e.next = c.head
	if c.head != nil {
		c.head.prev = e
	}
	c.head = e
	if c.tail == nil {
		c.tail = e
	}
}

// embeddingsPlan is what the cache settled for one embeddings request.
type embeddingsPlan struct {
	keys [][32]byte
	// hits holds each input's cached embedding, nil for a miss.
	hits [][]byte
	// misses are the indices of the inputs sent upstream, in order.
	misses []int
	// body is the upstream body holding only the misses; nil when every input is a miss.
	body  []byte
	model string
}

func (p *embeddingsPlan) complete() bool { return len(p.misses) == 0 }

// planEmbeddings looks each input of x.out up in the cache. Token-array inputs are not cached
// (nil plan).
func (x *exchange) planEmbeddings(rt *route) *embeddingsPlan {
	f, err := scanRequest(x.out)
	if err != nil || !f.input.ok() {
		return nil
	}
	raw := x.out[f.input.start:f.input.end]
	var inputs []gjson.Result
	switch raw[0] {
	case '"':
		inputs = []gjson.Result{{Type: gjson.String, Raw: string(raw)}}
	case '[':
		arr := gjson.ParseBytes(raw)
		ok := true
		arr.ForEach(func(_, v gjson.Result) bool {
			if v.Type != gjson.String {
				ok = false
				return false
			}
			inputs = append(inputs, v)
			return true
		})
		if !ok || len(inputs) == 0 {
			return nil
		}
	default:
		return nil
	}
	format := f.encodingFormat
	if format == "" {
		format = "float"
	}
	dims := ""
	if f.dimensions.ok() {
		dims = string(x.out[f.dimensions.start:f.dimensions.end])
	}
	prefix := make([]byte, 0, 128)
	prefix = append(prefix, rt.up.name...)
	prefix = append(append(prefix, 0), rt.target...)
	prefix = append(append(prefix, 0), dims...)
	prefix = append(append(prefix, 0), format...)
	prefix = append(prefix, 0)
	p := &embeddingsPlan{keys: make([][32]byte, len(inputs)), hits: make([][]byte, len(inputs)), model: rt.target}
	buf := getScratch()
	for i, in := range inputs {
		buf = append(append(buf[:0], prefix...), in.Raw...)
		p.keys[i] = sha256.Sum256(buf)
		if v := x.rt.cache.get(p.keys[i]); v != nil {
			p.hits[i] = v
		} else {
			p.misses = append(p.misses, i)
		}
	}
	putScratch(buf)
	m := x.s.metrics.embeddingsCache
	m.WithLabelValues("hit").Add(float64(len(inputs) - len(p.misses)))
	m.WithLabelValues("miss").Add(float64(len(p.misses)))
	if len(p.misses) > 0 && len(p.misses) < len(inputs) {
		body := make([]byte, 0, len(x.out))
		body = append(body, x.out[:f.input.start]...)
		body = append(body, '[')
		for j, i := range p.misses {
			if j > 0 {
				body = append(body, ',')
			}
			body = append(body, inputs[i].Raw...)
		}
		body = append(body, ']')
		body = append(body, x.out[f.input.end:]...)
		p.body = body
		x.out = body
		// A smaller request: reserve for what is actually sent.
		x.estimated = x.estimated * int64(len(p.misses)) / int64(len(inputs))
	}
	return p
}

// finishEmbeddings caches the upstream's vectors and, when some inputs came from the cache,
// returns the merged answer with every input at its original index; ok is false when nothing
// was merged (no input came from the cache, or the upstream's list does not cover the misses). Usage is what the upstream
// reported: the tokens actually spent.
func (x *exchange) finishEmbeddings(body []byte) ([]byte, bool) {
	p := x.emb
	data := gjson.GetBytes(body, "data")
	if !data.IsArray() {
		return nil, false
	}
	complete := true
	data.ForEach(func(_, item gjson.Result) bool {
		idx := int(item.Get("index").Int())
		emb := item.Get("embedding")
		if idx < 0 || idx >= len(p.misses) || !emb.Exists() {
			complete = false
			return false
		}
		orig := p.misses[idx]
		v := []byte(emb.Raw)
		x.rt.cache.put(p.keys[orig], v)
		p.hits[orig] = v
		return true
	})
	if p.body == nil || !complete {
		return nil, false
	}
	for _, v := range p.hits {
		if v == nil { // the upstream answered fewer vectors than it was sent inputs
			return nil, false
		}
	}
	u := parseUsage(gjson.GetBytes(body, "usage"))
	model := gjson.GetBytes(body, "model").Str
	if model == "" {
		model = p.model
	}
	return assembleEmbeddings(p.hits, model, u), true
}

// assembleEmbeddings writes an OpenAI embeddings list.
func assembleEmbeddings(vectors [][]byte, model string, u usage) []byte {
	size := 96 + len(model)
	for _, v := range vectors {
		size += len(v) + 48
	}
	b := make([]byte, 0, size)
	b = append(b, `{"object":"list","data":[`...)
	for i, v := range vectors {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		b = append(b, v...)
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendJSONString(b, model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.prompt, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, u.total, 10)
	return append(b, "}}"...)
}

// respondEmbeddingsFromCache answers a request whose every input was cached, without the
// upstream and without rate-limit admission.
func (x *exchange) respondEmbeddingsFromCache() {
	body := assembleEmbeddings(x.emb.hits, x.emb.model, usage{})
	x.usage = usage{known: true}
	x.status = http.StatusOK
	x.commit()
	x.w.Header().Set("X-Mosaic-Cache", "hit")
	writeJSON(x.w, http.StatusOK, body)
}
