package packages_test

import (
	"testing"

	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/packages"
)

func TestFixtures(t *testing.T) { fixture.Run(t, packages.Type()) }
