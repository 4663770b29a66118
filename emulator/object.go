package emulator

import (
	"encoding/json"
	"strings"
)

// field is one property of a Graph object with its value already encoded,
// so that serving, $select and partial updates are byte concatenation.
type field struct {
	k string
	v []byte
}

// object is a Graph entity as an ordered list of encoded properties. Order
// matters only for readability: @odata annotations first, then id.
type object []field

func raw(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("emulator: encode property: " + err.Error())
	}
	return b
}

// set replaces or appends property k.
func (o *object) set(k string, v any) {
	b := raw(v)
	for i := range *o {
		if (*o)[i].k == k {
			(*o)[i].v = b
			return
		}
	}
	*o = append(*o, field{k, b})
}

func (o object) get(k string) []byte {
	for _, f := range o {
		if f.k == k {
			return f.v
		}
	}
	return nil
}

// str decodes a string property; "" when absent or not a string.
func (o object) str(k string) string {
	var s string
	_ = json.Unmarshal(o.get(k), &s)
	return s
}

func (o object) clone() object { return append(object(nil), o...) }

// alwaysSelected properties are returned whatever $select says, as Graph
// always returns id and the OData annotations.
func alwaysSelected(k string) bool {
	return k == "id" || strings.HasPrefix(k, "@odata.")
}

// encode appends the object as JSON. keep, when non-nil, restricts the
// properties (lower-cased names) to those it reports. idOff/idEnd locate
// the id value within the output, for id substitution.
func (o object) encode(dst []byte, keep func(string) bool) (out []byte, idOff, idEnd int) {
	dst = append(dst, '{')
	first := true
	idOff, idEnd = -1, -1
	for _, f := range o {
		if keep != nil && !alwaysSelected(f.k) && !keep(strings.ToLower(f.k)) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, f.k...)
		dst = append(dst, '"', ':')
		if f.k == "id" {
			idOff = len(dst)
		}
		dst = append(dst, f.v...)
		if f.k == "id" {
			idEnd = len(dst)
		}
	}
	return append(dst, '}'), idOff, idEnd
}

// encodeShared encodes o like encode(nil, nil) and points o's values into
// the encoding, so that an entry holds its properties once: the encoding
// serves pages, and the fields, slices of it, serve $select and partial
// updates. Holding both copies doubled the memory of every stored message.
// The encoding is sized exactly, so no later append moves it under the
// fields, and capped, so no append can write into it.
func (o object) encodeShared() (out []byte, idOff, idEnd int) {
	size := 2 + max(len(o)-1, 0)
	for _, f := range o {
		size += len(f.k) + 3 + len(f.v)
	}
	out = make([]byte, 0, size)
	out = append(out, '{')
	idOff, idEnd = -1, -1
	for i, f := range o {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, f.k...)
		out = append(out, '"', ':')
		start := len(out)
		out = append(out, f.v...)
		o[i].v = out[start:len(out):len(out)]
		if f.k == "id" {
			idOff, idEnd = start, len(out)
		}
	}
	out = append(out, '}')
	return out[:len(out):len(out)], idOff, idEnd
}

// selectSet parses $select into lower-cased property names; nil when absent.
func selectSet(s string) map[string]bool {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	m := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			m[p] = true
		}
	}
	return m
}

var jsonUnmarshal = json.Unmarshal
