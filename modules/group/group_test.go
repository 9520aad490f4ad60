package group_test

import (
	"testing"

	"github.com/opsrun/opsrun/modules/group"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func TestFixtures(t *testing.T) { fixture.Run(t, group.Type()) }
