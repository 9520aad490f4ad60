package main

import (
	"github.com/spf13/cobra"

	"github.com/opsrun/opsrun/modules/docs"
	"github.com/opsrun/opsrun/modules/registry"
)

// NewCmdDoc builds `opsrun doc [TYPE]`.
func NewCmdDoc(f *Factory) *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "doc [TYPE]",
		Short: "List the resource types, or show one type's arguments",
		Long: "Without TYPE, lists every resource type, one per line, name first. With TYPE, prints its\n" +
			"arguments with their type, default and an example, then the arguments every resource takes.",
		Example: "  opsrun doc\n  opsrun doc file",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := registry.Builtin()
			switch {
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
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print every type as docs/resources.md")
	_ = cmd.Flags().MarkHidden("markdown")
	return cmd
}
