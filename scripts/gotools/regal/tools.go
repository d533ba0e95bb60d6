//go:build tools

// Package tools pins regal: `go install github.com/styrainc/regal@version`
// fails on the module proxy's deprecation lookup, so it is built from this
// module's go.sum instead.
package tools

import _ "github.com/styrainc/regal"
