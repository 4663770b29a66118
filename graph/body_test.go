package graph

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// readBody returns exactly the body whatever Content-Length announced, and
// a body cut short as io.ErrUnexpectedEOF, which is retried as truncated.
func TestReadBody(t *testing.T) {
	t.Parallel()
	const body = `{"value":[]}`
	for _, tc := range []struct {
		name string
		size int64
		want string
		err  error
	}{
		{"exact", int64(len(body)), body, nil},
		{"unknown length", -1, body, nil},
		{"longer than announced", 4, body, nil},
		{"cut short", int64(len(body)) + 10, body, io.ErrUnexpectedEOF},
		{"empty", 0, "", nil},
	} {
		r := strings.NewReader(body)
		if tc.name == "empty" {
			r = strings.NewReader("")
		}
		got, err := readBody(r, tc.size)
		if !errors.Is(err, tc.err) || (err == nil && string(got) != tc.want) {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.err)
		}
	}
}
