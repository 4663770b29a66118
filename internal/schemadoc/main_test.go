package main

import (
	"os"
	"strings"
	"testing"

	"github.com/graphsync/graphsync/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Every table and column graphsync creates says what it holds: the schema
// is an interface analytics teams and apps build on.
func TestEveryTableAndColumnIsDocumented(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	rels, err := relations(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) < 5 {
		t.Fatalf("only %d tables found; the migrations did not run", len(rels))
	}
	if missing := undocumented(rels); len(missing) > 0 {
		t.Fatalf("without a COMMENT in the migrations:\n  %s", strings.Join(missing, "\n  "))
	}
}

// docs/schema.md is what `make schema` generates from the migrations.
func TestSchemaDocIsCurrent(t *testing.T) {
	pool := pgtest.Pool(t, pgtest.NewMigrated(t))
	want, err := generate(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../docs/schema.md")
	if err != nil {
		t.Fatalf("read docs/schema.md: %v (run make schema)", err)
	}
	if string(got) != want {
		t.Fatal("docs/schema.md is out of date with the migrations: run make schema")
	}
}
