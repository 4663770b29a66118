package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// maxInjectBytes bounds an item posted to the control plane.
const maxInjectBytes = 64 << 20

// InjectRaw adds an item to a mail folder exactly as given — invalid UTF-8,
// NUL bytes, wrong types, no id, any size or depth — so that tests can check
// what a client does with records Graph should never send. The item is
// served verbatim in the folder's messages delta (ignoring $select and
// partial updates) until the folder is deleted; mutations never touch it.
// folderID may be a well-known name such as "inbox". The item is in the
// ground truth when it is a valid JSON object with a non-empty string id,
// that is, when a client can store it.
func (em *Emulator) InjectRaw(userID, folderID string, item []byte) error {
	if len(item) == 0 {
		return errors.New("empty item")
	}
	em.mu.Lock()
	defer em.mu.Unlock()
	u := em.lookupUser(userID)
	if u == nil {
		return fmt.Errorf("user %q not found", userID)
	}
	f := u.mail.folder(folderID)
	if f == nil {
		return fmt.Errorf("mail folder %q of user %q not found", folderID, userID)
	}
	id, _ := rawID(item)
	ver := em.nextVersion()
	key := "injected#" + strconv.FormatUint(ver, 10)
	f.msgs.add(ver, &entry{key: key, id: id, raw: bytes.Clone(item)})
	return nil
}

// rawID reads a string id from an item, if it has one.
func rawID(item []byte) (string, bool) {
	var head struct {
		ID *string `json:"id"`
	}
	if json.Unmarshal(item, &head) != nil || head.ID == nil || *head.ID == "" {
		return "", false
	}
	return *head.ID, true
}

// rawTruth is an injected item as the ground truth holds it: only storable
// items are there, normalised to valid JSON.
func rawTruth(item []byte) (json.RawMessage, bool) {
	if _, ok := rawID(item); !ok {
		return nil, false
	}
	var v map[string]any
	if json.Unmarshal(item, &v) != nil {
		return nil, false
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	return b, true
}

// Bounds for InjectLargeMessages: enough for a page of 100 over 64 MiB, or
// one item over 64 MiB, without letting a typo exhaust memory.
const (
	maxLargeBody  = 256 << 20
	maxLargeTotal = 1 << 30
	maxLargeCount = 10000
)

// InjectControlCharMessage adds to a mail folder a message like the
// generated ones whose subject holds a raw, unescaped U+0001. JSON forbids
// unescaped control characters in strings, so every messages delta page
// serving it is invalid JSON as a whole; `Prefer: odata.maxpagesize=1`
// isolates it on a page of its own. It is served like InjectRaw's items
// (appended to the folder's change log, never mutated) and is not in the
// ground truth, since no client can store it. It returns the message id.
func (em *Emulator) InjectControlCharMessage(userID, folderID string) (string, error) {
	ids, err := em.injectMessages(userID, folderID, 1, 0, func(b []byte) []byte {
		return bytes.Replace(b, []byte(ctrlMark), []byte("\x01"), 1)
	})
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

const ctrlMark = "CONTROL-CHARACTER-HERE"

// InjectLargeMessages adds n messages like the generated ones, each with a
// text body of exactly bodyBytes bytes, to a mail folder: with bodyBytes of
// 700,000 a page of 100 is over 64 MiB, and one message of 65 MiB is over
// 64 MiB on its own. They are stored once, as encoded JSON, and served
// like InjectRaw's items (appended to the change log, never mutated; in the
// ground truth). It returns their ids in log order.
func (em *Emulator) InjectLargeMessages(userID, folderID string, n, bodyBytes int) ([]string, error) {
	switch {
	case n < 1 || n > maxLargeCount:
		return nil, fmt.Errorf("inject large messages: n %d is not between 1 and %d", n, maxLargeCount)
	case bodyBytes < 1 || bodyBytes > maxLargeBody:
		return nil, fmt.Errorf("inject large messages: body size %d is not between 1 and %d bytes", bodyBytes, maxLargeBody)
	case int64(n)*int64(bodyBytes) > maxLargeTotal:
		return nil, fmt.Errorf("inject large messages: %d × %d bytes is over %d bytes in all", n, bodyBytes, maxLargeTotal)
	}
	return em.injectMessages(userID, folderID, n, bodyBytes, nil)
}

// injectMessages builds n messages with the generator's code, gives them a
// body of bodyBytes (0 keeps the generated one), lets spoil damage the
// encoding, and appends them to the folder as raw items.
func (em *Emulator) injectMessages(userID, folderID string, n, bodyBytes int, spoil func([]byte) []byte) ([]string, error) {
	em.mu.Lock()
	defer em.mu.Unlock()
	u := em.lookupUser(userID)
	if u == nil {
		return nil, fmt.Errorf("user %q not found", userID)
	}
	f := u.mail.folder(folderID)
	if f == nil {
		return nil, fmt.Errorf("mail folder %q of user %q not found", folderID, userID)
	}
	var text string
	if bodyBytes > 0 {
		text = proseOfSize(rand.New(rand.NewPCG(uint64(em.cfg.Seed), 0x1a46e)), bodyBytes)
	}
	ver := em.nextVersion()
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		key := "injected#" + strconv.FormatUint(ver, 10) + "#" + strconv.Itoa(i)
		h := em.hash64(u.id, key)
		o, _ := em.messageObject(u, rand.New(rand.NewPCG(h, 0x1a46e)), h, f, em.now())
		id := outlookID("AAMkAG", h, 1)
		o.set("id", id)
		if bodyBytes > 0 {
			// text needs no escaping (see proseOfSize): spare encoding
			// hundreds of megabytes.
			for i := range o {
				if o[i].k == "body" {
					o[i].v = []byte(`{"contentType":"text","content":"` + text + `"}`)
				}
			}
			o.set("bodyPreview", text[:min(len(text), 255)])
		}
		if spoil != nil {
			o.set("subject", "Invoice "+ctrlMark+" attached")
		}
		b, _, _ := o.encode(nil, nil)
		if spoil != nil {
			b = spoil(b)
		}
		f.msgs.add(ver, &entry{key: key, id: id, raw: b})
		ids = append(ids, id)
	}
	return ids, nil
}

// proseOfSize is exactly size bytes of prose: a generated paragraph
// repeated, since generating hundreds of megabytes word by word is slow.
// It is printable ASCII without the characters JSON encoders escape, so it
// can be cut anywhere and written into JSON as it is.
func proseOfSize(r *rand.Rand, size int) string {
	para := []byte(bodyText(r, min(size, 64<<10)))
	for i, c := range para {
		if c < 0x20 || c >= 0x7f || strings.IndexByte(`"\<>&`, c) >= 0 {
			para[i] = ' '
		}
	}
	var sb strings.Builder
	sb.Grow(size)
	for sb.Len() < size {
		sb.Write(para[:min(len(para), size-sb.Len())])
	}
	return sb.String()
}
