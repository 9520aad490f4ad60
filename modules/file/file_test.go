package file_test

import (
	"testing"

	"github.com/opsrun/opsrun/modules/file"
	"github.com/opsrun/opsrun/modules/internal/fixture"
)

func TestFixtures(t *testing.T) { fixture.Run(t, file.Type()) }
