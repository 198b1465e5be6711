// Command coredns is upstream CoreDNS (same as its own main package) with the
// default plugin set, built from the Go module proxy.
package main

import (
	_ "github.com/coredns/coredns/core/plugin" // all standard plugins
	"github.com/coredns/coredns/coremain"
)

func main() { coremain.Run() }
