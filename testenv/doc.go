// Package testenv brings up disposable fleets of real Linux hosts in Docker
// containers, for tests, benchmarks and `opsrun testenv`.
//
// No image registry is reachable where opsrun is built and tested, so the
// host image is made here, offline, from a Debian rootfs (debootstrap) and
// cached by a tag derived from the recipe (see EnsureImage). A fleet is a
// Docker network plus one container per host, every host with its own SSH
// host key; Up writes next to it everything a client needs to connect with
// strict host key checking: an inventory.hcl for opsrun, an ssh_config for
// OpenSSH, known_hosts and the client key.
//
// Tests use New, which skips (or fails, under OPSRUN_REQUIRE_DOCKER=1) when
// Docker is unavailable and removes the fleet when the test ends.
package testenv
