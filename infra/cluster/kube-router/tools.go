//go:build tools

// Package tools records, for `go mod tidy`, the dependencies of kube-router's
// command, which cluster.sh builds by package path
// (github.com/cloudnativelabs/kube-router/v2/cmd/kube-router): it runs on the
// host as the NetworkPolicy enforcer only (--run-firewall).
package tools

import (
	_ "github.com/cloudnativelabs/kube-router/v2/pkg/cmd"
	_ "github.com/cloudnativelabs/kube-router/v2/pkg/options"
	_ "github.com/cloudnativelabs/kube-router/v2/pkg/version"
	_ "github.com/spf13/pflag"
	_ "k8s.io/klog/v2"
)
