package changes_test

import (
	"testing"

	"github.com/graphsync/graphsync/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }
