package user_test

import (
	"testing"

	"github.com/opsrun/opsrun/modules/internal/fixture"
	"github.com/opsrun/opsrun/modules/user"
)

func TestFixtures(t *testing.T) { fixture.Run(t, user.Type()) }
