package cron_test

import (
	"testing"

	"github.com/opsrun/opsrun/modules/cron"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func TestFixtures(t *testing.T) { fixture.Run(t, cron.Type()) }
