package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opsrun/opsrun/testenv/awsapi"
)

// rdsStackDir writes a stack with one static host in layer app and a
// layer db that is the RDS DB instance shop-db.
func rdsStackDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := `
stack "shop" {}
layer "db" {
  rds {
    identifier = "shop-db"
  }
}
layer "app" {}
host "app1" {
  address = "192.0.2.10"
  layers  = ["app"]
}
`
	if err := os.WriteFile(filepath.Join(dir, "stack.hcl"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func serveShopDB(t *testing.T) {
	t.Helper()
	srv := awsapi.New(nil)
	srv.AddDBInstance(awsapi.DBInstance{Identifier: "shop-db", Engine: "postgres", EngineVersion: "16.3", DBName: "shop",
		MasterUsername: "shopadmin", Address: "shop-db.abc123.us-east-1.rds.amazonaws.com", Port: 5432})
	awsapi.Serve(t, srv)
}

func TestInventoryListsRDSLayers(t *testing.T) {
	serveShopDB(t)
	dir := rdsStackDir(t)

	code, out, errOut := mainIn("inventory", dir)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := [][]string{
		{"NAME", "ADDRESS", "PORT", "USER", "LAYERS"},
		{"app1", "192.0.2.10", "-", "-", "app"},
		{},
		{"RDS", "ENDPOINT", "PORT", "ENGINE", "VERSION", "STATUS", "LAYER"},
		{"shop-db", "shop-db.abc123.us-east-1.rds.amazonaws.com", "5432", "postgres", "16.3", "available", "db"},
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(want) {
		t.Fatalf("output:\n%s", out)
	}
	for i, l := range lines {
		if got := strings.Fields(l); !slices.Equal(got, want[i]) {
			t.Errorf("line %d = %q, want %q", i, got, want[i])
		}
	}

	code, out, errOut = mainIn("inventory", dir, "-o", "json")
	if code != ExitOK {
		t.Fatalf("json: exit %d: %s", code, errOut)
	}
	var entries []struct {
		Kind    string
		Name    string
		Address string
		Port    int
		User    string
		Layers  []string
		Vars    map[string]any
	}
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("not one JSON array: %v\n%s", err, out)
	}
	if len(entries) != 2 || entries[0].Kind != "host" || entries[0].Name != "app1" {
		t.Fatalf("entries = %+v", entries)
	}
	db := entries[1]
	if db.Kind != "rds" || db.Name != "shop-db" || db.Address != "shop-db.abc123.us-east-1.rds.amazonaws.com" || db.Port != 5432 || db.User != "" ||
		!slices.Equal(db.Layers, []string{"db"}) || db.Vars["engine"] != "postgres" || db.Vars["port"] != float64(5432) || db.Vars["db_name"] != "shop" {
		t.Errorf("rds entry = %+v", db)
	}
}

func TestInventoryMissingRDSInstance(t *testing.T) {
	awsapi.Serve(t, awsapi.New(nil))
	dir := rdsStackDir(t)
	code, out, errOut := mainIn("inventory", dir)
	want := filepath.Join(dir, "stack.hcl") + `:4: layer "db": rds "shop-db": no such RDS DB instance in region us-east-1`
	if code != ExitError || !strings.Contains(errOut, want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || out != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing printed and one line containing %q", code, out, errOut, want)
	}
}
