package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/graphsync/graphsync/internal/config"
)

// TestReadmeListsEveryVar keeps README.md's configuration table complete: every
// setting in config.Vars must have its row, with its variable and flag.
func TestReadmeListsEveryVar(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `") {
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			rows[name] = line
		}
	}
	var table bytes.Buffer
	writeVarsTable(&table)
	for _, v := range config.Vars {
		line, ok := rows[v.Env]
		if !ok {
			t.Errorf("README.md's configuration table has no row for %s; regenerate it with `go run ./cmd/graphsync config vars`", v.Env)
			continue
		}
		if !strings.Contains(line, "`--"+v.Flag+"`") {
			t.Errorf("README.md's row for %s does not name its flag --%s: %s", v.Env, v.Flag, line)
		}
	}
	if !bytes.Contains(readme, table.Bytes()) {
		t.Logf("README.md's configuration table differs from `go run ./cmd/graphsync config vars`; consider regenerating it")
	}
}
