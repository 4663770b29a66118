package identity_test

import (
	"github.com/graphsync/graphsync/graphsync"
)

func mailScopes() []string { return graphsync.DelegatedScopes([]*graphsync.Resource{graphsync.Mail}) }
