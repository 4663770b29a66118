package jsonscan

import (
	"slices"
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
