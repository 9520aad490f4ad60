package stack

import (
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// graph is a dependency graph over names (layers, locals, resources):
// an edge from a to b means a uses b, written at rng.
type graph struct {
	nodes []string // in declaration order, which keeps the output stable
	edges map[string][]edge
}

type edge struct {
	to  string
	rng hcl.Range
}

func (g *graph) edge(from, to string, rng hcl.Range) {
	if g.edges == nil {
		g.edges = map[string][]edge{}
	}
	g.edges[from] = append(g.edges[from], edge{to: to, rng: rng})
}

// sccs returns the strongly connected components (Tarjan), each one
// after every component it uses: dependencies first.
func (g *graph) sccs() [][]string {
	index := map[string]int{}
	low := map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	var out [][]string
	var visit func(n string)
	visit = func(n string) {
		index[n] = len(index)
		low[n] = index[n]
		stack = append(stack, n)
		onStack[n] = true
		for _, e := range g.edges[n] {
			if _, seen := index[e.to]; !seen {
				visit(e.to)
				low[n] = min(low[n], low[e.to])
			} else if onStack[e.to] {
				low[n] = min(low[n], index[e.to])
			}
		}
		if low[n] == index[n] {
			var comp []string
			for {
				m := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[m] = false
				comp = append(comp, m)
				if m == n {
					break
				}
			}
			out = append(out, comp)
		}
	}
	for _, n := range g.nodes {
		if _, seen := index[n]; !seen {
			visit(n)
		}
	}
	return out
}

// topo returns the nodes, each after the nodes it uses (nodes of a cycle
// in no particular order among themselves).
func (g *graph) topo() []string {
	var out []string
	for _, c := range g.sccs() {
		out = append(out, c...)
	}
	return out
}

// cycle is one concrete cycle: nodes[0] uses nodes[1] ... uses nodes[0],
// the first use written at rng.
type cycle struct {
	nodes []string
	rng   hcl.Range
}

// path writes the cycle as "a → b → a", each name after prefix.
func (c cycle) path(prefix string) string {
	var b strings.Builder
	for _, n := range append(c.nodes, c.nodes[0]) {
		if b.Len() > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(prefix + n)
	}
	return b.String()
}

// cycles returns one concrete cycle per cyclic component: the shortest
// one through the component's first-declared node.
func (g *graph) cycles() []cycle {
	pos := map[string]int{}
	for i, n := range g.nodes {
		pos[n] = i
	}
	var out []cycle
	for _, comp := range g.sccs() {
		in := map[string]bool{}
		start := comp[0]
		for _, n := range comp {
			in[n] = true
			if pos[n] < pos[start] {
				start = n
			}
		}
		// Breadth-first from start, inside the component, back to start.
		type step struct {
			prev string
			via  edge
		}
		from := map[string]step{}
		queue := []string{start}
		found := false
		for len(queue) > 0 && !found {
			n := queue[0]
			queue = queue[1:]
			for _, e := range g.edges[n] {
				if !in[e.to] {
					continue
				}
				if e.to == start {
					from[start] = step{prev: n, via: e}
					found = true
					break
				}
				if _, seen := from[e.to]; !seen {
					from[e.to] = step{prev: n, via: e}
					queue = append(queue, e.to)
				}
			}
		}
		if !found {
			continue // a single node that does not use itself
		}
		var rev []string
		var first edge
		for n := start; ; {
			st := from[n]
			rev = append(rev, st.prev)
			first = st.via
			if st.prev == start {
				break
			}
			n = st.prev
		}
		c := cycle{rng: first.rng}
		for i := len(rev) - 1; i >= 0; i-- {
			c.nodes = append(c.nodes, rev[i])
		}
		out = append(out, c)
	}
	return out
}
