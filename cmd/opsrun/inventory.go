package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	"github.com/opsrun/opsrun/engine/run"
	"github.com/opsrun/opsrun/inventory"
	rdsinv "github.com/opsrun/opsrun/inventory/rds"
)

// InventoryOptions are `opsrun inventory`'s inputs.
type InventoryOptions struct {
	StackOptions
	Output string
}

// NewCmdInventory builds `opsrun inventory`: the hosts a run would see,
// static and dynamic (EC2) alike.
func NewCmdInventory(f *Factory, runF func(*InventoryOptions) error) *cobra.Command {
	opts := &InventoryOptions{StackOptions: StackOptions{f: f}}
	cmd := &cobra.Command{
		Use:   "inventory [DIR]",
		Short: "List the stack's hosts, static and dynamic (EC2), with their layers",
		Long: `Resolve the hosts of the stack in DIR (default: the current directory):
its host blocks, the -i inventory files and its inventory "ec2" blocks, asked
of EC2 with the AWS SDK's standard configuration (environment, profiles,
SSO, IMDS). Print each host's name, address, port, user and layers, or with
--output json one array of objects that also carry the host's vars.
The DB instances of rds layers, asked of RDS the same way, follow in a
table headed RDS (in JSON: objects of kind "rds"); they are not hosts and
opsrun never connects to them.`,
		Example: `  opsrun inventory examples/ec2
  opsrun inventory -o json | jq -r '.[] | select(.layers | index("web")) | .address'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.IO, opts.Dir = f.IO, stackDir(args)
			if opts.Output != "text" && opts.Output != "json" {
				return usageError(fmt.Sprintf("--output must be text or json, not %q", opts.Output))
			}
			if runF != nil {
				return runF(opts)
			}
			return inventoryRun(cmd.Context(), opts)
		},
	}
	opts.flags(cmd)
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "text", "output: text, or json")
	return cmd
}

// inventoryHost is one host in `opsrun inventory -o json`, or the DB
// instance of an rds layer (kind "rds", after the hosts; it has no user
// and opsrun never connects to it). Port and user are omitted when the
// inventory leaves them to ssh_config.
type inventoryHost struct {
	Kind    string                  `json:"kind"` // "host" or "rds"
	Name    string                  `json:"name"`
	Address string                  `json:"address"`
	Port    int                     `json:"port,omitempty"`
	User    string                  `json:"user,omitempty"`
	Layers  []string                `json:"layers"`
	Vars    ctyjson.SimpleJSONValue `json:"vars"`
}

func inventoryRun(ctx context.Context, opts *InventoryOptions) error {
	l, err := opts.loadAll(ctx)
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		out := make([]inventoryHost, 0, len(l.hosts))
		for _, h := range l.hosts {
			vars := cty.EmptyObjectVal
			if len(h.Vars) > 0 {
				vars = cty.ObjectVal(h.Vars)
			}
			if vars.ContainsMarked() {
				// Sensitive values never reach the output.
				vars = cty.EmptyObjectVal
			}
			out = append(out, inventoryHost{Kind: "host", Name: h.Name, Address: h.Addr(), Port: h.Port, User: h.User, Layers: nonNil(h.Layers), Vars: ctyjson.SimpleJSONValue{Value: vars}})
		}
		for _, db := range l.rds {
			out = append(out, inventoryHost{Kind: "rds", Name: db.Identifier, Address: db.Address, Port: db.Port, Layers: []string{db.Layer}, Vars: ctyjson.SimpleJSONValue{Value: cty.ObjectVal(db.Vars())}})
		}
		enc := json.NewEncoder(opts.IO.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(l.hosts) == 0 {
		fmt.Fprintf(opts.IO.Out, "The stack at %s has no hosts.\n", opts.Dir)
		return writeRDS(opts.IO.Out, l.rds)
	}
	tw := tabwriter.NewWriter(opts.IO.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tPORT\tUSER\tLAYERS")
	for _, h := range l.hosts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, h.Addr(), orDash(portString(h)), orDash(h.User), orDash(strings.Join(h.Layers, ",")))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeRDS(opts.IO.Out, l.rds)
}

// writeRDS prints the rds layers' DB instances, if any, after a blank
// line in a table of their own headed RDS: they are not hosts (no user,
// never connected to).
func writeRDS(w io.Writer, dbs []*rdsinv.Instance) error {
	if len(dbs) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RDS\tENDPOINT\tPORT\tENGINE\tVERSION\tSTATUS\tLAYER")
	for _, db := range dbs {
		port := ""
		if db.Port != 0 {
			port = strconv.Itoa(db.Port)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", db.Identifier, orDash(db.Address), orDash(port), orDash(db.Engine), orDash(db.EngineVersion), orDash(db.Status), db.Layer)
	}
	return tw.Flush()
}

func portString(h *inventory.Host) string {
	if h.Port == 0 {
		return ""
	}
	return strconv.Itoa(h.Port)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// loadAll is load plus the hosts of the stack's dynamic inventories and
// the DB instances of its rds layers, for commands that reach hosts;
// validate stays with load and calls no cloud API.
func (o *StackOptions) loadAll(ctx context.Context) (*loaded, error) {
	l, err := o.load()
	if err != nil {
		return nil, err
	}
	var log *slog.Logger // nil: DynamicHosts logs nowhere
	if o.f != nil {
		log = o.f.Logger
	}
	hosts, err := run.DynamicHosts(ctx, l.stack, l.hosts, log)
	if err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	l.static, l.hosts = l.hosts, hosts
	if l.rds, err = run.ResolveRDS(ctx, l.stack, l.hosts, log); err != nil {
		return nil, &exitError{code: ExitError, err: err}
	}
	return l, nil
}
