// Command pause is the pod sandbox ("infra") container's process: it holds the
// pod's namespaces, reaps zombie children (it is PID 1 when the pod shares its
// PID namespace) and exits 0 on SIGTERM/SIGINT. The upstream image cannot be
// pulled here, so cluster.sh builds this statically and imports it under the
// name containerd's sandbox_image gives.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("polyrpc-pause 1")
		return
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
