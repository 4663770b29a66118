package emulator

import (
	"bytes"
	"testing"
	"unsafe"
)

// within reports whether b lies inside buf's memory.
func within(b, buf []byte) bool {
	if len(b) == 0 {
		return true
	}
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= lo && p+uintptr(len(b)) <= lo+uintptr(len(buf))
}

// encodeShared gives the same bytes as encode and leaves the fields as
// slices of them, so an entry keeps its properties once; a later change
// encodes anew and leaves earlier encodings as they were.
func TestEncodeShared(t *testing.T) {
	t.Parallel()
	o := object{}
	o.set("@odata.type", "#microsoft.graph.message")
	o.set("id", "AAMk1")
	o.set("subject", "Grüße")
	o.set("body", map[string]string{"content": "x\r\ny"})
	want, wOff, wEnd := o.encode(nil, nil)
	got, off, end := o.encodeShared()
	if !bytes.Equal(got, want) || off != wOff || end != wEnd || string(got[off:end]) != `"AAMk1"` {
		t.Fatalf("encodeShared %s (id %d:%d), encode %s (id %d:%d)", got, off, end, want, wOff, wEnd)
	}
	for _, f := range o {
		if !within(f.v, got) {
			t.Errorf("field %s is not a slice of the encoding", f.k)
		}
	}
	first := string(got)
	o.set("subject", "changed")
	again, _, _ := o.encodeShared()
	if string(got) != first || !bytes.Contains(again, []byte(`"subject":"changed"`)) {
		t.Errorf("re-encoding changed the earlier encoding: %s / %s", got, again)
	}
	if cap(again) != len(again) {
		t.Errorf("encoding has spare capacity %d, which an append could write into", cap(again)-len(again))
	}
}

// Every stored message, generated or changed by mutations, holds its
// properties once: its fields are slices of its encoding.
func TestStoredMessagesShareTheirEncoding(t *testing.T) {
	t.Parallel()
	em, err := New(Config{Seed: 61, Users: 2, MessagesPerUser: 300})
	if err != nil {
		t.Fatal(err)
	}
	em.Mutate(200)
	em.mu.RLock()
	defer em.mu.RUnlock()
	n := 0
	for _, u := range em.users {
		for _, f := range u.mail.folderList() {
			for _, e := range f.msgs.live() {
				if e.raw != nil {
					continue
				}
				n++
				for _, fl := range e.obj {
					if !within(fl.v, e.full) {
						t.Fatalf("message %s: field %s is a copy, not a slice of the encoding", e.id, fl.k)
					}
				}
			}
		}
	}
	if n < 500 {
		t.Fatalf("checked %d messages", n)
	}
}
