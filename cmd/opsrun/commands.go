package main

import "github.com/spf13/cobra"

// addCommands registers every subcommand beside version. One line a command.
func addCommands(root *cobra.Command, f *Factory) {
	root.AddCommand(NewCmdExec(f, nil))
	root.AddCommand(NewCmdValidate(f, nil))
	root.AddCommand(NewCmdInventory(f, nil))
	root.AddCommand(NewCmdRun(f, true, nil))
	root.AddCommand(NewCmdRun(f, false, nil))
	root.AddCommand(NewCmdTestenv(f))
	root.AddCommand(NewCmdDoc(f))
	root.AddCommand(NewCmdHistory(f, nil))
	root.AddCommand(NewCmdUnlock(f, nil))
	root.AddCommand(NewCmdUp(f, nil))
	root.AddCommand(NewCmdDeploy(f, nil))
	root.AddCommand(NewCmdRollback(f, nil))
	root.AddCommand(NewCmdUndeploy(f, nil))
	root.AddCommand(NewCmdReleases(f, nil))
	root.AddCommand(NewCmdWatch(f, nil))
}
