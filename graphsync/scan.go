package graphsync

import (
	"bytes"
	"encoding/json"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/graphsync/graphsync/internal/jsonscan"
)

// A message is decoded for every record of a mail sync, the busiest path
// of an initial sync: scanMessage reads one in a single walk of its bytes,
// where encoding/json validates the whole object, then walks it again to
// decode it, through reflection. It follows encoding/json's rules for what
// Graph sends and gives up (ok false) on anything else — a key with
// escapes or matching a field only case-insensitively, a repeated field, a
// value of another type — so that decodeMessage falls back to encoding/json
// and its verdict. Its input is valid JSON, as a Page's items are.

// fields names a struct's JSON members: exact maps a name to its index;
// folded holds every name lower-cased, to find keys encoding/json would
// match case-insensitively.
type fields struct {
	exact  map[string]int
	folded map[string]bool
}

func newFields(names ...string) fields {
	f := fields{exact: map[string]int{}, folded: map[string]bool{}}
	for i, n := range names {
		f.exact[n] = i
		f.folded[string(lowerASCII(nil, []byte(n)))] = true
	}
	return f
}

// lowerASCII appends b lower-cased to dst.
func lowerASCII(dst, b []byte) []byte {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// object calls fn with the index and value of each member of the JSON
// object b that names one of f's fields; null values are left out, as
// encoding/json leaves the field as it was. Unknown keys are skipped.
func object(b []byte, f fields, fn func(i int, val []byte) bool) bool {
	var seen uint64
	return jsonscan.Members(b, func(key, val []byte) bool {
		if len(key) < 2 {
			return false
		}
		name := key[1 : len(key)-1]
		i, ok := f.exact[string(name)]
		if !ok {
			// Keys with escapes or beyond ASCII are compared by
			// encoding/json's own folding rules only.
			if bytes.IndexByte(name, '\\') >= 0 || !isASCII(name) {
				return false
			}
			var buf [64]byte
			return !f.folded[string(lowerASCII(buf[:0], name))]
		}
		if seen&(1<<i) != 0 {
			return false
		}
		seen |= 1 << i
		if string(val) == "null" {
			return true
		}
		return fn(i, val)
	})
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// str decodes a JSON string: a plain one is its bytes, one with escapes is
// unescaped here, and the rare rest (invalid UTF-8, which encoding/json
// replaces, or a surrogate escape) goes through encoding/json.
func str(val []byte) (string, bool) {
	if len(val) < 2 || val[0] != '"' {
		return "", false
	}
	in := val[1 : len(val)-1]
	if !utf8.Valid(in) {
		return slowStr(val)
	}
	i := bytes.IndexByte(in, '\\')
	if i < 0 {
		return string(in), true
	}
	out := make([]byte, 0, len(in))
	for i >= 0 {
		out = append(out, in[:i]...)
		if i+1 >= len(in) {
			return "", false
		}
		n := 2
		switch c := in[i+1]; c {
		case '"', '\\', '/':
			out = append(out, c)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := jsonscan.Hex4(in[i+2:])
			if !ok || utf16.IsSurrogate(r) {
				return slowStr(val)
			}
			out, n = utf8.AppendRune(out, r), 6
		default:
			return "", false
		}
		in = in[i+n:]
		i = bytes.IndexByte(in, '\\')
	}
	return string(append(out, in...)), true
}

func slowStr(val []byte) (string, bool) {
	var s string
	return s, json.Unmarshal(val, &s) == nil
}

func boolean(val []byte) (bool, bool) {
	switch string(val) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// timestamp decodes as encoding/json does, through time.Time's UnmarshalJSON.
func timestamp(val []byte, t *time.Time) bool {
	return len(val) > 0 && val[0] == '"' && t.UnmarshalJSON(val) == nil
}

// list decodes a JSON array with one per element: [] is an empty slice, not
// nil, and a null element is left zero, as encoding/json does.
func list[T any](val []byte, one func([]byte) (T, bool)) ([]T, bool) {
	out := []T{}
	ok := jsonscan.Elements(val, func(elem []byte) bool {
		var v T
		ok := true
		if string(elem) != "null" {
			v, ok = one(elem)
		}
		out = append(out, v)
		return ok
	})
	return out, ok
}

// pair decodes an object of two string fields, f's first and second.
func pair(val []byte, f fields) (first, second string, ok bool) {
	ok = object(val, f, func(i int, v []byte) bool {
		s, ok := str(v)
		if i == 0 {
			first = s
		} else {
			second = s
		}
		return ok
	})
	return first, second, ok
}

var (
	recipientFields = newFields("emailAddress")
	addressFields   = newFields("name", "address")
)

func recipient(val []byte) (Recipient, bool) {
	var r Recipient
	ok := object(val, recipientFields, func(_ int, v []byte) bool {
		var ok bool
		r.EmailAddress.Name, r.EmailAddress.Address, ok = pair(v, addressFields)
		return ok
	})
	return r, ok
}

var (
	flagFields     = newFields("flagStatus", "startDateTime", "dueDateTime", "completedDateTime")
	dateTimeFields = newFields("dateTime", "timeZone")
)

func followupFlag(val []byte) (*FollowupFlag, bool) {
	var f FollowupFlag
	ok := object(val, flagFields, func(i int, v []byte) bool {
		if i == 0 {
			s, ok := str(v)
			f.FlagStatus = s
			return ok
		}
		var d DateTimeTimeZone
		var ok bool
		d.DateTime, d.TimeZone, ok = pair(v, dateTimeFields)
		switch i {
		case 1:
			f.StartDateTime = &d
		case 2:
			f.DueDateTime = &d
		default:
			f.CompletedDateTime = &d
		}
		return ok
	})
	return &f, ok
}

// The members of Message, in the order of messageFields.
const (
	mID = iota
	mETag
	mChangeKey
	mCreated
	mLastModified
	mReceived
	mSent
	mSubject
	mBodyPreview
	mBody
	mUniqueBody
	mImportance
	mParentFolderID
	mConversationID
	mInternetMessageID
	mHasAttachments
	mIsRead
	mIsDraft
	mIsReadReceiptRequested
	mIsDeliveryReceiptRequested
	mInferenceClassification
	mWebLink
	mCategories
	mSender
	mFrom
	mToRecipients
	mCcRecipients
	mBccRecipients
	mReplyTo
	mFlag
)

var messageFields = newFields("id", "@odata.etag", "changeKey", "createdDateTime", "lastModifiedDateTime",
	"receivedDateTime", "sentDateTime", "subject", "bodyPreview", "body", "uniqueBody", "importance",
	"parentFolderId", "conversationId", "internetMessageId", "hasAttachments", "isRead", "isDraft",
	"isReadReceiptRequested", "isDeliveryReceiptRequested", "inferenceClassification", "webLink",
	"categories", "sender", "from", "toRecipients", "ccRecipients", "bccRecipients", "replyTo", "flag")

// scanMessage decodes raw as decodeMessage does (bodies' content type
// only), or reports that encoding/json must (see the top of this file).
func scanMessage(raw []byte) (Message, bool) {
	var m Message
	// Deeper nesting than encoding/json accepts, in members no field reads:
	// it refuses the record, and so must we.
	if jsonscan.TooDeep(raw) {
		return m, false
	}
	ok := object(raw, messageFields, func(i int, v []byte) bool {
		var ok bool
		switch i {
		case mCreated:
			return timestamp(v, &m.CreatedDateTime)
		case mLastModified:
			return timestamp(v, &m.LastModifiedDateTime)
		case mReceived:
			return timestamp(v, &m.ReceivedDateTime)
		case mSent:
			return timestamp(v, &m.SentDateTime)
		case mBody, mUniqueBody:
			ct, ok := contentType(v, nil)
			if ok && ct != nil {
				b := &ItemBody{ContentType: *ct}
				if i == mBody {
					m.Body = b
				} else {
					m.UniqueBody = b
				}
			}
			return ok
		case mHasAttachments:
			m.HasAttachments, ok = boolean(v)
		case mIsRead:
			m.IsRead, ok = boolean(v)
		case mIsDraft:
			m.IsDraft, ok = boolean(v)
		case mIsReadReceiptRequested:
			m.IsReadReceiptRequested, ok = boolean(v)
		case mIsDeliveryReceiptRequested:
			m.IsDeliveryReceiptRequested, ok = boolean(v)
		case mCategories:
			m.Categories, ok = list(v, str)
		case mSender, mFrom:
			var r Recipient
			r, ok = recipient(v)
			if i == mSender {
				m.Sender = &r
			} else {
				m.From = &r
			}
		case mToRecipients:
			m.ToRecipients, ok = list(v, recipient)
		case mCcRecipients:
			m.CcRecipients, ok = list(v, recipient)
		case mBccRecipients:
			m.BccRecipients, ok = list(v, recipient)
		case mReplyTo:
			m.ReplyTo, ok = list(v, recipient)
		case mFlag:
			m.Flag, ok = followupFlag(v)
		default:
			var s string
			s, ok = str(v)
			*m.text(i) = s
		}
		return ok
	})
	// A message without an id is an error, worded by decode.
	return m, ok && m.ID != ""
}

// text is the string field of m at index i of messageFields.
func (m *Message) text(i int) *string {
	switch i {
	case mID:
		return &m.ID
	case mETag:
		return &m.ETag
	case mChangeKey:
		return &m.ChangeKey
	case mSubject:
		return &m.Subject
	case mBodyPreview:
		return &m.BodyPreview
	case mImportance:
		return &m.Importance
	case mParentFolderID:
		return &m.ParentFolderID
	case mConversationID:
		return &m.ConversationID
	case mInternetMessageID:
		return &m.InternetMessageID
	case mInferenceClassification:
		return &m.InferenceClassification
	}
	return &m.WebLink
}

// containsAt reports whether b holds sep, searching for its byte at k, one
// rare in Graph's JSON: bytes.Contains searches for the first byte, and a
// quote or a lowercase letter comes every few bytes of a message's body.
func containsAt(b []byte, sep string, k int) bool {
	for i := k; i < len(b); i++ {
		j := bytes.IndexByte(b[i:], sep[k])
		if j < 0 {
			return false
		}
		i += j
		if start := i - k; start+len(sep) <= len(b) && string(b[start:start+len(sep)]) == sep {
			return true
		}
	}
	return false
}
