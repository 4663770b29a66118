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

// TestReadmeListsEveryCommand keeps README.md's command table and
// `graphsync help` complete: every command and subcommand has its row.
func TestReadmeListsEveryCommand(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(line, "| `graphsync") {
			rows = append(rows, line)
		}
	}
	has := func(cmd string) bool {
		for _, r := range rows {
			if strings.HasPrefix(r, "| `"+cmd+"`") || strings.HasPrefix(r, "| `"+cmd+" ") || strings.Contains(r, "/ `"+cmd) {
				return true
			}
		}
		return false
	}
	code, help, errOut := runWith(t, nil, "help")
	wantCode(t, code, 0, help, errOut)
	for _, c := range commands {
		if len(c.subs) == 0 && !has("graphsync "+c.name) {
			t.Errorf("README.md's command table has no row for graphsync %s", c.name)
		}
		for _, sub := range c.subs {
			if !has("graphsync " + c.name + " " + sub) {
				t.Errorf("README.md's command table has no row for graphsync %s %s", c.name, sub)
			}
			if !strings.Contains(help, sub) {
				t.Errorf("graphsync help does not list %s %s", c.name, sub)
			}
		}
	}
	if !has("graphsync-demo") {
		t.Error("README.md's command table has no row for the demo, graphsync-demo")
	}
}
