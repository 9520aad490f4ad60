package sysctl_test

import (
	"testing"

	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/sysctl"
)

func TestFixtures(t *testing.T) { fixture.Run(t, sysctl.Type()) }
