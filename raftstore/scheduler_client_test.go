package raftstore_test

import (
	schedclient "github.com/regionkv/regionkv/scheduler/client"

	"github.com/regionkv/regionkv/raftstore"
)

// The real scheduler client satisfies the store's narrow interface.
var _ raftstore.SchedulerClient = schedclient.Client(nil)
