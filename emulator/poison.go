package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
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
