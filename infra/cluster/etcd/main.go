// Command etcd is upstream etcd's server, built from the Go module proxy
// (`go install go.etcd.io/etcd/server/v3` fails on etcd's replace directives).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
