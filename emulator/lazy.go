package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"time"
)

// lazyArchive is the folder Config.LazyMessages adds: its messages are
// produced from (seed, index) whenever they are served, never stored, so a
// mailbox of a million messages costs a few words of memory. Every lazy
// message is one record of the folder's change log at version ver, ahead of
// the log's stored records (which only InjectRaw can add: mutations leave
// the folder alone), so the folder's delta pages through them as it pages
// through stored records and later rounds see none of them.
type lazyArchive struct {
	em  *Emulator
	u   *userRec
	f   *folder
	n   int
	ver uint64
	// salt makes message i's hash mix64(salt+i): distinct for distinct i,
	// and invertible, so that an id leads back to its index.
	salt   uint64
	newest time.Time     // receivedDateTime of message 0, before the jitter
	step   time.Duration // between consecutive messages, newest first
	unread int
	size   int // sizeInBytes, estimated (see count)
}

const (
	lazyFolderName = "Imported archive"
	lazySpan       = 10 * 365 * 24 * time.Hour
	// lazySample is how many messages count sizes: a folder of at most
	// this many sums them all, a larger one scales up the sample's mean.
	lazySample = 2000
)

// genLazyArchive adds the lazy folder below Archive. It runs after the
// user's stored messages are generated, so that it changes none of them.
func (em *Emulator) genLazyArchive(u *userRec, ver uint64, anchor time.Time, n int) {
	f := em.addFolder(u, ver, lazyFolderName, u.mail.folder("archive").id, "")
	a := &lazyArchive{em: em, u: u, f: f, n: n, ver: ver, salt: em.hash64(u.id, "lazy archive"),
		// The stored messages cover the last year; the archive the ten before.
		newest: anchor.Add(-365 * 24 * time.Hour), step: max(lazySpan/time.Duration(n), time.Second)}
	a.count()
	u.mail.lazy = a
	f.msgs.lazy = a
}

// start seeds message i's generator and draws its receivedDateTime. Every
// other property comes from the same generator in messageObject.
func (a *lazyArchive) start(i int, pcg *rand.PCG) (r *rand.Rand, h uint64, received time.Time) {
	h = mix64(a.salt + uint64(i))
	pcg.Seed(h, a.salt)
	r = rand.New(pcg)
	received = a.newest.Add(-time.Duration(i) * a.step).Add(-time.Duration(r.IntN(3600)) * time.Second)
	return r, h, received
}

// count computes the folder's unread count (the first draw after the date)
// and estimates its size from up to lazySample messages spread over it.
func (a *lazyArchive) count() {
	var pcg rand.PCG
	for i := 0; i < a.n; i++ {
		r, _, _ := a.start(i, &pcg)
		if r.IntN(3) == 0 {
			a.unread++
		}
	}
	k := min(a.n, lazySample)
	total := 0
	var buf []byte
	for j := 0; j < k; j++ {
		buf = a.append(buf[:0], j*a.n/k, nil, false)
		total += len(buf)
	}
	if k > 0 {
		a.size = int(float64(total) / float64(k) * float64(a.n))
	}
}

// entry builds message i as an entry of the folder's log, with its
// default id in the object.
func (a *lazyArchive) entry(i int, pcg *rand.PCG) *entry {
	r, h, received := a.start(i, pcg)
	o, _ := a.em.messageObject(a.u, r, h, a.f, received)
	id, imm := outlookID("AAMkAG", h, 1), outlookID("AAkALg", h, 0)
	o.set("id", id)
	return &entry{key: imm, id: id, immID: imm, vers: []uint64{a.ver}, created: a.ver, obj: o}
}

// append encodes message i to dst with the properties keep allows (nil:
// all), with its immutable id when imm.
func (a *lazyArchive) append(dst []byte, i int, keep func(string) bool, imm bool) []byte {
	var pcg rand.PCG
	return encodeLazy(dst, a.entry(i, &pcg), keep, imm)
}

func encodeLazy(dst []byte, e *entry, keep func(string) bool, imm bool) []byte {
	if imm {
		e.obj.set("id", e.immID)
	}
	dst, _, _ = e.obj.encode(dst, keep)
	return dst
}

// page serves lazy records from position q.cursor, n items being on the
// page already: the part of collection.page before the stored log. It
// returns the position reached and whether the page filled up first.
func (a *lazyArchive) page(dst []byte, n int, q deltaQuery, keepSel func(string) bool) (out []byte, count, pos int, full bool) {
	if q.from >= a.ver || q.snap < a.ver {
		return dst, n, a.n, false
	}
	if q.keep == nil {
		// Every message counts: the page is a known range, generated on
		// all cores (a client waits for the page, so the cores are idle).
		lo := int(q.cursor)
		hi := min(a.n, lo+q.size-n)
		if n > 0 && hi > lo {
			dst = append(dst, ',')
		}
		dst = a.encodeRange(dst, lo, hi, keepSel, q.imm)
		n += hi - lo
		return dst, n, hi, n == q.size && hi < a.n
	}
	var pcg rand.PCG
	for i := int(q.cursor); i < a.n; i++ {
		if n == q.size {
			return dst, n, i, true
		}
		e := a.entry(i, &pcg)
		if q.keep != nil && !q.keep(e, q.from) {
			continue
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = encodeLazy(dst, e, keepSel, q.imm)
	}
	return dst, n, a.n, false
}

// encodeRange appends messages [lo, hi) to dst, comma separated, in
// chunks generated in parallel.
func (a *lazyArchive) encodeRange(dst []byte, lo, hi int, keep func(string) bool, imm bool) []byte {
	const minChunk = 64
	k := min(runtime.GOMAXPROCS(0), (hi-lo)/minChunk)
	if k <= 1 {
		return a.encodeChunk(dst, lo, hi, keep, imm)
	}
	bound := func(c int) int { return lo + (hi-lo)*c/k }
	chunks := make([][]byte, k)
	var wg sync.WaitGroup
	for c := 1; c < k; c++ {
		wg.Go(func() {
			chunks[c] = a.encodeChunk(make([]byte, 0, (bound(c+1)-bound(c))*12<<10), bound(c), bound(c+1), keep, imm)
		})
	}
	dst = a.encodeChunk(dst, lo, bound(1), keep, imm) // the first straight into dst
	wg.Wait()
	for _, b := range chunks[1:] {
		dst = append(dst, ',')
		dst = append(dst, b...)
	}
	return dst
}

func (a *lazyArchive) encodeChunk(dst []byte, lo, hi int, keep func(string) bool, imm bool) []byte {
	var pcg rand.PCG
	for i := lo; i < hi; i++ {
		if i > lo {
			dst = append(dst, ',')
		}
		dst = encodeLazy(dst, a.entry(i, &pcg), keep, imm)
	}
	return dst
}

// find returns the index of the message with default or immutable id id.
func (a *lazyArchive) find(id string) (int, bool) {
	for _, p := range []struct {
		prefix string
		extra  uint64
	}{{"AAMkAG", 1}, {"AAkALg", 0}} {
		rest, ok := strings.CutPrefix(id, p.prefix)
		if !ok {
			continue
		}
		b, err := base64.URLEncoding.DecodeString(rest)
		if err != nil || len(b) != 48 {
			continue
		}
		h := binary.LittleEndian.Uint64(b[12:])
		i := unmix64(h) - a.salt
		if i < uint64(a.n) && outlookID(p.prefix, h, p.extra) == id {
			return int(i), true
		}
	}
	return 0, false
}

// mix64 is SplitMix64's finalizer: a bijection on uint64 that scatters
// consecutive inputs.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// unmix64 inverts mix64.
func unmix64(x uint64) uint64 {
	x ^= x>>31 ^ x>>62
	x *= inverse64(0x94d049bb133111eb)
	x ^= x>>27 ^ x>>54
	x *= inverse64(0xbf58476d1ce4e5b9)
	x ^= x>>30 ^ x>>60
	return x
}

// inverse64 is the multiplicative inverse of odd a modulo 2^64 (Newton's
// iteration doubles the correct low bits from 3).
func inverse64(a uint64) uint64 {
	x := a
	for range 5 {
		x *= 2 - a*x
	}
	return x
}
