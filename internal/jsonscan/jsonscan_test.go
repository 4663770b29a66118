package jsonscan

import (
	"slices"
	"strings"
	"testing"
)

func TestElements(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		ok   bool
	}{
		{`[]`, nil, true},
		{` [ 1 , "a,]" , {"x":[2,3]} , null ] `, []string{`1`, `"a,]"`, `{"x":[2,3]}`, `null`}, true},
		{`["\"]"]`, []string{`"\"]"`}, true},
		{`{"a":1}`, nil, false},
		{`[1,2`, []string{`1`, `2`}, false},
		{``, nil, false},
	} {
		var got []string
		ok := Elements([]byte(c.in), func(e []byte) bool {
			got = append(got, string(e))
			return true
		})
		if ok != c.ok || !slices.Equal(got, c.want) {
			t.Errorf("Elements(%s) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if Elements([]byte(`[1,2]`), func([]byte) bool { return false }) {
		t.Error("Elements went on after fn stopped it")
	}
}

func TestTooDeep(t *testing.T) {
	nest := func(n int, inner string) []byte {
		return []byte(strings.Repeat("[", n) + inner + strings.Repeat("]", n))
	}
	for _, c := range []struct {
		b    []byte
		want bool
	}{
		{nest(MaxDepth, "1"), false},
		{nest(MaxDepth+1, "1"), true},
		{nest(MaxDepth-1, `"`+strings.Repeat(`[\"`, MaxDepth)+`"`), false}, // brackets inside a string do not nest
		{[]byte(`"` + strings.Repeat("{", 3*MaxDepth) + `"`), false},
		{[]byte("[" + strings.Repeat("[1],", MaxDepth) + "[1]]"), false},
	} {
		if got := TooDeep(c.b); got != c.want {
			t.Errorf("TooDeep(%.40s...) = %v, want %v", c.b, got, c.want)
		}
	}
}
