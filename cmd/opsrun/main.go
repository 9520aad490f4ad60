// Command opsrun is an agentless SSH push-mode stack orchestrator.
package main

import "os"

func main() {
	os.Exit(int(Main(os.Args[1:], SystemIO())))
}
