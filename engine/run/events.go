package run

import "time"

// Event types, in the order a run emits them.
const (
	TypeRunStart = "run_start"
	// TypePhase starts one step of a command made of several runs
	// (opsrun up, deploy, rollback, undeploy): which event it runs, on how
	// many hosts, and why.
	TypePhase     = "phase"
	TypeTask      = "task"
	TypeHostRecap = "host_recap"
	TypeRunEnd    = "run_end"
)

// Task statuses.
const (
	StatusOK      = "ok"      // already right, nothing to do
	StatusChanged = "changed" // changed (or, in check mode, would change)
	StatusFailed  = "failed"
	StatusSkipped = "skipped" // only_if/not_if, or the host/layer stopped before it
	StatusIgnored = "ignored" // failed, but ignore_errors let the host go on
)

// Event is one thing that happened in a run, as printed by
// `opsrun run --output json` (one object per line). Fields not relevant to
// the event's Type are left empty.
type Event struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`

	// run_start
	RunID string `json:"run_id,omitempty"`
	Stack string `json:"stack,omitempty"`
	Event string `json:"event,omitempty"`
	Check bool   `json:"check,omitempty"`
	Hosts int    `json:"hosts,omitempty"`
	// Message says what a phase does ("setup on 2 new instances: app-2,
	// app-3"), or how a multi-step command ended.
	Message string `json:"message,omitempty"`

	// task
	Host     string   `json:"host,omitempty"`
	Layer    string   `json:"layer,omitempty"`
	Resource string   `json:"resource,omitempty"`
	Handler  bool     `json:"handler,omitempty"`
	Status   string   `json:"status,omitempty"`
	Actions  []string `json:"actions,omitempty"`
	Diffs    []string `json:"diffs,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	Error    string   `json:"error,omitempty"`
	// Output is the end of what the resource's commands printed, for
	// types whose commands are the user's own (command, script).
	Output string `json:"output,omitempty"`
	// Attempts is how many times the resource was tried, when retries
	// made it more than once.
	Attempts int `json:"attempts,omitempty"`

	// host_recap (Counts of one host) and run_end (totals)
	*Counts `json:",omitempty"`

	DurationMS int64 `json:"duration_ms,omitempty"`
}

// Counts are the recap numbers. Unreachable counts hosts; the others count
// tasks.
type Counts struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Failed      int `json:"failed"`
	Skipped     int `json:"skipped"`
	Ignored     int `json:"ignored"`
	Unreachable int `json:"unreachable"`
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.OK += o.OK
	c.Changed += o.Changed
	c.Failed += o.Failed
	c.Skipped += o.Skipped
	c.Ignored += o.Ignored
	c.Unreachable += o.Unreachable
}

func (c *Counts) count(status string) {
	switch status {
	case StatusOK:
		c.OK++
	case StatusChanged:
		c.Changed++
	case StatusFailed:
		c.Failed++
	case StatusSkipped:
		c.Skipped++
	case StatusIgnored:
		c.Ignored++
	}
}
