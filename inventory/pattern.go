package inventory

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// ErrNoMatch is returned when a host pattern selects no host.
var ErrNoMatch = errors.New("pattern matches no host")

// Select returns the hosts a pattern names, in inventory order.
//
// A pattern is a comma-separated list of terms, read left to right as
// Ansible users expect: a plain term adds the hosts whose name, or one of
// whose layers, matches it (shell glob: *, ?, [..]); "!term" removes them;
// "&term" keeps only hosts that also match. "all" and "*" match every host;
// an empty pattern means all.
func (inv *Inventory) Select(pattern string) ([]*Host, error) {
	pattern = strings.TrimSpace(pattern)
	if pattern == "" {
		pattern = "all"
	}
	selected := make(map[*Host]bool)
	first := true
	for _, raw := range strings.Split(pattern, ",") {
		term := strings.TrimSpace(raw)
		op := byte('+')
		if term != "" && (term[0] == '!' || term[0] == '&') {
			op, term = term[0], strings.TrimSpace(term[1:])
		}
		if term == "" {
			return nil, fmt.Errorf("host pattern %q has an empty term; separate terms with single commas", pattern)
		}
		if _, err := path.Match(term, ""); err != nil {
			return nil, fmt.Errorf("host pattern term %q is not a valid glob: %w", term, err)
		}
		matched := inv.matchTerm(term)
		if len(matched) == 0 && !hasMeta(term) {
			return nil, fmt.Errorf("host pattern term %q names no host and no layer; %s: %w", term, inv.describe(), ErrNoMatch)
		}
		switch op {
		case '+':
			for _, h := range matched {
				selected[h] = true
			}
		case '!':
			if first {
				// "!db" alone means every host but db, as in Ansible.
				for _, h := range inv.Hosts {
					selected[h] = true
				}
			}
			for _, h := range matched {
				delete(selected, h)
			}
		case '&':
			keep := make(map[*Host]bool, len(matched))
			for _, h := range matched {
				keep[h] = true
			}
			for h := range selected {
				if !keep[h] {
					delete(selected, h)
				}
			}
		}
		first = false
	}
	var out []*Host
	for _, h := range inv.Hosts {
		if selected[h] {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("host pattern %q selects no host; %s: %w", pattern, inv.describe(), ErrNoMatch)
	}
	return out, nil
}

func (inv *Inventory) matchTerm(term string) []*Host {
	var out []*Host
	for _, h := range inv.Hosts {
		if term == "all" || globMatch(term, h.Name) {
			out = append(out, h)
			continue
		}
		for _, l := range h.Layers {
			if globMatch(term, l) {
				out = append(out, h)
				break
			}
		}
	}
	return out
}

func globMatch(pattern, s string) bool {
	ok, err := path.Match(pattern, s)
	return err == nil && ok
}

func hasMeta(s string) bool { return strings.ContainsAny(s, "*?[") }

// describe lists what a pattern could have named, so the error says what to
// type instead; long inventories are cut short.
func (inv *Inventory) describe() string {
	if len(inv.Hosts) == 0 {
		return "the inventory has no hosts"
	}
	names := make([]string, 0, len(inv.Hosts))
	for _, h := range inv.Hosts {
		names = append(names, h.Name)
	}
	const max = 8
	more := ""
	if len(names) > max {
		more = fmt.Sprintf(" (and %d more)", len(names)-max)
		names = names[:max]
	}
	s := "hosts: " + strings.Join(names, ", ") + more
	if ls := inv.Layers(); len(ls) > 0 {
		s += "; layers: " + strings.Join(ls, ", ")
	}
	return s
}
