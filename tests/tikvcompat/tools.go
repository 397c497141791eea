//go:build tools

package tikvcompat

import _ "github.com/pingcap/go-ycsb/cmd/go-ycsb"
