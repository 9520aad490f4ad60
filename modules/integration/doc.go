// Package integration proves the resource library on a real host: every
// resource type converges a testenv Debian host through the whole engine
// (load, compile, probe, plan, run over SSH), then a second run changes
// nothing, check mode changes nothing, and state = "absent" removes what
// the first run made. It holds only tests; the fixture tests of each type
// (facts in, actions out, every OS family) live beside the type.
package integration
