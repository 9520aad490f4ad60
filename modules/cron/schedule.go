package cron

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	gocron "github.com/netresearch/go-cron"
)

// Schedules are checked with github.com/netresearch/go-cron, the
// maintained fork of robfig/cron (whose last release is from 2020): it
// has regular releases, no dependencies, a fuzzed parser, and errors that
// name the bad value ("end of range (61) above maximum (59)").
// adhocore/gronx, the other maintained candidate, only answers valid or
// not, keeps its @tags in a package-level map, and accepts tags cron does
// not know (@5minutes). Parsing a schedule does not run anything: only
// the parser of the library is used.
//
// The parser takes the five standard fields and none of the extensions
// (seconds, years, L, W, #, H), which vixie cron, cronie and busybox crond
// all refuse. It is immutable once built.
var parser = gocron.MustNewParser(gocron.Minute | gocron.Hour | gocron.Dom | gocron.Month | gocron.Dow)

// macros are the @ schedules of crontab(5) that vixie cron, cronie and
// busybox crond (FEATURE_CROND_SPECIAL_TIMES) all accept. go-cron knows
// them except @reboot, which is not a time; they are checked here so the
// parser's own @every is not let through.
var macros = []string{"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// fieldRE is the shape of a field cron itself accepts: a comma list of
// *, a value or a range of values, each with an optional /step. go-cron
// is more lenient (?, empty list elements, a TZ= prefix), which cron would
// reject only when the crontab is installed; the values and ranges are
// left to go-cron.
var fieldRE = regexp.MustCompile(`^(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/[0-9]+)?)*$`)

// fieldNames name the five fields, for errors.
var fieldNames = []string{"minute", "hour", "day of month", "month", "day of week"}

// parseSchedule checks s and returns it normalised: one space between
// fields, as the entry is written.
func parseSchedule(s string) (string, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return "", fmt.Errorf("is empty")
	}
	if strings.HasPrefix(fields[0], "@") {
		if len(fields) != 1 || !slices.Contains(macros, fields[0]) {
			return "", fmt.Errorf("%q is not a cron schedule: an @ schedule is one of %s, alone", s, strings.Join(macros, ", "))
		}
		return fields[0], nil
	}
	for i, f := range fields {
		if i >= len(fieldNames) {
			break // the parser counts the fields
		}
		if !fieldRE.MatchString(f) {
			return "", fmt.Errorf("%q is not a cron schedule: %s field %q is not a list of *, values or ranges, each with an optional /step", s, fieldNames[i], f)
		}
		if i < 3 && strings.ContainsFunc(f, isLetter) {
			return "", fmt.Errorf("%q is not a cron schedule: %s field %q takes numbers only", s, fieldNames[i], f)
		}
	}
	norm := strings.Join(fields, " ")
	if _, err := parser.Parse(norm); err != nil {
		return "", fmt.Errorf("%q is not a cron schedule: %v", s, err)
	}
	return norm, nil
}

func isLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
