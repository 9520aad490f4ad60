package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/modules/docs"
	"github.com/opsrun/opsrun/modules/registry"
)

// NewCmdDoc builds `opsrun doc [TYPE]` and `opsrun doc layers|layer NAME`.
func NewCmdDoc(f *Factory) *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "doc [TYPE | layers | layer NAME]",
		Short: "Document the resource types and the built-in layers",
		Long: "Without arguments, lists every resource type, one per line, name first. With TYPE, prints its\n" +
			"arguments with their type, default and an example, then the arguments every resource takes.\n" +
			"`doc layers` lists the built-in layers, one per line, name first; `doc layer NAME` prints one's\n" +
			"settings with their defaults, what it does on each lifecycle event, and how to extend it.",
		Example: "  opsrun doc\n  opsrun doc file\n  opsrun doc layers\n  opsrun doc layer haproxy",
		Args:    cobra.MaximumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := registry.Builtin()
			if len(args) > 0 && (args[0] == "layers" || args[0] == "layer") {
				return docLayers(f, args, markdown)
			}
			switch {
			case len(args) > 1:
				return usageError("doc takes one resource type, or layers, or layer NAME")
			case markdown:
				return docs.Markdown(f.IO.Out, reg)
			case len(args) == 0:
				return docs.List(f.IO.Out, reg)
			}
			t, err := docs.Lookup(reg, args[0])
			if err != nil {
				return &exitError{code: ExitError, err: err}
			}
			return docs.Type(f.IO.Out, t)
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print every type as docs/resources.md (with layers: docs/layers.md)")
	_ = cmd.Flags().MarkHidden("markdown")
	return cmd
}

func docLayers(f *Factory, args []string, markdown bool) error {
	set, err := builtinLayers(registry.Builtin())
	if err != nil {
		return err
	}
	switch {
	case args[0] == "layers" && len(args) == 1 && markdown:
		return set.Markdown(f.IO.Out)
	case args[0] == "layers" && len(args) == 1:
		return set.List(f.IO.Out)
	case args[0] == "layer" && len(args) == 2:
		d, ok := set.Doc(args[1])
		if !ok {
			return &exitError{code: ExitError, err: fmt.Errorf("no built-in layer %q; opsrun doc layers lists them: %v", args[1], set.Names())}
		}
		return d.Text(f.IO.Out)
	}
	return usageError("use opsrun doc layers, or opsrun doc layer NAME")
}
